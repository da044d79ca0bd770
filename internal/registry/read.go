package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/blob"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// Document is a prebuilt JSON document with what a reader needs to serve it.
type Document struct {
	// Body is the document with the base URL filled in (as stored, with
	// BasePlaceholder, when no base URL was given).
	Body []byte
	// ETag is a strong validator of Body.
	ETag     string
	Modified time.Time
	// LastModified is Modified in HTTP's date format.
	LastModified string
	// Validators holds ETag, LastModified and the length of Body in
	// decimal, made once with the document so that the hot read sends its
	// headers without building them for every request (each one a slice of
	// one, capped: Validators[0:1:1] and so on). Nil for a document made
	// elsewhere than fill, whose reader builds them itself.
	Validators []string
	// Encoding is "gzip" when Body is the document gzipped (see
	// Service.PackumentGzip), to be sent with that Content-Encoding; empty
	// when Body is the JSON itself.
	Encoding string
	// Warning, when not empty, is the value of a Warning header to send
	// with Body: a proxied packument served past its max age because its
	// uplink is offline or failed to revalidate it.
	Warning string
	// Origin, for a packument served from an uplink, says where it came
	// from; nil for a local package's.
	Origin *Origin
}

// Origin is where a proxied packument came from: the uplink that serves
// its name, and when the copy served was fetched or last revalidated.
type Origin struct {
	// Uplink is the uplink's name, URL its base URL (which never holds a
	// credential: see uplink.Spec).
	Uplink, URL string
	FetchedAt   time.Time
}

// Packument returns the full packument, or the abbreviated one, of name,
// with base (the registry's public URL) filled into its tarball links; an
// empty base leaves BasePlaceholder in place.
func (s *Service) Packument(ctx context.Context, p *auth.Principal, name string, abbreviated bool, base string) (Document, error) {
	return s.packument(ctx, p, name, packumentKind(abbreviated, false), base)
}

// PackumentGzip is Packument for a client that accepts gzip (npm, pnpm,
// yarn and bun all do): the document may then be its gzip form
// (Document.Encoding says so), as kept in memory. A local package's
// document is read from the store and served as JSON; it is compressed on
// its next read from the cache, and kept and served gzipped from then on:
// a document read once (a crawler's, a spread's one-off read) costs no
// compression, and one read again costs it once and then takes half the
// memory or less. Its ETag says which form was sent (GzipETag), and a
// client holding either form of the current document is answered 304. A
// proxied packument is gzipped as rendered, and kept so. A document under
// GzipMinBytes always goes as JSON.
func (s *Service) PackumentGzip(ctx context.Context, p *auth.Principal, name string, abbreviated bool, base string) (Document, error) {
	return s.packument(ctx, p, name, packumentKind(abbreviated, true), base)
}

func (s *Service) packument(ctx context.Context, p *auth.Principal, name string, kind docKind, base string) (Document, error) {
	if err := s.MayRead(p); err != nil {
		return Document{}, err
	}
	q := s.store.Q()
	abbreviated := kind.abbreviated()
	e, err := s.cached(ctx, q, name, kind, base)
	if err != nil {
		return Document{}, err
	}
	if e.missing {
		if s.proxy != nil {
			return s.proxiedPackument(ctx, p, name, abbreviated, kind.gzipped(), base)
		}
		return Document{}, fault.NotFoundf("Not found")
	}
	if err := s.readable(ctx, q, p, e.pkg); err != nil {
		return Document{}, err
	}
	return e.doc, nil
}

// knownAbsent reports whether the filter of known names says name has no
// package, counting such an answer (a read then needs no store read).
func (s *Service) knownAbsent(name string) bool {
	if !s.names.absent(name) {
		return false
	}
	s.obs.CacheLookup("package_names", true)
	return true
}

// cached returns the package name as kept in memory, reading it (and the
// document kind asks for, filled with base) from the store when it is not;
// for a name that does not exist, an entry that says so (missing), which
// is remembered until the next change. (The caller makes the NotFound, or
// asks the uplinks, without an error built for every such request.)
func (s *Service) cached(ctx context.Context, q store.Queries, name string, kind docKind, base string) (*docEntry, error) {
	if kind == kindRow {
		base = "" // a row holds no links
	}
	key := docKey{name: name, kind: kind, base: base}
	e, ok := s.docs.get(key)
	s.obs.CacheLookup("packument", ok)
	if ok && kind.gzipped() && !e.missing && worthGzip(&e.doc) {
		// Read again: worth keeping gzipped (see PackumentGzip).
		e = s.docs.compress(key, e)
	}
	if !ok {
		if s.knownAbsent(name) {
			return s.absentEntry, nil
		}
		e = &docEntry{gen: s.docs.genOf(name)}
		var err error
		switch kind {
		case kindRow:
			e.pkg, err = q.PackageByName(ctx, name)
		default:
			// The document is filled straight from the driver's bytes into
			// the one copy the entry keeps.
			err = q.PackageDocumentFunc(ctx, name, kind.abbreviated(), func(p store.Package, doc []byte) {
				e.pkg = p
				etag := fmt.Sprintf(`"%s-%d-%d-%d-%s"`, docFormat, p.ID, p.CreatedAt, p.Rev, kind.label())
				// As JSON, also for a gzip kind: see PackumentGzip.
				e.doc = fill(doc, etag, p.ModifiedAt, base, false)
			})
		}
		switch {
		case fault.Is(err, fault.NotFound):
			// A missing name the filter could not tell (a false positive,
			// a deleted package's name, or the filter set aside).
			s.obs.CacheLookup("package_names", false)
			e.missing = true
		case err != nil:
			return nil, err
		}
		s.docs.put(key, e)
	}
	return e, nil
}

// readable returns nil when p may read pkg. A public package is decided
// with no look-up (the user's rights do not matter to it: on a public
// registry anyone reads it, on a private one any credential that reaches
// it); a restricted one needs the user's current rights, read afresh on
// every request (never cached), and a credential that may read it. A
// package p may not read is NotFound.
func (s *Service) readable(ctx context.Context, q store.Queries, p *auth.Principal, pkg store.Package) error {
	if pkg.Access == store.Public {
		return policy.Decide(p, policy.Read, policy.Package{Name: pkg.Name, Scope: pkg.Scope, Exists: true,
			ReadAccess: s.readAccess})
	}
	return s.decide(ctx, q, p, pkg, policy.Read)
}

// Manifest returns one version's document, by version or dist-tag.
func (s *Service) Manifest(ctx context.Context, p *auth.Principal, name, versionOrTag string) ([]byte, error) {
	if err := s.MayRead(p); err != nil {
		return nil, err
	}
	q := s.store.Q()
	pkg, err := s.loadFor(ctx, q, p, name, policy.Read)
	if s.proxy != nil && fault.Is(err, fault.NotFound) {
		if _, lerr := q.PackageByName(ctx, name); fault.Is(lerr, fault.NotFound) {
			return s.proxiedManifest(ctx, p, name, versionOrTag)
		}
	}
	if err != nil {
		return nil, err
	}
	version := versionOrTag
	if _, err := semver.StrictNewVersion(versionOrTag); err != nil {
		tags, err := q.DistTags(ctx, pkg.ID)
		if err != nil {
			return nil, err
		}
		v, ok := tags[versionOrTag]
		if !ok {
			return nil, fault.NotFoundf("version not found: %s", versionOrTag)
		}
		version = v
	}
	v, err := q.VersionOf(ctx, pkg.ID, version)
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			return nil, fault.NotFoundf("version not found: %s", versionOrTag)
		}
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(v.Manifest, &m); err != nil {
		return nil, fmt.Errorf("decode manifest: %w", err)
	}
	out, err := json.Marshal(withoutKeys(m, "readme"))
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	return out, nil
}

// Tarball is one version's tarball, ready to serve.
type Tarball struct {
	// Key is the blob's content address (sha512/...): a strong validator.
	Key string
	// Size is the tarball's length in bytes.
	Size int64
	// Published is when the version was published.
	Published time.Time
	// Data holds the whole tarball when it is small enough to keep in
	// memory; otherwise Reader reads it, and the caller closes it.
	Data   []byte
	Reader blob.Reader
	// Stream, set instead of Data and Reader for a proxied tarball not
	// cached yet (Key is then empty and Size -1), sends it: it calls
	// start once, with the size (-1 when unknown), before the first byte,
	// and writes the bytes to the writer start returns. An error before
	// start is the answer to give; an error after it means the bytes sent
	// must not be used (they failed verification, or the uplink broke off):
	// the response must be aborted.
	Stream func(ctx context.Context, start func(size int64) io.Writer) error
	// Validators, for a local package's tarball, hold its ETag (Key,
	// quoted, without slashes), Last-Modified (Published in HTTP's date
	// format) and Size in decimal, made once per version and shared, so
	// that the hot read sends its headers without building them for every
	// request. Nil otherwise.
	Validators []string
}

// maxKeptTarball is the largest tarball kept in memory whole; most are far
// smaller (npm's median is a few kilobytes).
const maxKeptTarball = 1 << 20

// Tarball returns the tarball file of package name, if p may read it.
// Tarballs are content-addressed, so their bytes never change: small ones are
// served from memory (blob.Cache), whichever package or node asks.
func (s *Service) Tarball(ctx context.Context, p *auth.Principal, name, filename string) (Tarball, error) {
	if err := s.MayRead(p); err != nil {
		return Tarball{}, err
	}
	q := s.store.Q()
	version, versionOK := versionFromFilename(name, filename)
	e, jv, err := s.cachedTarball(ctx, q, name, version, versionOK)
	if err != nil {
		return Tarball{}, err
	}
	if e.missing {
		if s.proxy != nil {
			return s.proxiedTarball(ctx, p, name, filename)
		}
		return Tarball{}, fault.NotFoundf("Not found")
	}
	if err := s.readable(ctx, q, p, e.pkg); err != nil {
		return Tarball{}, err
	}
	if !versionOK {
		return Tarball{}, fault.NotFoundf("Not found")
	}
	if jv.read && !jv.found {
		return Tarball{}, fault.NotFoundf("Not found")
	}
	vk := versionKey{pkgID: e.pkg.ID, version: version, name: name}
	v, validators, ok := jv.v, jv.validators, jv.found
	if !ok {
		v, validators, ok = s.docs.getVersion(vk)
	}
	if !ok {
		gen := s.docs.genOf(name)
		v, err = q.VersionFile(ctx, e.pkg.ID, version)
		if err != nil {
			if fault.Is(err, fault.NotFound) {
				return Tarball{}, fault.NotFoundf("Not found")
			}
			return Tarball{}, err
		}
		validators = s.docs.putVersion(vk, gen, v)
	}
	t, err := s.blobTarball(ctx, v.BlobKey, v.Size, time.UnixMilli(v.PublishedAt))
	if err == nil && t.Size == v.Size {
		t.Validators = validators
	}
	return t, err
}

// joinedVersion is a version's file row read with its package's row.
type joinedVersion struct {
	// read is true when the version was looked up with the row; found,
	// when it exists.
	read, found bool
	v           store.Version
	validators  []string
}

// cachedTarball returns the row of package name as cached does (kindRow)
// and, when the row was not cached and version is known (versionOK), the
// version's file row too, both read in one query
// (Queries.PackageVersionFile) and both cached: a tarball's miss on a
// large store is one query, not two. When the version was not read with the
// row (jv.read false) the caller looks it up itself.
func (s *Service) cachedTarball(ctx context.Context, q store.Queries, name, version string, versionOK bool) (
	*docEntry, joinedVersion, error) {
	if !versionOK {
		e, err := s.cached(ctx, q, name, kindRow, "")
		return e, joinedVersion{}, err
	}
	key := docKey{name: name, kind: kindRow}
	if e, ok := s.docs.get(key); ok {
		s.obs.CacheLookup("packument", true)
		return e, joinedVersion{}, nil
	}
	s.obs.CacheLookup("packument", false)
	if s.knownAbsent(name) {
		return s.absentEntry, joinedVersion{}, nil
	}
	gen := s.docs.genOf(name)
	e := &docEntry{gen: gen}
	var jv joinedVersion
	var err error
	e.pkg, jv.v, jv.found, err = q.PackageVersionFile(ctx, name, version)
	switch {
	case fault.Is(err, fault.NotFound):
		s.obs.CacheLookup("package_names", false)
		e.missing = true
	case err != nil:
		return nil, joinedVersion{}, err
	}
	s.docs.put(key, e)
	jv.read = !e.missing
	if jv.found {
		jv.validators = s.docs.putVersion(versionKey{pkgID: e.pkg.ID, version: version, name: name}, gen, jv.v)
	}
	return e, jv, nil
}

func versionFromFilename(name, filename string) (string, bool) {
	_, bare := SplitName(name)
	v, ok := strings.CutPrefix(filename, bare+"-")
	if !ok {
		return "", false
	}
	v, ok = strings.CutSuffix(v, ".tgz")
	return v, ok && v != ""
}
