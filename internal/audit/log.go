package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/gatehouse-registry/gatehouse/internal/token"
)

// Refusals are written in batches: every flushEvery, each distinct refusal
// noted since (the same action, outcome, reason, actor, address and target)
// becomes one row counting its repeats. At most refusalRows rows a minute
// are written so, and at most clientRows of them for one client address,
// so that one address cannot spend the minute's rows and hide the others'
// refusals. Refusals past either bound, in the same minute, are folded into
// one row per action, target account and address (up to foldedRows such
// rows), and past that into one row per action with no actor, address or
// target, written when the minute ends. A flood of wrong passwords from
// any number of addresses thus adds at most refusalRows + foldedRows rows,
// plus one per action, a minute to the table (docs/audit.md).
const (
	flushEvery  = 10 * time.Second
	refusalRows = 60
	clientRows  = refusalRows / 4
	foldedRows  = 256
	window      = time.Minute
)

// foldKey is what a folded refusal keeps: its action, the account it was
// aimed at, and the address it came from ("" for both in the last fold).
type foldKey struct{ action, user, client string }

// Retention: events older than the retention are deleted every purgeEvery,
// purgeBatch rows per transaction.
const (
	purgeEvery = time.Hour
	purgeBatch = 1000
)

// OverflowReason is the reason of the row that folds together the refusals
// of one action past the per-minute bound.
const OverflowReason = "more refusals than the audit log records one by one in a minute"

// Options configure a Log.
type Options struct {
	// Format is the registry's token format: token strings found in an
	// event's text are masked before it is written.
	Format token.Format
	// Retention is how long events are kept; 0 keeps them forever.
	Retention time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Log hears of failures to write refusals or to purge; nil discards.
	Log *slog.Logger
}

// Log is the audit log of one store: the Recorder the domain services
// write through, and what reads it back. Start runs its background work
// (writing refusals, deleting events past the retention); Close stops it
// after writing what is left.
type Log struct {
	store *store.Store
	opts  Options

	mu          sync.Mutex
	pending     map[store.AuditEvent]*store.AuditEvent // refusals to write, by what makes them the same
	order       []store.AuditEvent                     // pending's keys, in the order first noted
	overflow    map[foldKey]*store.AuditEvent          // refusals past the bounds, folded
	perClient   map[string]int                         // rows of each client address since windowStart, pending or written
	windowStart time.Time
	written     int // refusal rows written since windowStart

	flushMu  sync.Mutex // one flush at a time
	started  sync.Once
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

// New returns the audit log kept in st.
func New(st *store.Store, opts Options) *Log {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Log{store: st, opts: opts, pending: map[store.AuditEvent]*store.AuditEvent{},
		overflow: map[foldKey]*store.AuditEvent{}, perClient: map[string]int{}, windowStart: opts.Now(),
		stop: make(chan struct{}), done: make(chan struct{})}
}

// Record implements Recorder.
func (l *Log) Record(ctx context.Context, q store.Queries, e Event) error {
	row := l.row(ctx, e)
	if row.Outcome == "" {
		row.Outcome = string(Success)
	}
	if _, err := q.InsertAuditEvent(ctx, row); err != nil {
		return fmt.Errorf("audit %s: %w", e.Action, err)
	}
	return nil
}

// Refused implements Recorder.
func (l *Log) Refused(ctx context.Context, e Event) {
	row := l.row(ctx, e)
	row.Outcome, row.Count = string(Failure), 1
	key := row
	key.At, key.LastAt, key.Count, key.RequestID = 0, 0, 0, ""
	l.mu.Lock()
	defer l.mu.Unlock()
	if p, ok := l.pending[key]; ok {
		p.Count++
		p.LastAt = row.At
		return
	}
	if len(l.pending)+l.written < refusalRows && l.perClient[row.ClientIP] < clientRows {
		r := row
		l.pending[key] = &r
		l.order = append(l.order, key)
		l.perClient[row.ClientIP]++
		return
	}
	fk := foldKey{action: row.Action, user: row.TargetUser, client: row.ClientIP}
	if _, ok := l.overflow[fk]; !ok && len(l.overflow) >= foldedRows {
		fk = foldKey{action: row.Action}
	}
	if o, ok := l.overflow[fk]; ok {
		o.Count++
		o.LastAt = row.At
		return
	}
	l.overflow[fk] = &store.AuditEvent{At: row.At, LastAt: row.At, Count: 1, Action: row.Action,
		Outcome: string(Failure), Reason: OverflowReason, TargetUser: fk.user, ClientIP: fk.client}
}

// TokenNewAddress records the use of p's token from ip, an address the
// token was not used from before, in q, the transaction that records the
// address (auth.AddressLog: the authenticator calls it off the request
// path, at most auth.MaxTokenAddresses times a token).
func (l *Log) TokenNewAddress(ctx context.Context, q store.Queries, p auth.Principal, ip netip.Addr, at time.Time) error {
	return l.Record(ctx, q, Event{Time: at, Action: TokenNewAddress, Actor: ActorOf(&p), Client: ip,
		Target: Target{UserID: p.UserID, User: p.UserName, Token: p.TokenKey}})
}

// The authenticator writes a batch's events at once through a Log.
var _ auth.AddressBatchLog = (*Log)(nil)

// TokenNewAddresses records many such uses at once, in their order
// (auth.AddressBatchLog: the authenticator's background writer hands it
// the new addresses of a batch).
func (l *Log) TokenNewAddresses(ctx context.Context, q store.Queries, uses []auth.AddressUse) error {
	if len(uses) == 0 {
		return nil
	}
	rows := make([]store.AuditEvent, len(uses))
	for i, u := range uses {
		rows[i] = l.row(ctx, Event{Time: u.At, Action: TokenNewAddress, Actor: ActorOf(&u.Principal), Client: u.IP,
			Target: Target{UserID: u.Principal.UserID, User: u.Principal.UserName, Token: u.Principal.TokenKey}})
		rows[i].Outcome = string(Success)
	}
	if err := q.InsertAuditEvents(ctx, rows); err != nil {
		return fmt.Errorf("audit %s: %w", TokenNewAddress, err)
	}
	return nil
}

// row turns e into the stored row: the time, address and request id from
// ctx where e has none, token strings masked.
func (l *Log) row(ctx context.Context, e Event) store.AuditEvent {
	if e.Time.IsZero() {
		e.Time = l.opts.Now()
	}
	if !e.Client.IsValid() {
		e.Client = auth.ClientIP(ctx)
	}
	if e.RequestID == "" {
		e.RequestID = RequestID(ctx)
	}
	r := store.AuditEvent{
		At: e.Time.UnixMilli(), LastAt: e.LastTime.UnixMilli(), Count: e.Count,
		Action: string(e.Action), Outcome: string(e.Outcome), Reason: e.Reason,
		ActorID: e.Actor.UserID, ActorName: e.Actor.User, TokenKey: e.Actor.TokenKey, TokenKind: e.Actor.TokenKind,
		OIDCSubject: e.Actor.OIDCSubject, RequestID: e.RequestID,
		TargetUserID: e.Target.UserID, TargetUser: e.Target.User, TargetPackage: e.Target.Package,
		TargetVersion: e.Target.Version, TargetOrg: e.Target.Org, TargetTeam: e.Target.Team,
		TargetToken: e.Target.Token, Detail: e.Detail,
	}
	if e.LastTime.IsZero() {
		r.LastAt = r.At
	}
	if e.Client.IsValid() {
		r.ClientIP = e.Client.Unmap().String()
	}
	for _, f := range []*string{&r.Reason, &r.ActorName, &r.OIDCSubject, &r.RequestID, &r.TargetUser,
		&r.TargetPackage, &r.TargetVersion, &r.TargetOrg, &r.TargetTeam, &r.TargetToken, &r.Detail, &r.TokenKey} {
		*f = l.mask(*f)
	}
	return r
}

// mask replaces every token string of the registry's format in s with its
// masked form. The services never hand a token to the log; this keeps one
// that slipped into a name or a message from being written whole.
func (l *Log) mask(s string) string {
	prefix := l.opts.Format.Prefix()
	if prefix == "" || !strings.Contains(s, prefix) {
		return s
	}
	n := len(l.opts.Format.Prefix()) + 36
	var b strings.Builder
	for {
		i := strings.Index(s, prefix)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		s = s[i:]
		if len(s) >= n && l.opts.Format.Valid(s[:n]) {
			b.WriteString(token.Mask(s[:n]))
			s = s[n:]
			continue
		}
		b.WriteString(prefix)
		s = s[len(prefix):]
	}
}

// Flush writes the refusals noted so far (not the folded ones, which wait
// for their minute to end), so that a read after it shows them.
func (l *Log) Flush(ctx context.Context) error {
	return l.flush(ctx, false)
}

// flush writes the pending refusals and, when the minute is over or final
// is set, the folded ones, in one transaction. Rows that cannot be written
// are dropped (and the failure returned): a refusal is worth a line in the
// log, not a growing backlog.
func (l *Log) flush(ctx context.Context, final bool) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	rows := make([]store.AuditEvent, 0, len(l.order))
	for _, k := range l.order {
		rows = append(rows, *l.pending[k])
	}
	l.written += len(rows)
	l.pending = map[store.AuditEvent]*store.AuditEvent{}
	l.order = nil
	now := l.opts.Now()
	if final || now.Sub(l.windowStart) >= window {
		for _, o := range l.overflow {
			rows = append(rows, *o)
		}
		l.overflow = map[foldKey]*store.AuditEvent{}
		l.perClient = map[string]int{}
		l.windowStart, l.written = now, 0
	}
	l.mu.Unlock()
	if len(rows) == 0 {
		return nil
	}
	return l.store.InTx(ctx, func(q store.Queries) error {
		for _, r := range rows {
			if _, err := q.InsertAuditEvent(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
}

// Purge deletes the events older than the retention (none when it is 0)
// and reports how many it deleted.
func (l *Log) Purge(ctx context.Context) (int64, error) {
	if l.opts.Retention <= 0 {
		return 0, nil
	}
	cutoff := l.opts.Now().Add(-l.opts.Retention).UnixMilli()
	var total int64
	for {
		var n int64
		err := l.store.InTx(ctx, func(q store.Queries) error {
			var err error
			n, err = q.PurgeAuditEvents(ctx, cutoff, purgeBatch)
			return err
		})
		total += n
		if err != nil {
			return total, err
		}
		if n < purgeBatch {
			return total, nil
		}
	}
}

// Start begins the background work, once: refusals are written every
// flushEvery, and events past the retention deleted at start and every
// purgeEvery.
func (l *Log) Start() {
	l.started.Do(func() { go l.run() })
}

func (l *Log) run() {
	defer close(l.done)
	ctx := context.Background()
	l.purgeLogged(ctx)
	flush := time.NewTicker(flushEvery)
	defer flush.Stop()
	purge := time.NewTicker(purgeEvery)
	defer purge.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-flush.C:
			if err := l.flush(ctx, false); err != nil {
				l.opts.Log.Warn("audit log: write refusals", slog.Any("error", err))
			}
		case <-purge.C:
			l.purgeLogged(ctx)
		}
	}
}

func (l *Log) purgeLogged(ctx context.Context) {
	n, err := l.Purge(ctx)
	if err != nil {
		l.opts.Log.Warn("audit log: delete events past the retention", slog.Any("error", err))
	}
	if n > 0 {
		l.opts.Log.Info("audit log: deleted events past the retention", slog.Int64("events", n),
			slog.Duration("retention", l.opts.Retention))
	}
}

// Close stops the background work and writes the refusals still waiting,
// folded ones included.
func (l *Log) Close() error {
	l.stopOnce.Do(func() { close(l.stop) })
	l.started.Do(func() { close(l.done) }) // never started: nothing to wait for
	<-l.done
	err := l.flush(context.Background(), true)
	if err != nil {
		return errors.Join(errors.New("audit log: write refusals on close"), err)
	}
	return nil
}
