package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/gatehouse-registry/gatehouse/internal/uplink"
	"golang.org/x/sync/singleflight"
)

// UplinkOptions say how the registry uses upstream registries.
type UplinkOptions struct {
	// Uplinks are the upstream registries, in order; none serves only
	// local packages.
	Uplinks *uplink.Set
	// AllowUplinkNames lets a new unscoped local package take a name an
	// uplink has (the setting publish_uplink_names = allow); by default
	// such a publish is refused (docs/uplinks.md).
	AllowUplinkNames bool
	// Log hears what happens with the uplinks: failures, refusals, the
	// answer to the check at start.
	Log *slog.Logger
}

// proxy serves the packages that are not local from the uplinks: a
// read-through cache of their packuments and tarballs, in the store and
// the blob store, with what the hot reads need kept in memory
// (docs/uplinks.md tells the rules).
type proxy struct {
	s          *Service
	set        *uplink.Set
	allowNames bool
	log        *slog.Logger
	mem        *proxyMemory
	// commits groups the documents and tarball records fetched at once
	// into one transaction.
	commits *commits
	// flights makes concurrent requests for one packument or tarball share
	// one upstream fetch.
	flights singleflight.Group
	// ctx bounds the fetches (a request that starts one may go away before
	// it ends, and others wait on it) and the revalidations in the
	// background; Close cancels it and waits for them.
	ctx      context.Context
	stop     context.CancelFunc
	mu       sync.Mutex
	closed   bool
	wg       sync.WaitGroup
	unfollow func()
}

// UseUplinks makes the registry serve the names that are not local from
// opts.Uplinks, and checks in the background that each answers, logging
// what it finds (an unreachable uplink does not stop gatehouse). changes
// tells it of what other processes cached. Call it once, before serving;
// Close stops what it runs.
func (s *Service) UseUplinks(opts UplinkOptions, changes store.Changes) {
	if len(opts.Uplinks.All()) == 0 {
		return
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s.docs.mu.RLock()
	bound := s.docs.maxBytes
	s.docs.mu.RUnlock()
	ctx, stop := context.WithCancel(context.Background())
	x := &proxy{s: s, set: opts.Uplinks, allowNames: opts.AllowUplinkNames, log: log, mem: newProxyMemory(bound),
		ctx: ctx, stop: stop, commits: newCommits(ctx, s.store)}
	x.unfollow = x.mem.follow(changes)
	s.proxy = x
	for _, u := range opts.Uplinks.All() {
		log.Info("uplink", slog.Any("uplink", u))
		if u.Offline() {
			continue
		}
		x.spawn(func() {
			if err := u.Ping(x.ctx); err != nil {
				if x.ctx.Err() == nil {
					log.Warn("uplink unreachable: gatehouse serves what it has cached of its packages until it answers",
						slog.String("uplink", u.Name()), slog.Any("error", err))
				}
				return
			}
			log.Info("uplink answers", slog.String("uplink", u.Name()))
		})
	}
}

// Close stops the registry's work in the background (revalidations of
// proxied packuments, fetches no request waits for any more, a rebuild of
// the filter of known names) and waits for it to end.
func (s *Service) Close() {
	s.names.close()
	if s.proxy != nil {
		s.proxy.close()
	}
}

func (x *proxy) close() {
	x.mu.Lock()
	x.closed = true
	x.mu.Unlock()
	x.stop()
	x.wg.Wait()
	x.unfollow()
}

// spawn runs fn in the background unless the proxy is closing.
func (x *proxy) spawn(fn func()) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return
	}
	x.wg.Add(1)
	go func() {
		defer x.wg.Done()
		fn()
	}()
}

// uplinkFor returns the uplink that serves name, nil when none does or the
// name could be no package's.
func (x *proxy) uplinkFor(name string) *uplink.Uplink {
	if ValidateLegacyPackageName(name) != nil {
		return nil
	}
	return x.set.For(name)
}

// uplinkFacts are what policy knows of name, proxied from u: a package read
// under the registry's read access, as a local one is.
func (s *Service) uplinkFacts(u *uplink.Uplink, name string) policy.Package {
	scope, _ := SplitName(name)
	return policy.Package{Name: name, Scope: scope, Exists: true, Proxied: true, Uplink: u.Name(), ReadAccess: s.readAccess}
}

// storedKind is the kind of packument fetched from u for a request of
// the abbreviated one (or not): the full one whenever u's gates need
// versions' publish times, which only full packuments carry.
func storedKind(u *uplink.Uplink, abbreviated bool) string {
	if abbreviated && !u.NeedsTimes() {
		return store.DocumentAbbreviated
	}
	return store.DocumentFull
}

// isLocal reports whether name belongs to this registry, so that no uplink
// may serve it (the dependency confusion shield: docs/uplinks.md).
func (x *proxy) isLocal(ctx context.Context, q store.Queries, name string) (bool, error) {
	scope, _ := SplitName(name)
	return q.IsLocalName(ctx, name, scope)
}

// forgetPackage drops everything cached of name from the uplinks (it has
// become local, or its uplink no longer has it), in the store, here, and
// on the other nodes.
func (x *proxy) forgetPackage(ctx context.Context, name string) error {
	err := x.s.store.InTx(ctx, func(q store.Queries) error {
		if err := q.ForgetUplinkPackage(ctx, name); err != nil {
			return err
		}
		return q.Publish(ctx, store.Change{Kind: store.UplinkChanged, Key: name})
	})
	x.mem.forget(name)
	return err
}

// proxiedPackument serves the packument of name, which is not local, from
// the uplink that serves it: from memory, else from the store, else from
// the uplink. A copy older than the uplink's max age is served at once and
// revalidated in the background.
func (s *Service) proxiedPackument(ctx context.Context, p *auth.Principal, name string, abbreviated, gz bool, base string) (Document, error) {
	x := s.proxy
	u := x.uplinkFor(name)
	if u == nil {
		return Document{}, fault.NotFoundf("Not found")
	}
	if err := policy.Decide(p, policy.Read, s.uplinkFacts(u, name)); err != nil {
		return Document{}, err
	}
	now := s.now()
	k := proxyDocKey{name: name, abbreviated: abbreviated, gzip: gz, base: base}
	if d := x.mem.doc(k); d != nil && d.uplink == u.Name() && (d.until.IsZero() || now.Before(d.until)) {
		s.obs.CacheLookup("uplink_packument", true)
		x.revalidateIfStale(u, name, d.kind, d.fetchedAt)
		return x.served(u, name, d, now), nil
	}
	s.obs.CacheLookup("uplink_packument", false)
	gen := x.mem.generation()
	kind := storedKind(u, abbreviated)
	fd, err := x.stored(ctx, u, name, kind)
	if err != nil {
		return Document{}, err
	}
	if fd.parsed != nil {
		// Just fetched and stored by this node: it is current under the
		// generation that the fetch's forget began.
		gen = fd.gen
	}
	pk, err := x.parsedOf(fd, gen)
	if err != nil {
		return Document{}, err
	}
	d, err := x.render(u, fd, pk, abbreviated, base)
	if err != nil {
		return Document{}, err
	}
	if gz && worthGzip(&d.doc) {
		d.doc = gzipDocument(d.doc)
	}
	x.mem.putDoc(k, d, gen)
	x.revalidateIfStale(u, name, kind, d.fetchedAt)
	return x.served(u, name, d, now), nil
}

// fetchedDoc is a packument as stored, and parsed when it has just been
// fetched and stored (nil otherwise); gen is then the memory's generation
// from the moment it was stored.
type fetchedDoc struct {
	doc    store.UplinkDocument
	parsed *uplink.Packument
	gen    uint64
}

// stored returns the packument of kind cached for name from u, or fetches
// it when none is cached. A name that has become local is forgotten and
// NotFound.
func (x *proxy) stored(ctx context.Context, u *uplink.Uplink, name, kind string) (fetchedDoc, error) {
	q := x.s.store.Q()
	d, err := q.UplinkDocument(ctx, name, kind)
	switch {
	case err == nil && d.Uplink == u.Name():
		local, err := x.isLocal(ctx, q, name)
		if err != nil {
			return fetchedDoc{}, err
		}
		if local {
			return fetchedDoc{}, errors.Join(fault.NotFoundf("Not found"), x.forgetPackage(ctx, name))
		}
		return fetchedDoc{doc: d}, nil
	case err != nil && !fault.Is(err, fault.NotFound):
		return fetchedDoc{}, err
	}
	return x.fetch(u, name, kind, -1)
}

// fetch asks u for name's packument of kind, one request per node for all
// who ask at once, and stores what it sends. seen is the fetch time of the
// copy the caller has (-1 for none): when the store already holds a later
// one (another request, or node, revalidated it meanwhile) that one is
// returned without asking u. When u fails and a copy is cached, that copy
// is returned along with the error.
func (x *proxy) fetch(u *uplink.Uplink, name, kind string, seen int64) (fetchedDoc, error) {
	v, err, _ := x.flights.Do("doc\x00"+kind+"\x00"+name, func() (any, error) {
		return x.fetchNow(u, name, kind, seen)
	})
	fd, _ := v.(fetchedDoc)
	return fd, err
}

func (x *proxy) fetchNow(u *uplink.Uplink, name, kind string, seen int64) (fetchedDoc, error) {
	ctx := x.ctx
	q := x.s.store.Q()
	now := x.s.now()
	local, err := x.isLocal(ctx, q, name)
	if err != nil {
		return fetchedDoc{}, err
	}
	if local {
		return fetchedDoc{}, errors.Join(fault.NotFoundf("Not found"), x.forgetPackage(ctx, name))
	}
	cached, err := q.UplinkDocument(ctx, name, kind)
	has := err == nil && cached.Uplink == u.Name()
	if err != nil && !fault.Is(err, fault.NotFound) {
		return fetchedDoc{}, err
	}
	if has && cached.FetchedAt > seen {
		return fetchedDoc{doc: cached}, nil
	}
	if !has && x.mem.missing(name, now) {
		return fetchedDoc{}, fault.NotFoundf("Not found")
	}
	if u.Offline() {
		if has {
			return fetchedDoc{doc: cached}, nil
		}
		return fetchedDoc{}, fault.NotFoundf("Not found: uplink %s is offline and nothing of %s is cached", u.Name(), name)
	}
	var val uplink.Validators
	if has {
		val = uplink.Validators{ETag: cached.ETag, LastModified: cached.LastModified}
	}
	sk := storedKey{name: name, kind: kind}
	f, err := u.FetchPackument(ctx, name, kind == store.DocumentAbbreviated, val)
	switch {
	case fault.Is(err, fault.NotFound):
		x.mem.putMiss(name, now.Add(u.NotFoundTTL()))
		x.mem.clearFailure(sk)
		if has {
			// The uplink no longer has it: its packuments go (the tarballs
			// fetched before stay, for lockfiles that name them).
			x.log.Info("uplink no longer has a package: its cached packuments are dropped",
				slog.String("uplink", u.Name()), slog.String("package", name))
			err := x.s.store.InTx(ctx, func(q store.Queries) error {
				if err := q.DeleteUplinkDocuments(ctx, name); err != nil {
					return err
				}
				return q.Publish(ctx, store.Change{Kind: store.UplinkChanged, Key: name})
			})
			x.mem.forget(name)
			if err != nil {
				return fetchedDoc{}, err
			}
		}
		return fetchedDoc{}, fault.NotFoundf("Not found")
	case err != nil:
		return x.failed(u, sk, cached, has, err)
	case f.NotModified:
		if err := q.TouchUplinkDocument(ctx, name, kind, now.UnixMilli(), f.ETag, f.LastModified); err != nil {
			return fetchedDoc{doc: cached}, err
		}
		cached.FetchedAt = now.UnixMilli()
		x.mem.clearFailure(sk)
		x.mem.touch(name, kind, now)
		return fetchedDoc{doc: cached}, nil
	}
	parsed, err := uplink.Parse(f.Body, name)
	if err != nil {
		return x.failed(u, sk, cached, has, fault.Wrap(fault.Upstream, err,
			fmt.Sprintf("uplink %s sent an unusable packument for %s (%v): refused, nothing cached", u.Name(), name, err)))
	}
	d := store.UplinkDocument{Name: name, Kind: kind, Uplink: u.Name(), Body: f.Body, ETag: f.ETag,
		LastModified: f.LastModified, FetchedAt: now.UnixMilli(), ChangedAt: now.UnixMilli()}
	if has && bytes.Equal(cached.Body, f.Body) {
		d.ChangedAt = cached.ChangedAt // an uplink without validators sent the same document again
	}
	err = x.commits.do(func(q store.Queries) error {
		if err := q.SaveUplinkDocument(ctx, d); err != nil {
			return err
		}
		return q.Publish(ctx, store.Change{Kind: store.UplinkChanged, Key: name})
	})
	gen := x.mem.forget(name)
	if err != nil {
		return fetchedDoc{}, err
	}
	x.mem.clearFailure(sk)
	x.mem.clearMiss(name)
	return fetchedDoc{doc: d, parsed: parsed, gen: gen}, nil
}

// failed records that u failed to send name's packument: revalidations
// pause for a while, and responses served from the cached copy (if any,
// returned with the error) carry a warning.
func (x *proxy) failed(u *uplink.Uplink, sk storedKey, cached store.UplinkDocument, has bool, err error) (fetchedDoc, error) {
	msg := err.Error()
	if e, ok := fault.As(err); ok {
		msg = e.Message
	}
	x.mem.setFailure(sk, failure{at: x.s.now(), msg: msg})
	if !has {
		x.log.Warn("uplink failed", slog.String("uplink", u.Name()), slog.String("package", sk.name), slog.Any("error", err))
		return fetchedDoc{}, err
	}
	x.log.Warn("uplink failed: serving the cached copy", slog.String("uplink", u.Name()), slog.String("package", sk.name),
		slog.Time("fetched", time.UnixMilli(cached.FetchedAt)), slog.Any("error", err))
	return fetchedDoc{doc: cached}, err
}

// retryAfter is how long revalidations of a packument pause after one
// failed: u's max age, within 1 to 30 seconds.
func retryAfter(u *uplink.Uplink) time.Duration {
	return min(max(u.MaxAge(), time.Second), 30*time.Second)
}

// revalidateIfStale revalidates name's packument of kind in the background
// when the copy fetched at fetchedAt is older than u's max age (and no
// revalidation runs, and none failed a moment ago).
func (x *proxy) revalidateIfStale(u *uplink.Uplink, name, kind string, fetchedAt time.Time) {
	now := x.s.now()
	if u.Offline() || now.Sub(fetchedAt) <= u.MaxAge() {
		return
	}
	sk := storedKey{name: name, kind: kind}
	if f, ok := x.mem.failed(sk); ok && now.Sub(f.at) < retryAfter(u) {
		return
	}
	if !x.mem.startRefresh(sk) {
		return
	}
	x.spawn(func() {
		defer x.mem.endRefresh(sk)
		_, _ = x.fetch(u, name, kind, fetchedAt.UnixMilli())
	})
}

// served is d as served at now, saying where it came from: with a warning
// when it is older than the uplink's max age and the uplink is offline or
// failed to revalidate it.
func (x *proxy) served(u *uplink.Uplink, name string, d *proxyDoc, now time.Time) Document {
	doc := d.doc
	doc.Origin = &Origin{Uplink: u.Name(), URL: u.Spec().URL, FetchedAt: d.fetchedAt}
	if now.Sub(d.fetchedAt) <= u.MaxAge() {
		return doc
	}
	switch f, failed := x.mem.failed(storedKey{name: name, kind: d.kind}); {
	case u.Offline():
		doc.Warning = fmt.Sprintf(`112 gatehouse "Disconnected operation: uplink %s is offline; copy fetched %s"`,
			u.Name(), d.fetchedAt.UTC().Format(time.RFC3339))
	case failed:
		doc.Warning = fmt.Sprintf(`111 gatehouse "Revalidation failed: %s; copy fetched %s"`,
			strings.NewReplacer(`"`, "'", `\`, "/", "\r", " ", "\n", " ").Replace(f.msg), d.fetchedAt.UTC().Format(time.RFC3339))
	}
	return doc
}

// parsedOf returns fd's packument parsed, and keeps it in memory (under
// gen, the generation fd was read from the store under, or fd.gen when it
// was just fetched), so that the tarball requests that follow it find
// their versions without parsing the stored document again: as fetched,
// as kept, or parsed now.
func (x *proxy) parsedOf(fd fetchedDoc, gen uint64) (*uplink.Packument, error) {
	name, kind := fd.doc.Name, fd.doc.Kind
	if fd.parsed != nil {
		x.mem.putParsed(name, kind, &parsedDoc{uplink: fd.doc.Uplink, p: fd.parsed, fetchedAt: fd.doc.FetchedAt},
			len(fd.doc.Body), fd.gen)
		return fd.parsed, nil
	}
	if d := x.mem.parsed(name, kind); d != nil && d.uplink == fd.doc.Uplink {
		return d.p, nil
	}
	p, err := uplink.Parse(fd.doc.Body, name)
	if err != nil {
		return nil, fmt.Errorf("cached packument of %s: %w", name, err)
	}
	x.mem.putParsed(name, kind, &parsedDoc{uplink: fd.doc.Uplink, p: p, fetchedAt: fd.doc.FetchedAt}, len(fd.doc.Body), gen)
	return p, nil
}

// render makes the packument fd, parsed as p, served: u's gates applied at
// now, tarball links to gatehouse, base filled in, with a strong ETag of
// its own.
func (x *proxy) render(u *uplink.Uplink, fd fetchedDoc, p *uplink.Packument, abbreviated bool, base string) (*proxyDoc, error) {
	name := fd.doc.Name
	r, err := p.Render(u, abbreviated, x.s.now(), func(version string) string {
		return BasePlaceholder + "/" + name + "/-/" + TarballFilename(name, version)
	})
	if err != nil {
		return nil, fmt.Errorf("render the packument of %s from uplink %s: %w", name, u.Name(), err)
	}
	sum := sha256.Sum256(r.Body)
	etag := fmt.Sprintf(`"u%s-%x"`, docFormat, sum[:12])
	return &proxyDoc{uplink: u.Name(), kind: fd.doc.Kind, doc: fill(r.Body, etag, fd.doc.ChangedAt, base, true),
		fetchedAt: time.UnixMilli(fd.doc.FetchedAt), until: r.Until}, nil
}

// proxiedManifest serves one version's document of a proxied package, by
// version or dist-tag, from its full packument as served (gates applied).
// A version the gates hold back is refused with their reason.
func (s *Service) proxiedManifest(ctx context.Context, p *auth.Principal, name, versionOrTag string) ([]byte, error) {
	doc, err := s.proxiedPackument(ctx, p, name, false, false, "")
	if err != nil {
		return nil, err
	}
	var pk struct {
		DistTags map[string]string                     `json:"dist-tags"`
		Versions map[string]map[string]json.RawMessage `json:"versions"`
	}
	if err := json.Unmarshal(doc.Body, &pk); err != nil {
		return nil, fmt.Errorf("decode the packument of %s: %w", name, err)
	}
	version := versionOrTag
	if v, ok := pk.DistTags[versionOrTag]; ok {
		version = v
	}
	m, ok := pk.Versions[version]
	if !ok {
		if err := s.proxy.gateRefusal(ctx, name, version); err != nil {
			return nil, err
		}
		return nil, fault.NotFoundf("version not found: %s", versionOrTag)
	}
	out, err := json.Marshal(withoutKeys(m, "readme"))
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	return out, nil
}

// proxiedDistTags serves the dist-tags of a proxied package, as its
// packument does (gates applied).
func (s *Service) proxiedDistTags(ctx context.Context, p *auth.Principal, name string) (map[string]string, error) {
	doc, err := s.proxiedPackument(ctx, p, name, true, false, "")
	if err != nil {
		return nil, err
	}
	var pk struct {
		DistTags map[string]string `json:"dist-tags"`
	}
	if err := json.Unmarshal(doc.Body, &pk); err != nil {
		return nil, fmt.Errorf("decode the packument of %s: %w", name, err)
	}
	if pk.DistTags == nil {
		pk.DistTags = map[string]string{}
	}
	return pk.DistTags, nil
}

// gateRefusal returns the gates' refusal of name@version when the cached
// packument has that version and the gates hold it back, nil otherwise.
func (x *proxy) gateRefusal(ctx context.Context, name, version string) error {
	u := x.uplinkFor(name)
	if u == nil || !looksLikeVersion(version) {
		return nil
	}
	d, err := x.s.store.Q().UplinkDocument(ctx, name, storedKind(u, false))
	if err != nil || d.Uplink != u.Name() {
		return nil
	}
	p, err := uplink.Parse(d.Body, name)
	if err != nil {
		return nil
	}
	if _, ok := p.Dist(version); !ok {
		return nil
	}
	return u.Allowed(name, version, p.Published(version), x.s.now())
}

// looksLikeVersion reports whether s parses as a version (loosely, as
// packuments' keys are).
func looksLikeVersion(s string) bool {
	_, err := semver.NewVersion(s)
	return err == nil
}

// proxiedFacts returns what policy knows of name when it is no local
// package but is cached from an uplink that still serves it; not ok
// otherwise. Writes to it are refused by policy with a message naming the
// uplink.
func (x *proxy) proxiedFacts(ctx context.Context, q store.Queries, name string) (policy.Package, bool, error) {
	u := x.uplinkFor(name)
	if u == nil {
		return policy.Package{}, false, nil
	}
	cachedFrom, err := q.CachedUplinkOf(ctx, name)
	switch {
	case fault.Is(err, fault.NotFound):
		return policy.Package{}, false, nil
	case err != nil:
		return policy.Package{}, false, err
	}
	if cachedFrom != u.Name() {
		return policy.Package{}, false, nil
	}
	return x.s.uplinkFacts(u, name), true, nil
}

// uplinkHas reports which uplink has a package called name, for a publish
// that would create it locally: "" when none serves the name, or the one
// that does says it has none. An uplink that cannot tell (it is offline
// or failing) is an error: the publish is refused rather than risk a
// shadowing name.
func (x *proxy) uplinkHas(ctx context.Context, name string) (string, error) {
	u := x.uplinkFor(name)
	if u == nil {
		return "", nil
	}
	if _, err := x.s.store.Q().CachedUplinkOf(ctx, name); err == nil {
		return u.Name(), nil
	} else if !fault.Is(err, fault.NotFound) {
		return "", err
	}
	if x.mem.missing(name, x.s.now()) {
		return "", nil
	}
	if u.Offline() {
		return "", fault.New(fault.Upstream, "uplink %s is offline, so gatehouse cannot tell whether it has a package "+
			"named %s: a new unscoped name is refused until it can (docs/uplinks.md)", u.Name(), name)
	}
	_, err := x.fetch(u, name, storedKind(u, true), -1)
	switch {
	case err == nil:
		return u.Name(), nil
	case fault.Is(err, fault.NotFound):
		return "", nil
	}
	e, ok := fault.As(err)
	if !ok {
		return "", err
	}
	return "", fault.Wrap(e.Kind, err, fmt.Sprintf("gatehouse must ask uplink %s whether it has a package named %s "+
		"before %s is created here, and could not (%s): try again later (docs/uplinks.md)", u.Name(), name, name, e.Message))
}
