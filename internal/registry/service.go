// Package registry holds packages: publishing and its checks, versions,
// dist-tags, owners, deprecation, unpublishing, search, and the prebuilt
// packuments that installs read.
package registry

import (
	"context"
	"strings"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/blob"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// TwoFactor enforces two-factor authentication on package changes
// (implemented by the account service).
type TwoFactor interface {
	// RequireOTP returns nil when p may do op without (or with the given) OTP;
	// pkg is the package's 2FA setting, for publishes.
	RequireOTP(ctx context.Context, p *auth.Principal, op policy.OTPOp, pkg *store.PackageMFA) error
	// ChallengeOTP answers as RequireOTP would for op (without a package's
	// setting) but checks no one-time password: nil when none is needed or
	// one came with the request (RequireOTP checks it later, once), the
	// challenge when one is needed and none came. It refuses a request
	// before its body is read.
	ChallengeOTP(ctx context.Context, p *auth.Principal, op policy.OTPOp) error
}

// tarballCacheBytes bounds the memory kept for tarballs' bytes.
const tarballCacheBytes = 24 << 20

// Service is the package registry.
type Service struct {
	store *store.Store
	blobs *blob.Store
	tfa   TwoFactor
	now   func() time.Time
	docs  *docCache
	// names knows which names have no package, so that their reads need
	// no store read.
	names *knownNames
	// absentEntry is what cached returns for a name names says has no
	// package: the same fact as a cached missing entry, neither read from
	// the store nor kept in the cache. Never changed.
	absentEntry *docEntry
	// tarballs keeps small tarballs' bytes, by content address.
	tarballs *blob.Cache
	obs      Observer
	// spoolDir is where a publish's tarball is written while it is read.
	spoolDir string
	// proxy serves the names that are not local from uplinks; nil when
	// there are none (UseUplinks).
	proxy *proxy
	// signer signs new versions (see SetSigner); nil leaves them unsigned,
	// on the signing backlog.
	signer Signer
	// readAccess is who may read the registry (SetReadAccess): every read
	// asks policy with it, the uplinks' packages' too.
	readAccess policy.ReadAccess
	audit      audit.Recorder
}

// SetReadAccess sets who may read the registry (the setting read_access):
// policy.PublicReads, the default, or policy.AuthenticatedReads, a private
// registry. Call it before serving.
func (s *Service) SetReadAccess(m policy.ReadAccess) { s.readAccess = m }

// MayRead returns nil when p may read the registry at all (a 401 on a
// private registry to an anonymous caller): the gate of every read, asked
// before the name is looked up, and of the website's pages.
func (s *Service) MayRead(p *auth.Principal) error { return policy.DecideRegistryRead(p, s.readAccess) }

// NewService returns the registry over a metadata store and a blob store,
// with tfa enforcing two-factor authentication on writes; changes tells it
// of packages changed by other processes, whose packuments it drops; obs,
// if not nil, hears publishes and cache look-ups; rec, if not nil, records
// every package change in the audit log.
func NewService(s *store.Store, b *blob.Store, tfa TwoFactor, changes store.Changes, now func() time.Time, obs Observer,
	rec audit.Recorder) *Service {
	if now == nil {
		now = time.Now
	}
	if obs == nil {
		obs = silentObserver{}
	}
	if rec == nil {
		rec = audit.Discard{}
	}
	docs := newDocCache(DefaultCacheBytes)
	docs.follow(changes)
	// Built when the feed starts (its first change is AnyChange); until
	// then every name may exist.
	names := newKnownNames(s.Q().PackageNames)
	names.follow(changes)
	return &Service{store: s, blobs: b, tfa: tfa, now: now, docs: docs, names: names,
		absentEntry: &docEntry{missing: true},
		tarballs:    blob.NewCache(tarballCacheBytes, maxKeptTarball), obs: obs, audit: rec}
}

// record writes p's event a on package pkg, for a change, in the change's
// transaction q.
func (s *Service) record(ctx context.Context, q store.Queries, p *auth.Principal, a audit.Action, t audit.Target, detail string) error {
	return s.audit.Record(ctx, q, audit.Event{Action: a, Actor: audit.ActorOf(p), Target: t, Detail: detail})
}

// refused notes that a by p on package name was refused, when *errp is a
// refusal the audit log keeps (audit.RefusalOf).
func (s *Service) refused(ctx context.Context, p *auth.Principal, a audit.Action, name string, errp *error) {
	if !p.Authenticated() {
		// An anonymous client is only ever told to log in: nothing about
		// an account to record, and recording it would let anyone spend
		// the refusals' budget for nothing (docs/audit.md).
		return
	}
	reason, ok := audit.RefusalOf(*errp, auth.OTP(ctx) != "")
	if !ok {
		return
	}
	s.audit.Refused(ctx, audit.Event{Action: a, Actor: audit.ActorOf(p), Target: audit.Target{Package: name}, Reason: reason})
}

// Changed makes the documents kept in memory stale, after a change to
// packages committed outside the registry's own writes (an account
// deleted, see HandOver).
func (s *Service) Changed() { s.docs.changed() }

// SetCacheBytes bounds the in-memory document cache (packuments, package
// rows, versions' blob keys) to n bytes as it counts them; call it before
// serving. The default is DefaultCacheBytes.
func (s *Service) SetCacheBytes(n int) {
	s.docs.mu.Lock()
	s.docs.setBound(n)
	s.docs.mu.Unlock()
	if s.proxy != nil {
		s.proxy.mem.setBound(n)
	}
}

// CacheUse reports what the document cache holds: entries, bytes as it
// counts them, and its bound in bytes.
func (s *Service) CacheUse() (entries, bytes, limit int) { return s.docs.size() }

// write runs fn in one transaction that also publishes a change of package
// name (for the other nodes' packuments), and, once it has committed, makes
// what is kept in memory of it stale. fn must change no package but name;
// an empty name is any package (every package's entries go stale). Every
// change to a package goes through it.
func (s *Service) write(ctx context.Context, name string, fn func(q store.Queries) error) error {
	err := s.store.InTx(ctx, func(q store.Queries) error {
		if err := fn(q); err != nil {
			return err
		}
		return q.Publish(ctx, store.Change{Kind: store.PackageChanged, Key: name})
	})
	// Even a failed transaction may have raced a reader; staleness is cheap.
	s.docs.changedPackage(name)
	if err == nil && name != "" {
		// The package may be new; the filter of known names must hear of
		// it before the write returns (see knownNames).
		s.names.add(name)
	}
	return err
}

// change is the skeleton of every write to a package that exists. First,
// before any write transaction opens, the preflight: p may do a to the
// package and has answered the two-factor challenge op needs (OTP checks
// write to the database, so they cannot run inside another write
// transaction). Then one write transaction reloads the package, decides a
// again on the fresh row, runs fn on it and, when fn reports that it changed
// what the package's documents show, rebuilds them.
//
// A refusal is noted in the audit log as act (fn records the change's own
// events).
func (s *Service) change(ctx context.Context, p *auth.Principal, name string, a policy.Action, op policy.OTPOp, act audit.Action,
	fn func(q store.Queries, pkg store.Package) (rebuild bool, err error)) (err error) {
	defer s.refused(ctx, p, act, name, &err)
	if _, err := s.loadFor(ctx, s.store.Q(), p, name, a); err != nil {
		return err
	}
	if err := s.tfa.RequireOTP(ctx, p, op, nil); err != nil {
		return err
	}
	return s.write(ctx, name, func(q store.Queries) error {
		pkg, err := s.loadFor(ctx, q, p, name, a)
		if err != nil {
			return err
		}
		rebuild, err := fn(q, pkg)
		if err != nil || !rebuild {
			return err
		}
		return s.rebuild(ctx, q, pkg, s.now().UnixMilli())
	})
}

// checkRev refuses a change sent for revision rev ("" when none was given)
// of a package that has changed since.
func checkRev(rev string, pkg store.Package) error {
	if rev != "" && !sameRev(rev, revString(pkg)) {
		return fault.Conflictf("Document update conflict: the package changed since revision %s; fetch it again", rev)
	}
	return nil
}

// sameRev reports whether revision a, as a client sent it, names revision b;
// a bare change counter ("3") matches any revision with that counter.
func sameRev(a, b string) bool {
	na, _, _ := strings.Cut(a, "-")
	nb, _, _ := strings.Cut(b, "-")
	return a == b || (na == nb && !strings.Contains(a, "-"))
}

// facts gathers what policy needs to know about pkg and principal p: the
// user's current rights, read fresh on every request.
func (s *Service) facts(ctx context.Context, q store.Queries, p *auth.Principal, pkg store.Package) (policy.Package, error) {
	f := policy.Package{Name: pkg.Name, Scope: pkg.Scope, Exists: true, Restricted: pkg.Access == store.Restricted,
		ReadAccess: s.readAccess}
	if !p.Authenticated() {
		return f, nil
	}
	r, err := q.Rights(ctx, pkg.ID, pkg.Scope, p.UserID)
	if err != nil {
		return f, err
	}
	f.UserIsOwner, f.OrgRole, f.TeamPermission = r.Owner, r.OrgRole, r.TeamPermission
	return f, nil
}

// newPackageFacts is what policy needs for publishing a name that does not exist yet.
func (s *Service) newPackageFacts(ctx context.Context, q store.Queries, p *auth.Principal, name, scope string) (policy.Package, error) {
	f := policy.Package{Name: name, Scope: scope, ReadAccess: s.readAccess}
	if scope != "" && p.Authenticated() {
		role, err := q.ScopeRole(ctx, scope, p.UserID)
		if err != nil {
			return f, err
		}
		f.OrgRole = role
	}
	return f, nil
}

// loadFor reads a package's row and checks that p may do a to it. A package
// that does not exist is NotFound, like one p may not see.
func (s *Service) loadFor(ctx context.Context, q store.Queries, p *auth.Principal, name string, a policy.Action) (store.Package, error) {
	pkg, err := q.PackageByName(ctx, name)
	if err != nil {
		if !fault.Is(err, fault.NotFound) {
			return store.Package{}, err
		}
		// A change to a package cached from an uplink is refused, naming it.
		if s.proxy != nil && policy.IsWrite(a) {
			f, proxied, err := s.proxy.proxiedFacts(ctx, q, name)
			if err != nil {
				return store.Package{}, err
			}
			if proxied {
				return store.Package{}, policy.Decide(p, a, f)
			}
		}
		return store.Package{}, policy.Decide(p, a, policy.Package{Name: name, Exists: false, ReadAccess: s.readAccess})
	}
	return pkg, s.decide(ctx, q, p, pkg, a)
}

// decide asks policy whether p may do a on pkg, from the facts the store
// holds about them.
func (s *Service) decide(ctx context.Context, q store.Queries, p *auth.Principal, pkg store.Package, a policy.Action) error {
	f, err := s.facts(ctx, q, p, pkg)
	if err != nil {
		return err
	}
	return policy.Decide(p, a, f)
}

// rebuild bumps the package's revision and rebuilds its documents from its
// rows; it runs inside the transaction that changed them.
func (s *Service) rebuild(ctx context.Context, q store.Queries, pkg store.Package, now int64) error {
	versions, err := q.Versions(ctx, pkg.ID)
	if err != nil {
		return err
	}
	return saveVersions(ctx, q, pkg, now, versions)
}

// saveVersions saves the documents built from versions, the package's
// version rows as they stand in this transaction, with its dist-tags and
// owners read here.
func saveVersions(ctx context.Context, q store.Queries, pkg store.Package, now int64, versions []store.Version) error {
	tags, err := q.DistTags(ctx, pkg.ID)
	if err != nil {
		return err
	}
	owners, err := q.Owners(ctx, pkg.ID)
	if err != nil {
		return err
	}
	return saveDocuments(ctx, q, pkg, now, versions, tags, owners)
}

// saveDocuments bumps the package's revision and saves the documents built
// from the given rows, which must be the package's rows as they stand in
// the transaction q runs in.
func saveDocuments(ctx context.Context, q store.Queries, pkg store.Package, now int64,
	versions []store.Version, tags map[string]string, owners []store.Owner) error {
	pkg.Rev++
	pkg.ModifiedAt = now
	docs, err := buildDocuments(pkg, versions, tags, owners)
	if err != nil {
		return err
	}
	pkg.Packument, pkg.Abbreviated = docs.full, docs.abbreviated
	pkg.Description, pkg.Keywords = docs.description, docs.keywords
	return q.SavePackage(ctx, pkg)
}
