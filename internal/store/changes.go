package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// ChangeKind names what changed.
type ChangeKind string

const (
	// TokenRevoked is a token revocation; Key is the hex SHA-256 of the
	// token, or "" when any token may have been revoked.
	TokenRevoked ChangeKind = "token"
	// PackageChanged is any change to a package (publish, dist-tag,
	// deprecation, owners, access, unpublish); Key is its name, or "" when
	// any package may have changed.
	PackageChanged ChangeKind = "package"
	// UserChanged is a change to an account that a cached credential holds
	// (its email); Key is the user's ID, or "" when any user may have changed.
	UserChanged ChangeKind = "user"
	// UplinkChanged is a change to what is cached of a package served from
	// an uplink (a new document, a tarball dropped); Key is its name,
	// "@scope/" for every name of a scope (ScopeTaken), or "" when any may
	// have changed.
	UplinkChanged ChangeKind = "uplink"
	// AnyChange means that changes may have been missed (the feed has just
	// started, or lost its connection and got it back): anything kept in
	// memory may be stale.
	AnyChange ChangeKind = "any"
)

// ScopeTaken is the change of a scope that has just become local (a user
// or an organization of that name was created): no name in it may be
// served from an uplink any more, so whatever of it was cached goes.
func ScopeTaken(scope string) Change {
	return Change{Kind: UplinkChanged, Key: "@" + scope + "/"}
}

// counter is the name of the row of the counters table that kind bumps, ""
// for AnyChange (which is never published).
func (k ChangeKind) counter() string {
	switch k {
	case TokenRevoked:
		return "revocations"
	case PackageChanged:
		return "packages"
	case UserChanged:
		return "users"
	case UplinkChanged:
		return "uplinks"
	}
	return ""
}

// kindOfCounter is the inverse of ChangeKind.counter; an unknown counter
// stands for AnyChange.
func kindOfCounter(name string) ChangeKind {
	for _, k := range []ChangeKind{TokenRevoked, PackageChanged, UserChanged, UplinkChanged} {
		if k.counter() == name {
			return k
		}
	}
	return AnyChange
}

// Change is one committed change that memory caches must hear of.
type Change struct {
	Kind ChangeKind
	// Key names what changed (see the kinds); "" means any of the kind.
	Key string
	// Own is set when the Store whose Feed delivers the change committed
	// it itself (in InTx): a subscriber that applied the change at once
	// when it made it may ignore it, and keep what it cached since. Own
	// changes always name their Key, on SQLite too.
	Own bool
}

// changeChannel is the PostgreSQL notification channel of changes.
const changeChannel = "gatehouse_changes"

// payload is the notification of c, its counter having been bumped to
// seq: "kind#seq:key".
func (c Change) payload(seq int64) string {
	head := string(c.Kind) + "#" + strconv.FormatInt(seq, 10)
	if c.Key == "" {
		return head
	}
	return head + ":" + c.Key
}

// parseChange reads a notification payload, with the value its counter
// was bumped to (0 when the payload does not say, as an older gatehouse's
// "kind:key" does not); anything unreadable is AnyChange.
func parseChange(payload string) (Change, int64) {
	head, key, _ := strings.Cut(payload, ":")
	kind, num, _ := strings.Cut(head, "#")
	seq, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		seq = 0
	}
	switch k := ChangeKind(kind); k {
	case TokenRevoked, PackageChanged, UserChanged, UplinkChanged:
		return Change{Kind: k, Key: key}, seq
	}
	return Change{Kind: AnyChange}, 0
}

// Changes tells subscribers about changes committed by any process sharing
// the database: this one, other nodes, the admin command line.
type Changes interface {
	// Subscribe calls fn with every change until cancel is called. Calls
	// come one at a time, from one goroutine, in commit order; fn must be
	// quick (drop an entry, bump a generation) and must not subscribe or
	// cancel.
	Subscribe(fn func(Change)) (cancel func())
}

// Publish records change c in the transaction q runs in: it bumps the
// change's counter and, on PostgreSQL, sends a notification, which every
// listening node receives when the transaction commits and never when it
// rolls back. Every change that a node may hold in memory goes through it.
//
// In a transaction (InTx) the change is remembered as this Store's own, so
// that its Feed delivers it marked Own; outside one it is delivered as if
// another process had made it.
func (q Queries) Publish(ctx context.Context, c Change) error {
	counter := c.Kind.counter()
	if counter == "" {
		return fmt.Errorf("publish change: kind %q cannot be published", c.Kind)
	}
	var seq int64
	if err := q.row(ctx, `UPDATE counters SET value = value + 1 WHERE name = ? RETURNING value`, counter).Scan(&seq); err != nil {
		return fmt.Errorf("publish change %s: %w", c.Kind, q.d.mapError(err))
	}
	if err := q.d.notify(ctx, q.r, c.payload(seq)); err != nil {
		return fmt.Errorf("publish change %s: %w", c.Kind, q.d.mapError(err))
	}
	if q.pub != nil {
		*q.pub = append(*q.pub, published{change: Change{Kind: c.Kind, Key: c.Key, Own: true}, counter: counter, seq: seq})
	}
	return nil
}

// Timings of a Feed.
const (
	// feedPollEvery is how often the counters are read when there is no
	// notification to wait for: always on SQLite, and on PostgreSQL while
	// the listener connection is down.
	feedPollEvery = 250 * time.Millisecond
	// feedHeartbeat is how long the listener waits without hearing anything
	// before it pings its connection, and feedPingTimeout how long the ping
	// may take: a connection that died silently is noticed within their
	// sum, after which the counters are polled.
	feedHeartbeat   = 500 * time.Millisecond
	feedPingTimeout = 500 * time.Millisecond
	// feedConnectTimeout bounds one attempt to connect and LISTEN.
	feedConnectTimeout = 5 * time.Second
	// Reconnection attempts back off from feedMinBackoff to feedMaxBackoff.
	feedMinBackoff = 100 * time.Millisecond
	feedMaxBackoff = 5 * time.Second
)

// Feed is the Changes of one Store. On PostgreSQL it holds one connection of
// its own (outside the pool) that LISTENs for the notifications Publish
// sends; when that connection is lost it tells subscribers AnyChange, polls
// the counters until it has reconnected, and tells AnyChange again once it
// listens (notifications sent meanwhile are lost). On SQLite, which one
// process owns apart from an admin command run beside it, it polls the
// counters. Subscribers that drop what they hold on AnyChange thus never
// serve a change later than the next notification, or the next poll.
type Feed struct {
	st  *Store
	log *slog.Logger

	mu     sync.Mutex
	subs   map[uint64]func(Change)
	nextID uint64

	ctx     context.Context
	stop    context.CancelFunc
	started sync.Once
	done    chan struct{}
}

// NewFeed returns a feed of the changes committed to st. It delivers nothing
// before Start; Close stops it.
func NewFeed(st *Store, log *slog.Logger) *Feed {
	ctx, stop := context.WithCancel(context.Background())
	return &Feed{st: st, log: log, subs: map[uint64]func(Change){}, ctx: ctx, stop: stop, done: make(chan struct{})}
}

// Start begins following changes, once: the first delivery, to the
// subscribers of the moment, is AnyChange.
func (f *Feed) Start() {
	f.started.Do(func() {
		go func() {
			defer close(f.done)
			if f.st.listen != nil {
				f.listen(f.ctx)
			} else {
				f.pollForever(f.ctx)
			}
		}()
	})
}

// Subscribe implements Changes.
func (f *Feed) Subscribe(fn func(Change)) (cancel func()) {
	f.mu.Lock()
	id := f.nextID
	f.nextID++
	f.subs[id] = fn
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		delete(f.subs, id)
		f.mu.Unlock()
	}
}

// Close stops the feed and waits for it to let go of its connection.
func (f *Feed) Close() error {
	f.stop()
	f.started.Do(func() { close(f.done) }) // never started: nothing to wait for
	<-f.done
	return nil
}

// deliver hands c to every subscriber.
func (f *Feed) deliver(c Change) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, fn := range f.subs {
		fn(c)
	}
}

// counterPoll remembers the counters as last read.
type counterPoll struct {
	values map[string]int64 // nil: no good reading since the last failure
}

// pollOnce reads the counters and delivers a change for each that moved. The
// first good reading after none (at start, after a failure, after the
// listener was lost) delivers AnyChange after it is taken, so that a change
// committed in between shows as a moved counter next time. A failed reading
// delivers AnyChange: without the counters, nothing kept can be trusted.
func (f *Feed) pollOnce(ctx context.Context, p *counterPoll) {
	values, err := f.st.readCounters(ctx)
	if err != nil {
		if ctx.Err() == nil {
			f.log.Debug("change feed: reading the counters failed", slog.Any("error", err))
		}
		p.values = nil
		f.deliver(Change{Kind: AnyChange})
		return
	}
	if p.values == nil {
		p.values = values
		f.deliver(Change{Kind: AnyChange})
		return
	}
	for name, v := range values {
		if was := p.values[name]; was != v {
			f.deliverMoved(ctx, name, was, v)
		}
	}
	p.values = values
}

// deliverMoved tells subscribers that counter moved from was to now: when
// this store committed every change in between, each of them, marked Own
// and naming its key; otherwise one change of the counter's kind, naming
// nothing (another process's changes are known only by the count).
func (f *Feed) deliverMoved(ctx context.Context, counter string, was, now int64) {
	kind := kindOfCounter(counter)
	if now <= was || now-was > maxOwnChanges {
		f.st.own.forgetUpTo(counter, now)
		f.deliver(Change{Kind: kind})
		return
	}
	own := make([]Change, 0, now-was)
	for seq := was + 1; seq <= now; seq++ {
		if c, ok := f.st.own.take(ctx, counter, seq); ok {
			own = append(own, c)
		}
	}
	if len(own) != int(now-was) {
		f.deliver(Change{Kind: kind})
		return
	}
	for _, c := range own {
		f.deliver(c)
	}
}

// notified delivers the change a notification tells of, marked Own when
// this store committed it.
func (f *Feed) notified(ctx context.Context, payload string) {
	c, seq := parseChange(payload)
	if seq > 0 && c.Kind != AnyChange {
		if own, ok := f.st.own.take(ctx, c.Kind.counter(), seq); ok {
			c = own
		}
	}
	f.deliver(c)
}

// pollFor polls the counters every feedPollEvery for d (forever when d is 0),
// or until ctx is done.
func (f *Feed) pollFor(ctx context.Context, p *counterPoll, d time.Duration) {
	var until <-chan time.Time
	if d > 0 {
		timer := time.NewTimer(d)
		defer timer.Stop()
		until = timer.C
	}
	tick := time.NewTicker(feedPollEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-until:
			return
		case <-tick.C:
			f.pollOnce(ctx, p)
		}
	}
}

func (f *Feed) pollForever(ctx context.Context) {
	var p counterPoll
	f.pollOnce(ctx, &p)
	f.pollFor(ctx, &p, 0)
}

// listen keeps a LISTEN connection up, falling back to polling while it is
// down.
func (f *Feed) listen(ctx context.Context) {
	var p counterPoll
	backoff := time.Duration(0)
	warned := false
	for ctx.Err() == nil {
		if backoff > 0 {
			f.pollFor(ctx, &p, backoff)
			if ctx.Err() != nil {
				return
			}
		}
		conn, err := f.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !warned {
				f.log.Warn("change listener cannot connect: polling the change counters until it can",
					slog.Any("error", err))
				warned = true
			}
			if p.values == nil {
				f.pollOnce(ctx, &p)
			}
			backoff = min(max(2*backoff, feedMinBackoff), feedMaxBackoff)
			continue
		}
		// Whatever was committed before LISTEN took effect was not heard.
		f.deliver(Change{Kind: AnyChange})
		if warned {
			f.log.Info("change listener connected again")
			warned = false
		}
		err = f.receive(ctx, conn)
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = conn.Close(closeCtx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		f.log.Warn("change listener lost its connection: polling the change counters until it is back",
			slog.Any("error", err))
		warned = true
		// Read the counters before telling AnyChange, so that nothing
		// committed from here on goes unseen.
		p.values = nil
		f.pollOnce(ctx, &p)
		backoff = feedMinBackoff
	}
}

// connect opens the listener's own connection and LISTENs on it.
func (f *Feed) connect(ctx context.Context) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, feedConnectTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, f.st.listen.Copy())
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+changeChannel); err != nil {
		_ = conn.Close(context.Background())
		return nil, fmt.Errorf("listen: %w", err)
	}
	return conn, nil
}

// receive delivers notifications until the connection fails or ctx is done.
// After feedHeartbeat without a notification it pings the connection, so a
// connection that died without a word is noticed.
func (f *Feed) receive(ctx context.Context, conn *pgx.Conn) error {
	for {
		wait, cancel := context.WithTimeout(ctx, feedHeartbeat)
		n, err := conn.WaitForNotification(wait)
		idle := wait.Err() != nil
		cancel()
		if err == nil {
			f.notified(ctx, n.Payload)
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !idle || conn.IsClosed() {
			return fmt.Errorf("wait for notification: %w", err)
		}
		ping, cancel := context.WithTimeout(ctx, feedPingTimeout)
		err = conn.Ping(ping)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("ping: %w", err)
		}
	}
}

// readCounters reads every change counter.
func (s *Store) readCounters(ctx context.Context) (map[string]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, value FROM counters`)
	if err != nil {
		return nil, fmt.Errorf("read counters: %w", s.d.mapError(err))
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var name string
		var v int64
		if err := rows.Scan(&name, &v); err != nil {
			return nil, fmt.Errorf("read counters: %w", err)
		}
		out[name] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read counters: %w", err)
	}
	if len(out) == 0 {
		return nil, errors.New("read counters: the counters table is empty")
	}
	return out, nil
}
