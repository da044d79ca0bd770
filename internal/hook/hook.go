// Package hook is webhooks: hooks that owners of a package, a scope or an
// organization (and administrators, for the whole registry) register, and
// the delivery of the package events of the audit log to them, off the
// request path (dispatch.go). The API speaks npm hook's shapes (libnpmhook);
// docs/webhooks.md is the user's guide.
package hook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/delivery"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/keyring"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/registry"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// Events are the events a hook may be told of, npm's names first
// (package:publish ...), then gatehouse's own (staged versions, access).
// Each comes from one action of the audit log.
var eventOf = map[audit.Action]string{
	audit.PackagePublish:   "package:publish",
	audit.PackageUnpublish: "package:unpublish",
	audit.DistTagSet:       "package:dist-tag",
	audit.DistTagRemove:    "package:dist-tag-rm",
	audit.PackageDeprecate: "package:deprecated",
	audit.OwnerAdd:         "package:owner",
	audit.OwnerRemove:      "package:owner-rm",
	audit.PackageStage:     "package:staged",
	audit.AccessChange:     "package:access",
}

// Events lists every event name, in the order of docs/webhooks.md.
func Events() []string {
	return []string{"package:publish", "package:unpublish", "package:dist-tag", "package:dist-tag-rm",
		"package:deprecated", "package:owner", "package:owner-rm", "package:staged", "package:access"}
}

// Bounds.
const (
	// DefaultMaxHooks bounds the hooks one account has.
	DefaultMaxHooks = 100
	// DefaultMaxQueue bounds the deliveries waiting.
	DefaultMaxQueue = 10000
	// MaxSecret bounds a secret, in bytes.
	MaxSecret = 512
	// maxName bounds what a hook watches (npm's bound on package names).
	maxName = 214
	// MaskedSecret is how a secret is shown once made: never again.
	MaskedSecret = "********"
	// maxListed bounds one page of hooks.
	maxListed = 100
	// deliveriesShown is how many of a hook's last deliveries are shown.
	deliveriesShown = 50
)

// Hook is a webhook as the API and the website show it: never its secret.
type Hook struct {
	ID       string
	User     string
	Type     string
	Name     string
	Endpoint string
	// Events lists the events delivered; empty delivers all.
	Events       []string
	Created      time.Time
	Updated      time.Time
	LastDelivery time.Time
	LastStatus   int
	UserID       int64
}

// Request is a new hook, or a change to one.
type Request struct {
	// Type is "package", "scope", "owner" or "registry"; with Name, what
	// the hook watches: a package, "@scope", a user name, or "*".
	Type, Name string
	Endpoint   string
	Secret     string
	// Events restricts the events delivered; nil or empty delivers all.
	Events []string
}

// Options configure a Service.
type Options struct {
	// MaxHooks bounds the hooks of one account; 0 means DefaultMaxHooks.
	MaxHooks int
	// MaxQueue bounds the deliveries waiting, all hooks together; events
	// past it are not queued (and said so in the log), redeliveries are
	// refused; 0 means DefaultMaxQueue.
	MaxQueue int
	Audit    audit.Recorder
	Log      *slog.Logger
	Now      func() time.Time
}

// Service manages hooks and delivers events to them.
type Service struct {
	store    *store.Store
	registry *registry.Service
	client   *delivery.Client
	sealer   *keyring.Sealer
	opts     Options
}

// sealPurpose is the key derivation label of hook secrets.
const sealPurpose = "hook-secret"

// NewService returns the hooks kept in st, their secrets sealed with a key
// of keys, delivered with client.
func NewService(st *store.Store, reg *registry.Service, keys *keyring.Keyring, client *delivery.Client, opts Options) (*Service, error) {
	sealer, err := keys.Sealer(sealPurpose)
	if err != nil {
		return nil, err
	}
	if opts.MaxHooks <= 0 {
		opts.MaxHooks = DefaultMaxHooks
	}
	if opts.MaxQueue <= 0 {
		opts.MaxQueue = DefaultMaxQueue
	}
	if opts.Audit == nil {
		opts.Audit = audit.Discard{}
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{store: st, registry: reg, client: client, sealer: sealer, opts: opts}, nil
}

func (s *Service) seal(id, secret string) ([]byte, error) {
	return s.sealer.Seal([]byte(secret), []byte("hook:"+id))
}

func (s *Service) open(h store.Hook) ([]byte, error) {
	return s.sealer.Open(h.Secret, []byte("hook:"+h.ID))
}

func view(h store.Hook) Hook {
	v := Hook{ID: h.ID, User: h.UserName, UserID: h.UserID, Type: h.Type, Name: h.Name, Endpoint: h.Endpoint,
		Events: strings.Fields(h.Events), Created: time.UnixMilli(h.CreatedAt).UTC(),
		Updated: time.UnixMilli(h.UpdatedAt).UTC(), LastStatus: h.LastStatus}
	if v.Events == nil {
		v.Events = []string{}
	}
	if h.LastDeliveryAt != 0 {
		v.LastDelivery = time.UnixMilli(h.LastDeliveryAt).UTC()
	}
	return v
}

// target checks what a request would watch and whether p may: the
// normalized type and name, or policy's refusal.
func (s *Service) target(ctx context.Context, p *auth.Principal, typ, name string) (string, string, error) {
	if !p.Authenticated() {
		return "", "", auth.ErrAuthRequired()
	}
	if name == "" || len(name) > maxName || strings.ContainsAny(name, " \t\r\n") {
		return "", "", fault.Invalidf("name what the hook watches: a package, @scope or ~user")
	}
	t := policy.HookTarget{Type: typ}
	switch typ {
	case store.HookPackage, "":
		typ = store.HookPackage
		if strings.HasPrefix(name, "~") {
			typ, name = store.HookOwner, name[1:]
			t.Type, t.Name = typ, name
			break
		}
		f, err := s.registry.Facts(ctx, p, name)
		if err != nil {
			return "", "", err
		}
		t.Type, t.Name, t.Package = typ, name, f
	case store.HookScope:
		scope, ok := strings.CutPrefix(name, "@")
		if !ok || scope == "" || strings.Contains(scope, "/") {
			return "", "", fault.Invalidf("a scope hook's name is @scope")
		}
		role, err := s.store.Q().ScopeRole(ctx, scope, p.UserID)
		if err != nil {
			return "", "", err
		}
		t.Name, t.OrgRole = scope, role
	case store.HookOwner:
		name = strings.TrimPrefix(name, "~")
		t.Name = name
	case store.HookRegistry:
		name = "*"
		t.Name = name
	default:
		return "", "", fault.Invalidf("a hook's type is package, scope, owner or registry")
	}
	return typ, name, policy.DecideHook(p, t)
}

// events checks a request's events and returns them as stored.
func events(list []string) (string, error) {
	all := Events()
	var out []string
	for _, e := range list {
		if !slices.Contains(all, e) {
			return "", fault.Invalidf("unknown event %q (the events are %s)", e, strings.Join(all, ", "))
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return strings.Join(out, " "), nil
}

// checkEndpoint and checkSecret bound what a hook is sent to and signed with.
func (s *Service) checkEndpoint(ctx context.Context, endpoint string) error {
	if err := s.client.CheckEndpoint(ctx, endpoint); err != nil {
		return fault.Invalidf("endpoint: %s", err)
	}
	return nil
}

func checkSecret(secret string) error {
	if secret == "" || len(secret) > MaxSecret {
		return fault.Invalidf("a hook needs a secret of 1 to %d bytes, to sign its deliveries", MaxSecret)
	}
	return nil
}

// endpointHost is what the audit log says of an endpoint: its host, not
// its path or query, which may hold a credential of the receiver's.
func endpointHost(endpoint string) string {
	if u, err := url.Parse(endpoint); err == nil {
		return u.Scheme + "://" + u.Host
	}
	return ""
}

func (s *Service) record(ctx context.Context, q store.Queries, p *auth.Principal, a audit.Action, h store.Hook) error {
	t := audit.Target{}
	if h.Type == store.HookPackage {
		t.Package = h.Name
	}
	return s.opts.Audit.Record(ctx, q, audit.Event{Action: a, Actor: audit.ActorOf(p), Target: t,
		Detail: h.ID + " " + h.Type + " " + h.Name + " " + endpointHost(h.Endpoint) + " " + h.Events})
}

// Create adds a hook for p.
func (s *Service) Create(ctx context.Context, p *auth.Principal, req Request) (Hook, error) {
	typ, name, err := s.target(ctx, p, req.Type, req.Name)
	if err != nil {
		return Hook{}, err
	}
	if err := checkSecret(req.Secret); err != nil {
		return Hook{}, err
	}
	evs, err := events(req.Events)
	if err != nil {
		return Hook{}, err
	}
	if err := s.checkEndpoint(ctx, req.Endpoint); err != nil {
		return Hook{}, err
	}
	id, err := newID()
	if err != nil {
		return Hook{}, err
	}
	sealed, err := s.seal(id, req.Secret)
	if err != nil {
		return Hook{}, err
	}
	now := s.opts.Now().UnixMilli()
	h := store.Hook{ID: id, UserID: p.UserID, UserName: p.UserName, Type: typ, Name: name, Endpoint: req.Endpoint,
		Secret: sealed, Events: evs, CreatedAt: now, UpdatedAt: now}
	err = s.store.InTx(ctx, func(q store.Queries) error {
		n, err := q.CountHooks(ctx, store.HookFilter{UserID: p.UserID})
		if err != nil {
			return err
		}
		if n >= s.opts.MaxHooks {
			return fault.Conflictf("an account has at most %d hooks: remove one first", s.opts.MaxHooks)
		}
		if err := q.CreateHook(ctx, h); err != nil {
			return err
		}
		return s.record(ctx, q, p, audit.HookCreate, h)
	})
	if err != nil {
		return Hook{}, err
	}
	s.opts.Log.InfoContext(ctx, "hook added", slog.String("hook", id), slog.String("user", p.UserName),
		slog.String("type", typ), slog.String("name", name), slog.String("endpoint", endpointHost(req.Endpoint)))
	return view(h), nil
}

// ListOptions select hooks.
type ListOptions struct {
	// Name keeps the hooks watching it (a package, "@scope", an owner).
	Name string
	// All lists every account's hooks (administrators only).
	All           bool
	Limit, Offset int
}

// List returns a page of p's hooks (every account's, for an administrator
// asking for all) and how many there are.
func (s *Service) List(ctx context.Context, p *auth.Principal, o ListOptions) ([]Hook, int, error) {
	if !p.Authenticated() {
		return nil, 0, auth.ErrAuthRequired()
	}
	f := store.HookFilter{UserID: p.UserID, Name: strings.TrimPrefix(o.Name, "~"), Limit: o.Limit, Offset: o.Offset}
	if o.All {
		if err := policy.DecideAdmin(p, policy.AdminRead); err != nil {
			return nil, 0, err
		}
		f.UserID = 0
	} else if err := policy.DecideHookManage(p, p.UserID); err != nil {
		return nil, 0, err
	}
	if f.Limit <= 0 || f.Limit > maxListed {
		f.Limit = maxListed
	}
	f.Offset = max(f.Offset, 0)
	q := s.store.Q()
	rows, err := q.Hooks(ctx, f)
	if err != nil {
		return nil, 0, err
	}
	total, err := q.CountHooks(ctx, f)
	if err != nil {
		return nil, 0, err
	}
	out := make([]Hook, len(rows))
	for i, h := range rows {
		out[i] = view(h)
	}
	return out, total, nil
}

// load returns hook id when p may manage it; NotFound otherwise, like a
// hook that does not exist.
func (s *Service) load(ctx context.Context, q store.Queries, p *auth.Principal, id string) (store.Hook, error) {
	if !p.Authenticated() {
		return store.Hook{}, auth.ErrAuthRequired()
	}
	h, err := q.HookByID(ctx, id)
	if err != nil {
		return store.Hook{}, err
	}
	return h, policy.DecideHookManage(p, h.UserID)
}

// Get returns hook id.
func (s *Service) Get(ctx context.Context, p *auth.Principal, id string) (Hook, error) {
	h, err := s.load(ctx, s.store.Q(), p, id)
	if err != nil {
		return Hook{}, err
	}
	return view(h), nil
}

// Update sets hook id's endpoint and secret (npm hook update sends both),
// and its events when req.Events is not nil.
func (s *Service) Update(ctx context.Context, p *auth.Principal, id string, req Request) (Hook, error) {
	if _, err := s.load(ctx, s.store.Q(), p, id); err != nil {
		return Hook{}, err
	}
	if err := checkSecret(req.Secret); err != nil {
		return Hook{}, err
	}
	if err := s.checkEndpoint(ctx, req.Endpoint); err != nil {
		return Hook{}, err
	}
	sealed, err := s.seal(id, req.Secret)
	if err != nil {
		return Hook{}, err
	}
	var h store.Hook
	err = s.store.InTx(ctx, func(q store.Queries) error {
		var err error
		if h, err = s.load(ctx, q, p, id); err != nil {
			return err
		}
		evs := h.Events
		if req.Events != nil {
			if evs, err = events(req.Events); err != nil {
				return err
			}
		}
		h.Endpoint, h.Secret, h.Events, h.UpdatedAt = req.Endpoint, sealed, evs, s.opts.Now().UnixMilli()
		if err := q.UpdateHook(ctx, id, h.Endpoint, h.Secret, h.Events, h.UpdatedAt); err != nil {
			return err
		}
		return s.record(ctx, q, p, audit.HookUpdate, h)
	})
	if err != nil {
		return Hook{}, err
	}
	return view(h), nil
}

// Delete removes hook id and returns it as it was.
func (s *Service) Delete(ctx context.Context, p *auth.Principal, id string) (Hook, error) {
	var h store.Hook
	err := s.store.InTx(ctx, func(q store.Queries) error {
		var err error
		if h, err = s.load(ctx, q, p, id); err != nil {
			return err
		}
		if err := q.DeleteHook(ctx, id); err != nil {
			return err
		}
		return s.record(ctx, q, p, audit.HookDelete, h)
	})
	if err != nil {
		return Hook{}, err
	}
	return view(h), nil
}

// Deliveries returns hook id's last deliveries, newest first.
func (s *Service) Deliveries(ctx context.Context, p *auth.Principal, id string) ([]store.HookDelivery, error) {
	if _, err := s.load(ctx, s.store.Q(), p, id); err != nil {
		return nil, err
	}
	return s.store.Q().DeliveriesOf(ctx, id, deliveriesShown)
}

// Redeliver queues delivery deliveryID of hook id again, due now, and
// returns the new delivery's ID.
func (s *Service) Redeliver(ctx context.Context, p *auth.Principal, id string, deliveryID int64) (int64, error) {
	q := s.store.Q()
	if _, err := s.load(ctx, q, p, id); err != nil {
		return 0, err
	}
	d, err := q.DeliveryByID(ctx, deliveryID)
	if err != nil || d.HookID != id {
		return 0, fault.NotFoundf("delivery not found")
	}
	if n, err := q.CountPendingDeliveries(ctx); err != nil {
		return 0, err
	} else if n >= s.opts.MaxQueue {
		return 0, fault.Conflictf("the delivery queue is full (%d waiting): try again later", n)
	}
	now := s.opts.Now().UnixMilli()
	return q.QueueDelivery(ctx, store.HookDelivery{HookID: id, EventID: d.EventID, Event: d.Event, Payload: d.Payload,
		CreatedAt: now, NextAt: now})
}

// newID is a new hook's id: 16 random bytes in hex.
func newID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", errors.Join(errors.New("hook id"), err)
	}
	return hex.EncodeToString(b[:]), nil
}
