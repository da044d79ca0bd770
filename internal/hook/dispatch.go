package hook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/delivery"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// DispatchOptions configure the delivery of events.
type DispatchOptions struct {
	// Poll is how often the audit log and the queue are looked at; 0 means
	// a second.
	Poll time.Duration
	// Workers bounds the deliveries made at once by this node; 0 means 4.
	Workers int
	// RetryBase is the wait before the first retry, doubled after each
	// failure up to RetryMax; 0 means 10 seconds and an hour.
	RetryBase, RetryMax time.Duration
	// GiveUp is how long a delivery is retried before it is given up; 0
	// means 24 hours.
	GiveUp time.Duration
	// Lease is how long a claimed delivery is this node's before another
	// may take it (a node that died); 0 means a minute. It must exceed the
	// client's request timeout.
	Lease time.Duration
	// Keep is how long finished deliveries stay visible; 0 means 30 days.
	Keep time.Duration
}

func (o *DispatchOptions) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Poll, time.Second)
	def(&o.RetryBase, 10*time.Second)
	def(&o.RetryMax, time.Hour)
	def(&o.GiveUp, 24*time.Hour)
	def(&o.Lease, time.Minute)
	def(&o.Keep, 30*24*time.Hour)
	if o.Workers <= 0 {
		o.Workers = 4
	}
}

// feedBatch is how many audit events one pass reads.
const feedBatch = 200

// Dispatcher delivers the events of the audit log to the hooks that watch
// them, off the request path: a publish commits its audit event, and a
// dispatcher (on any node) queues one delivery per matching hook, in a
// transaction that advances the shared cursor, so that an event is queued
// once however many nodes run; each node then claims due deliveries with a
// lease and posts them. Nothing is lost to a restart: the cursor and the
// queue are in the database.
type Dispatcher struct {
	s     *Service
	opts  DispatchOptions
	owner string // this node's lease name

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
	started  sync.Once
}

// NewDispatcher returns the dispatcher of s's hooks.
func (s *Service) NewDispatcher(opts DispatchOptions) *Dispatcher {
	opts.defaults()
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &Dispatcher{s: s, opts: opts, owner: hex.EncodeToString(b[:]), stop: make(chan struct{}), done: make(chan struct{})}
}

// Start begins delivering, once.
func (d *Dispatcher) Start() {
	d.started.Do(func() { go d.run() })
}

// Close stops delivering: the deliveries under way are abandoned, and
// their leases released, so that they are made again later, by this node
// when it starts again or by another at once (at-least-once: a receiver
// may have had one already).
func (d *Dispatcher) Close() error {
	d.stopOnce.Do(func() { close(d.stop) })
	d.started.Do(func() { close(d.done) })
	<-d.done
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return d.s.store.Q().ReleaseLeases(ctx, d.owner)
}

func (d *Dispatcher) run() {
	defer close(d.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-d.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	tick := time.NewTicker(d.opts.Poll)
	defer tick.Stop()
	lastPurge := time.Time{}
	for {
		if err := d.Feed(ctx); err != nil && ctx.Err() == nil {
			d.s.opts.Log.Warn("hooks: queue the audit log's events", slog.Any("error", err))
		}
		for {
			n, err := d.Deliver(ctx)
			if err != nil && ctx.Err() == nil {
				d.s.opts.Log.Warn("hooks: deliver", slog.Any("error", err))
			}
			if n < d.opts.Workers || ctx.Err() != nil {
				break
			}
		}
		if now := d.s.opts.Now(); now.Sub(lastPurge) > time.Hour {
			lastPurge = now
			if _, err := d.s.store.Q().PurgeDeliveries(ctx, now.Add(-d.opts.Keep).UnixMilli(), 1000); err != nil && ctx.Err() == nil {
				d.s.opts.Log.Warn("hooks: delete old deliveries", slog.Any("error", err))
			}
		}
		select {
		case <-d.stop:
			return
		case <-tick.C:
		}
	}
}

// Feed queues the deliveries of the audit events committed since the last
// pass (on any node), and reports an error only when it could not.
func (d *Dispatcher) Feed(ctx context.Context) error {
	for {
		q := d.s.store.Q()
		cursor, err := q.HookCursor(ctx)
		if err != nil {
			return err
		}
		evs, err := q.AuditEventsAfter(ctx, cursor, feedBatch)
		if err != nil || len(evs) == 0 {
			return err
		}
		dropped := 0
		err = d.s.store.InTx(ctx, func(q store.Queries) error {
			ok, err := q.AdvanceHookCursor(ctx, cursor, evs[len(evs)-1].ID)
			if err != nil || !ok {
				return err // another node queued these
			}
			pending, err := q.CountPendingDeliveries(ctx)
			if err != nil {
				return err
			}
			for _, e := range evs {
				name, ok := eventOf[audit.Action(e.Action)]
				if !ok || e.Outcome != string(audit.Success) || e.TargetPackage == "" {
					continue
				}
				scope := ""
				if rest, ok := strings.CutPrefix(e.TargetPackage, "@"); ok {
					scope, _, _ = strings.Cut(rest, "/")
				}
				hooks, err := q.HooksFor(ctx, e.TargetPackage, scope)
				if err != nil {
					return err
				}
				for _, h := range hooks {
					if e.ID <= h.AfterEvent || (h.Events != "" && !strings.Contains(" "+h.Events+" ", " "+name+" ")) {
						continue
					}
					if ok, err := stillWatches(ctx, q, h, e.TargetPackage, scope); err != nil || !ok {
						if err != nil {
							return err
						}
						continue
					}
					if pending >= d.s.opts.MaxQueue {
						dropped++
						continue
					}
					body, err := payload(e, name, h)
					if err != nil {
						return err
					}
					now := d.s.opts.Now().UnixMilli()
					if _, err := q.QueueDelivery(ctx, store.HookDelivery{HookID: h.ID, EventID: e.ID, Event: name,
						Payload: string(body), CreatedAt: now, NextAt: now}); err != nil {
						return err
					}
					pending++
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if dropped > 0 {
			d.s.opts.Log.Warn("hooks: the delivery queue is full; deliveries dropped", slog.Int("dropped", dropped),
				slog.Int("max_queue", d.s.opts.MaxQueue))
		}
		if len(evs) < feedBatch {
			return nil
		}
	}
}

// stillWatches reports whether the maker of hook h may still be told of
// package name of scope: their account is not disabled, and they still
// have the right the hook was made with (an owner of the package or an
// owner or admin of its organization; the user or an owner or admin of the
// scope's organization; an administrator). A package gone (unpublished
// whole) is told to its hooks.
func stillWatches(ctx context.Context, q store.Queries, h store.Hook, name, scope string) (bool, error) {
	u, err := q.UserByID(ctx, h.UserID)
	if err != nil || u.Disabled() {
		return false, err
	}
	orgAdmin := func(r store.Role) bool { return r == store.RoleOwner || r == store.RoleAdmin }
	switch h.Type {
	case store.HookRegistry:
		return u.Admin, nil
	case store.HookScope:
		if h.Name == "@"+u.Name {
			return true, nil
		}
		role, err := q.ScopeRole(ctx, strings.TrimPrefix(h.Name, "@"), u.ID)
		return orgAdmin(role), err
	case store.HookPackage:
		pkg, err := q.PackageByName(ctx, name)
		if fault.Is(err, fault.NotFound) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		r, err := q.Rights(ctx, pkg.ID, pkg.Scope, u.ID)
		return r.Owner || orgAdmin(r.OrgRole), err
	}
	// An owner hook matches only the packages its user owns now.
	return true, nil
}

// Payload is a delivery's body: npm hooks' shape (event, name, type,
// version, hookOwner, payload, change, time), with the event's id and who
// did it beside them.
type Payload struct {
	Event     string         `json:"event"`
	Name      string         `json:"name"`
	Type      string         `json:"type"`
	Version   string         `json:"version,omitempty"`
	HookOwner map[string]any `json:"hookOwner"`
	Payload   map[string]any `json:"payload"`
	Change    map[string]any `json:"change"`
	Time      int64          `json:"time"`
	ID        string         `json:"id"`
	Hook      string         `json:"hookId"`
	Actor     map[string]any `json:"actor"`
}

// payload builds the body of event e (npm's name ename) for hook h.
func payload(e store.AuditEvent, ename string, h store.Hook) ([]byte, error) {
	change := map[string]any{}
	if e.TargetVersion != "" {
		change["version"] = e.TargetVersion
	}
	if e.Detail != "" {
		change["detail"] = e.Detail
	}
	if e.TargetUser != "" {
		change["user"] = e.TargetUser
	}
	b, err := json.Marshal(Payload{Event: ename, Name: e.TargetPackage, Type: "package", Version: e.TargetVersion,
		HookOwner: map[string]any{"username": h.UserName}, Payload: map[string]any{"name": e.TargetPackage},
		Change: change, Time: e.At, ID: strconv.FormatInt(e.ID, 10), Hook: h.ID,
		Actor: map[string]any{"username": e.ActorName}})
	if err != nil {
		return nil, fmt.Errorf("hook payload: %w", err)
	}
	return b, nil
}

// Deliver claims the deliveries due (at most Workers), posts them at once,
// records how each went, and reports how many it claimed.
func (d *Dispatcher) Deliver(ctx context.Context) (int, error) {
	now := d.s.opts.Now()
	claimed, err := d.s.store.Q().ClaimDeliveries(ctx, d.owner, now.UnixMilli(), now.Add(d.opts.Lease).UnixMilli(),
		d.opts.Workers)
	if err != nil || len(claimed) == 0 {
		return 0, err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(claimed))
	for i, dl := range claimed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = d.attempt(ctx, dl)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return len(claimed), err
		}
	}
	return len(claimed), nil
}

// DeliveryHeader names the header carrying a delivery's id (a receiver
// told twice of one event, at-least-once, sees the same event id in the
// body; a redelivery has an id of its own).
const (
	DeliveryHeader = "X-Gatehouse-Delivery"
	EventHeader    = "X-Gatehouse-Event"
)

// attempt posts dl once and records the outcome.
func (d *Dispatcher) attempt(ctx context.Context, dl store.HookDelivery) error {
	q := d.s.store.Q()
	h, err := q.HookByID(ctx, dl.HookID)
	if err != nil {
		return err // deleted meanwhile: its deliveries went with it
	}
	secret, err := d.s.open(h)
	if err != nil {
		return fmt.Errorf("hook %s: open its secret: %w", h.ID, err)
	}
	body := []byte(dl.Payload)
	r := d.s.client.Post(ctx, h.Endpoint, map[string]string{
		delivery.SignatureHeader: delivery.Sign(secret, body),
		DeliveryHeader:           strconv.FormatInt(dl.ID, 10),
		EventHeader:              dl.Event,
	}, body)
	if ctx.Err() != nil {
		return nil // stopping: the lease ends and the delivery is made later
	}
	now := d.s.opts.Now()
	dl.Attempts++
	dl.Status, dl.DurationMS, dl.Response, dl.Error = r.Status, r.Duration.Milliseconds(), r.Excerpt, ""
	switch {
	case r.Err == nil:
		dl.State, dl.FinishedAt = store.DeliveryDelivered, now.UnixMilli()
	case now.Sub(time.UnixMilli(dl.CreatedAt)) >= d.opts.GiveUp:
		dl.State, dl.FinishedAt, dl.Error = store.DeliveryFailed, now.UnixMilli(), r.Err.Error()
	default:
		dl.Error = r.Err.Error()
		dl.NextAt = now.Add(d.backoff(dl.Attempts)).UnixMilli()
	}
	if _, err := q.FinishAttempt(ctx, d.owner, dl, now.UnixMilli()); err != nil {
		return err
	}
	return nil
}

// backoff is the wait after the attempts-th failure.
func (d *Dispatcher) backoff(attempts int) time.Duration {
	w := d.opts.RetryBase
	for i := 1; i < attempts && w < d.opts.RetryMax; i++ {
		w *= 2
	}
	return min(w, d.opts.RetryMax)
}
