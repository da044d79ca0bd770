package auth

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// Last-use records are written in batches, off the request path: a request
// authenticated by a token not used for a minute only notes the use in
// memory, and one transaction a second (or sooner, when many are waiting)
// writes every noted use, and every noted new address with its event, a
// statement per few hundred rows. A request therefore never waits for a
// database write (on SQLite, a commit and its fsync) just to be
// authenticated, and a thousand first uses cost one commit, not a thousand.
//
// The uses waiting are bounded: past maxPendingTouches (the store has not
// kept up for a while), a use is not noted, and its token notes its next
// use instead (touch).
const (
	touchFlushEvery   = time.Second
	touchBatchMax     = 1024 // a flush starts at once when this many are waiting
	maxPendingTouches = 16 * touchBatchMax
)

// toucher holds last uses not yet written, one per token (the newest).
type toucher struct {
	store *store.Store
	log   *slog.Logger

	// addrLog hears of tokens used from new addresses (see address.go);
	// nil records none. Set before the first request.
	addrLog AddressLog

	mu         sync.Mutex
	pending    map[int64]store.Touch
	addresses  map[addressKey]addressNote // uses from addresses not among their token's recent ones
	addressSeq uint64                     // notes taken so far, to keep their order

	// flushMu makes flushes one at a time, so a caller of Flush knows that
	// every use noted before its call is written when it returns.
	flushMu  sync.Mutex
	kick     chan struct{}
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

func newToucher(s *store.Store, log *slog.Logger) *toucher {
	t := &toucher{
		store: s, log: log, pending: map[int64]store.Touch{}, addresses: map[addressKey]addressNote{},
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go t.run()
	return t
}

// note records a use, to be written by the next flush; it reports false,
// noting nothing, when maxPendingTouches other tokens' uses are waiting.
func (t *toucher) note(u store.Touch) bool {
	t.mu.Lock()
	old, ok := t.pending[u.TokenID]
	if !ok && len(t.pending) >= maxPendingTouches {
		t.mu.Unlock()
		return false
	}
	if !ok || old.At < u.At {
		t.pending[u.TokenID] = u
	}
	n := len(t.pending)
	t.mu.Unlock()
	if n >= touchBatchMax {
		t.kickFlush()
	}
	return true
}

// kickFlush starts a flush now, unless one is due already.
func (t *toucher) kickFlush() {
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

func (t *toucher) run() {
	defer close(t.done)
	tick := time.NewTicker(touchFlushEvery)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			t.flushLogged(context.Background())
			return
		case <-tick.C:
		case <-t.kick:
		}
		t.flushLogged(context.Background())
	}
}

func (t *toucher) flushLogged(ctx context.Context) {
	if err := t.flush(ctx); err != nil {
		// A lost last-use record is not worth failing anything for; it is
		// written again on the token's next use after touchEvery.
		t.log.Warn("record token last use", "error", err)
	}
}

// flush writes every noted use, and the noted addresses with their events,
// in one transaction.
func (t *toucher) flush(ctx context.Context) error {
	t.flushMu.Lock()
	defer t.flushMu.Unlock()
	t.mu.Lock()
	batch := make([]store.Touch, 0, len(t.pending))
	for _, u := range t.pending {
		batch = append(batch, u)
	}
	notes := make([]addressNote, 0, len(t.addresses))
	for _, n := range t.addresses {
		notes = append(notes, n)
	}
	t.pending = map[int64]store.Touch{}
	t.addresses = map[addressKey]addressNote{}
	t.mu.Unlock()
	if len(batch) == 0 && len(notes) == 0 {
		return nil
	}
	// Oldest first, so that the events follow the uses.
	slices.SortFunc(notes, func(a, b addressNote) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	var full []*cachedToken
	err := t.store.InTx(ctx, func(q store.Queries) error {
		if err := q.TouchTokens(ctx, batch); err != nil {
			return err
		}
		var err error
		full, err = t.recordAddresses(ctx, q, notes)
		if err != nil {
			return fmt.Errorf("record token addresses: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, c := range full {
		c.mu.Lock()
		c.addressesFull = true
		c.mu.Unlock()
	}
	return nil
}

// close writes what is waiting and stops the background writer.
func (t *toucher) close() {
	t.stopOnce.Do(func() { close(t.stop) })
	<-t.done
}
