// Package registry holds packages: publishing and its checks, versions,
// dist-tags, owners, deprecation, unpublishing, search, and the prebuilt
// packuments that installs read.
package registry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
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
	// tarballs keeps small tarballs' bytes, by content address.
	tarballs *blob.Cache
	obs      Observer
}

// NewService returns the registry over a metadata store and a blob store,
// with tfa enforcing two-factor authentication on writes; changes tells it
// of packages changed by other processes, whose packuments it drops; obs,
// if not nil, hears publishes and cache look-ups.
func NewService(s *store.Store, b *blob.Store, tfa TwoFactor, changes store.Changes, now func() time.Time, obs Observer) *Service {
	if now == nil {
		now = time.Now
	}
	if obs == nil {
		obs = silentObserver{}
	}
	docs := newDocCache(DefaultCacheBytes)
	docs.follow(changes)
	return &Service{store: s, blobs: b, tfa: tfa, now: now, docs: docs,
		tarballs: blob.NewCache(tarballCacheBytes, maxKeptTarball), obs: obs}
}

// SetCacheBytes bounds the in-memory document cache (packuments, package
// rows, versions' blob keys) to n bytes as it counts them; call it before
// serving. The default is DefaultCacheBytes.
func (s *Service) SetCacheBytes(n int) {
	s.docs.mu.Lock()
	defer s.docs.mu.Unlock()
	s.docs.setBound(n)
}

// CacheUse reports what the document cache holds: entries, bytes as it
// counts them, and its bound in bytes.
func (s *Service) CacheUse() (entries, bytes, limit int) { return s.docs.size() }

// write runs fn in one transaction that also publishes a package change (for
// the other nodes' packuments), and, once it has committed, makes the
// packuments kept in memory stale. Every change to a package goes through it.
func (s *Service) write(ctx context.Context, fn func(q store.Queries) error) error {
	err := s.store.InTx(ctx, func(q store.Queries) error {
		if err := fn(q); err != nil {
			return err
		}
		return q.Publish(ctx, store.Change{Kind: store.PackageChanged})
	})
	// Even a failed transaction may have raced a reader; staleness is cheap.
	s.docs.changed()
	return err
}

// preflight checks, before any write transaction opens, that p may do a to
// the package and has answered the two-factor challenge op needs. (OTP checks
// write to the database, so they cannot run inside another write
// transaction.) The transaction decides policy again on fresh rows.
func (s *Service) preflight(ctx context.Context, p *auth.Principal, name string, a policy.Action, op policy.OTPOp) error {
	if _, err := s.loadFor(ctx, s.store.Q(), p, name, a); err != nil {
		return err
	}
	return s.tfa.RequireOTP(ctx, p, op, nil)
}

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
}

// facts gathers what policy needs to know about pkg and principal p: the
// user's current rights, read fresh on every request.
func (s *Service) facts(ctx context.Context, q store.Queries, p *auth.Principal, pkg store.Package) (policy.Package, error) {
	f := policy.Package{Name: pkg.Name, Scope: pkg.Scope, Exists: true, Restricted: pkg.Access == "restricted"}
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
	f := policy.Package{Name: name, Scope: scope}
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
		if fault.Is(err, fault.NotFound) {
			return store.Package{}, policy.Decide(p, a, policy.Package{Name: name, Exists: false})
		}
		return store.Package{}, err
	}
	f, err := s.facts(ctx, q, p, pkg)
	if err != nil {
		return store.Package{}, err
	}
	return pkg, policy.Decide(p, a, f)
}

// Packument returns the full packument, or the abbreviated one, of name,
// with base (the registry's public URL) filled into its tarball links; an
// empty base leaves BasePlaceholder in place.
func (s *Service) Packument(ctx context.Context, p *auth.Principal, name string, abbreviated bool, base string) (Document, error) {
	q := s.store.Q()
	kind := kindFull
	if abbreviated {
		kind = kindAbbreviated
	}
	e, err := s.cached(ctx, q, name, kind, base)
	if err != nil {
		return Document{}, err
	}
	if err := s.readable(ctx, q, p, e.pkg); err != nil {
		return Document{}, err
	}
	return e.doc, nil
}

// cached returns the package name as kept in memory, reading it (and the
// document kind asks for, filled with base) from the store when it is not;
// a name that does not exist is NotFound, and is remembered as such until
// the next change.
func (s *Service) cached(ctx context.Context, q store.Queries, name string, kind docKind, base string) (*docEntry, error) {
	if kind == kindRow {
		base = "" // a row holds no links
	}
	key := docKey{name: name, kind: kind, base: base}
	e, ok := s.docs.get(key)
	s.obs.CacheLookup("packument", ok)
	if !ok {
		e = &docEntry{gen: s.docs.gen.Load()}
		var err error
		switch kind {
		case kindRow:
			e.pkg, err = q.PackageByName(ctx, name)
		default:
			e.pkg, err = q.PackageDocument(ctx, name, kind == kindAbbreviated)
		}
		switch {
		case fault.Is(err, fault.NotFound):
			e.missing = true
		case err != nil:
			return nil, err
		}
		if kind != kindRow && !e.missing {
			label, body := "full", e.pkg.Packument
			if kind == kindAbbreviated {
				label, body = "abbr", e.pkg.Abbreviated
			}
			etag := fmt.Sprintf(`"%s-%d-%d-%d-%s"`, docFormat, e.pkg.ID, e.pkg.CreatedAt, e.pkg.Rev, label)
			e.doc = fill(body, etag, e.pkg.ModifiedAt, base)
		}
		e.pkg.Packument, e.pkg.Abbreviated = nil, nil
		s.docs.put(key, e)
	}
	if e.missing {
		return nil, fault.NotFoundf("Not found")
	}
	return e, nil
}

// readable returns nil when p may read pkg. A public package is readable by
// anyone, with no look-up; a restricted one needs the user's current rights,
// read afresh on every request (never cached), and a credential that may read
// it. A package p may not read is NotFound.
func (s *Service) readable(ctx context.Context, q store.Queries, p *auth.Principal, pkg store.Package) error {
	if pkg.Access == "public" {
		return nil
	}
	f, err := s.facts(ctx, q, p, pkg)
	if err != nil {
		return err
	}
	return policy.Decide(p, policy.Read, f)
}

// Manifest returns one version's document, by version or dist-tag.
func (s *Service) Manifest(ctx context.Context, p *auth.Principal, name, versionOrTag string) ([]byte, error) {
	q := s.store.Q()
	pkg, err := s.loadFor(ctx, q, p, name, policy.Read)
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
}

// maxKeptTarball is the largest tarball kept in memory whole; most are far
// smaller (npm's median is a few kilobytes).
const maxKeptTarball = 1 << 20

// Tarball returns the tarball file of package name, if p may read it.
// Tarballs are content-addressed, so their bytes never change: small ones are
// served from memory (blob.Cache), whichever package or node asks.
func (s *Service) Tarball(ctx context.Context, p *auth.Principal, name, filename string) (Tarball, error) {
	q := s.store.Q()
	e, err := s.cached(ctx, q, name, kindRow, "")
	if err != nil {
		return Tarball{}, err
	}
	if err := s.readable(ctx, q, p, e.pkg); err != nil {
		return Tarball{}, err
	}
	version, ok := versionFromFilename(name, filename)
	if !ok {
		return Tarball{}, fault.NotFoundf("Not found")
	}
	vk := versionKey{pkgID: e.pkg.ID, version: version}
	v, ok := s.docs.getVersion(vk)
	if !ok {
		gen := s.docs.gen.Load()
		v, err = q.VersionFile(ctx, e.pkg.ID, version)
		if err != nil {
			if fault.Is(err, fault.NotFound) {
				return Tarball{}, fault.NotFoundf("Not found")
			}
			return Tarball{}, err
		}
		s.docs.putVersion(vk, gen, v)
	}
	t := Tarball{Key: v.BlobKey, Size: v.Size, Published: time.UnixMilli(v.PublishedAt)}
	data, ok := s.tarballs.Get(v.BlobKey)
	s.obs.CacheLookup("tarball", ok)
	if ok {
		t.Data = data
		return t, nil
	}
	if v.Size <= maxKeptTarball {
		data, err := s.blobs.ReadAll(ctx, v.BlobKey)
		if err != nil {
			return Tarball{}, err
		}
		s.tarballs.Put(v.BlobKey, data)
		t.Data, t.Size = data, int64(len(data))
		return t, nil
	}
	t.Reader, err = s.blobs.Open(ctx, v.BlobKey)
	if err != nil {
		return Tarball{}, err
	}
	t.Size = t.Reader.Size()
	return t, nil
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

// PublishDocument is the body npm sends to PUT /:package: a packument with one
// new version and its tarball attached, or (without attachments) a changed
// packument for deprecation, unpublishing or owners.
type PublishDocument struct {
	ID          string                     `json:"_id"`
	Rev         string                     `json:"_rev"`
	Name        string                     `json:"name"`
	DistTags    map[string]string          `json:"dist-tags"`
	Versions    map[string]json.RawMessage `json:"versions"`
	Access      *string                    `json:"access"`
	Attachments map[string]Attachment      `json:"_attachments"`
	Maintainers []Maintainer               `json:"maintainers"`
}

// Attachment is a base64 tarball inside a publish document.
type Attachment struct {
	ContentType string `json:"content_type"`
	Data        string `json:"data"`
	Length      *int64 `json:"length"`
}

// Maintainer names an owner in a packument.
type Maintainer struct {
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
}

// Publish stores the new version that doc carries. The tarball is verified and
// written to the blob store first; then the version, its dist-tags and the
// rebuilt packuments commit in one transaction, so nothing is half-published.
func (s *Service) Publish(ctx context.Context, p *auth.Principal, name string, doc PublishDocument) (err error) {
	defer func() { s.obs.Publish(PublishResult(err)) }()
	if doc.Name != "" && doc.Name != name {
		return fault.Invalidf("the package name in the body (%q) does not match the URL (%q)", doc.Name, name)
	}
	if err := ValidatePackageName(name); err != nil {
		return err
	}
	if len(doc.Versions) != 1 {
		return fault.Invalidf("a publish must carry exactly one version, got %d", len(doc.Versions))
	}
	if len(doc.Attachments) != 1 {
		return fault.Invalidf("a publish must carry exactly one tarball attachment, got %d", len(doc.Attachments))
	}
	var version string
	var raw json.RawMessage
	for version, raw = range doc.Versions {
	}
	if err := ValidateVersion(version); err != nil {
		return err
	}
	var att Attachment
	for _, att = range doc.Attachments {
	}

	manifest, check, err := parseManifest(name, version, raw)
	if err != nil {
		return err
	}
	data, err := base64.StdEncoding.DecodeString(att.Data)
	if err != nil {
		return fault.Invalidf("the attached tarball is not valid base64")
	}
	check.Length = -1
	if att.Length != nil {
		check.Length = *att.Length
	}
	digest, err := VerifyTarball(data, check)
	if err != nil {
		return err
	}
	tags := doc.DistTags
	if len(tags) == 0 {
		tags = map[string]string{"latest": version}
	}
	for tag, v := range tags {
		if err := ValidateTag(tag); err != nil {
			return err
		}
		if v != version {
			return fault.Invalidf("dist-tag %q must point at the published version %s, not %q", tag, version, v)
		}
	}
	access := ""
	if doc.Access != nil {
		access = *doc.Access
	}
	scope, _ := SplitName(name)
	if err := checkAccess(access, scope); err != nil {
		return err
	}

	manifestJSON, err := versionDocument(manifest, name, version, digest, Maintainer{Name: p.UserName, Email: p.Email})
	if err != nil {
		return err
	}

	// Authorise before writing anything: a quick look outside the transaction.
	if err := s.authorisePublish(ctx, s.store.Q(), p, name, scope); err != nil {
		return err
	}
	key := blob.Key(digest.SHA512)
	if err := s.blobs.Put(ctx, key, data); err != nil {
		return err
	}
	return s.write(ctx, func(q store.Queries) error {
		now := s.now().UnixMilli()
		pkg, err := q.PackageByName(ctx, name)
		switch {
		case fault.Is(err, fault.NotFound):
			f, err := s.newPackageFacts(ctx, q, p, name, scope)
			if err != nil {
				return err
			}
			if err := policy.Decide(p, policy.Create, f); err != nil {
				return err
			}
			if access == "" {
				access = defaultAccess(scope)
			}
			pkg, err = q.CreatePackage(ctx, store.Package{Name: name, Scope: scope, Access: access, Rev: 0,
				CreatedAt: now, ModifiedAt: now})
			if err != nil {
				return err
			}
			if err := q.AddOwner(ctx, pkg.ID, p.UserID); err != nil {
				return err
			}
			// A new package of an organization's scope goes to its developers team.
			if err := s.grantDevelopers(ctx, q, pkg); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			f, err := s.facts(ctx, q, p, pkg)
			if err != nil {
				return err
			}
			if err := policy.Decide(p, policy.Publish, f); err != nil {
				return err
			}
		}
		used, err := q.WasPublished(ctx, name, version)
		if err != nil {
			return err
		}
		if used {
			return fault.Forbiddenf("You cannot publish over the previously published versions: %s.", version)
		}
		if err := q.MarkPublished(ctx, name, version); err != nil {
			return err
		}
		if err := q.InsertVersion(ctx, store.Version{PackageID: pkg.ID, Version: version, Manifest: manifestJSON,
			BlobKey: key, Size: digest.Size, PublishedAt: now}); err != nil {
			return err
		}
		existing, err := q.DistTags(ctx, pkg.ID)
		if err != nil {
			return err
		}
		if _, ok := existing["latest"]; !ok {
			tags["latest"] = version
		}
		for tag := range tags {
			if err := q.SetDistTag(ctx, pkg.ID, tag, version); err != nil {
				return err
			}
		}
		return s.rebuild(ctx, q, pkg, now)
	})
}

// grantDevelopers gives an organization's developers team read-write on a
// new package of the organization's scope; other packages are left alone.
func (s *Service) grantDevelopers(ctx context.Context, q store.Queries, pkg store.Package) error {
	if pkg.Scope == "" {
		return nil
	}
	org, err := q.OrgByName(ctx, pkg.Scope)
	if fault.Is(err, fault.NotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	team, err := q.TeamByName(ctx, org.ID, DevelopersTeam)
	if fault.Is(err, fault.NotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return q.GrantTeam(ctx, team.ID, pkg.ID, "read-write")
}

// DevelopersTeam is the team every organization has, that new members join.
const DevelopersTeam = "developers"

// authorisePublish refuses early, before the tarball is written, a publish
// that policy would refuse in the transaction anyway, and asks for the OTP
// the user's and the package's 2FA settings need.
func (s *Service) authorisePublish(ctx context.Context, q store.Queries, p *auth.Principal, name, scope string) error {
	pkg, err := q.PackageByName(ctx, name)
	if fault.Is(err, fault.NotFound) {
		f, err := s.newPackageFacts(ctx, q, p, name, scope)
		if err != nil {
			return err
		}
		if err := policy.Decide(p, policy.Create, f); err != nil {
			return err
		}
		return s.tfa.RequireOTP(ctx, p, policy.OTPPackageWrite, &store.PackageMFA{})
	}
	if err != nil {
		return err
	}
	f, err := s.facts(ctx, q, p, pkg)
	if err != nil {
		return err
	}
	if err := policy.Decide(p, policy.Publish, f); err != nil {
		return err
	}
	mfa, err := q.PackageMFAOf(ctx, pkg.ID)
	if err != nil {
		return err
	}
	return s.tfa.RequireOTP(ctx, p, policy.OTPPackageWrite, &mfa)
}

// parseManifest checks a version document from a publish and returns it with
// what the tarball must match.
func parseManifest(name, version string, raw json.RawMessage) (map[string]json.RawMessage, TarballCheck, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, TarballCheck{}, fault.Invalidf("version %s is not a JSON object", version)
	}
	var head struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		Dist    struct {
			Shasum    string `json:"shasum"`
			Integrity string `json:"integrity"`
		} `json:"dist"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, TarballCheck{}, fault.Invalidf("version %s has fields of the wrong type: %v", version, jsonProblem(err))
	}
	if head.Name != name {
		return nil, TarballCheck{}, fault.Invalidf("the name in version %s (%q) does not match the package (%q)", version, head.Name, name)
	}
	if head.Version != version {
		return nil, TarballCheck{}, fault.Invalidf("the version field (%q) does not match the version key (%q)", head.Version, version)
	}
	if head.Dist.Shasum == "" && head.Dist.Integrity == "" {
		return nil, TarballCheck{}, fault.Invalidf("version %s has no dist.shasum or dist.integrity", version)
	}
	// Keys starting with "_" are npm's bookkeeping; keep only the ones clients read.
	for k := range m {
		if strings.HasPrefix(k, "_") && k != "_hasShrinkwrap" && k != "_nodeVersion" && k != "_npmVersion" {
			delete(m, k)
		}
	}
	return m, TarballCheck{Name: name, Version: version, Shasum: head.Dist.Shasum, Integrity: head.Dist.Integrity}, nil
}

func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if e, ok := err.(*json.UnmarshalTypeError); ok {
		te = e
		return fmt.Sprintf("%s must be %s", te.Field, te.Type)
	}
	return "malformed JSON"
}

func hasInstallScript(m map[string]json.RawMessage) bool {
	var scripts map[string]any
	if json.Unmarshal(m["scripts"], &scripts) != nil {
		return false
	}
	for _, k := range []string{"preinstall", "install", "postinstall"} {
		if _, ok := scripts[k]; ok {
			return true
		}
	}
	return false
}

// versionDocument fills in what the registry owns in a version document
// (dist with the tarball's digests and link, _id, _npmUser,
// hasInstallScript) and encodes it as stored in the versions table.
func versionDocument(manifest map[string]json.RawMessage, name, version string, digest Digest, user Maintainer) ([]byte, error) {
	dist := map[string]any{
		"shasum":       digest.Shasum,
		"integrity":    digest.Integrity,
		"tarball":      BasePlaceholder + "/" + name + "/-/" + TarballFilename(name, version),
		"fileCount":    digest.FileCount,
		"unpackedSize": digest.UnpackedSize,
	}
	manifest["dist"] = mustJSON(dist)
	manifest["_id"] = mustJSON(name + "@" + version)
	manifest["_npmUser"] = mustJSON(user)
	if hasInstallScript(manifest) {
		manifest["hasInstallScript"] = json.RawMessage("true")
	}
	out, err := json.Marshal(manifest)
	if err != nil {
		return nil, fmt.Errorf("encode manifest %s@%s: %w", name, version, err)
	}
	return out, nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("registry: encode %T: %v", v, err))
	}
	return b
}

// rebuild bumps the package's revision and rebuilds its documents from its
// rows; it runs inside the transaction that changed them.
func (s *Service) rebuild(ctx context.Context, q store.Queries, pkg store.Package, now int64) error {
	versions, err := q.Versions(ctx, pkg.ID)
	if err != nil {
		return err
	}
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

// Update applies a packument sent back by npm without attachments: version
// deprecation messages (npm deprecate, PUT /:package), and, when rev is given
// (PUT /:package/-rev/:rev), removed versions (npm unpublish) and a changed
// maintainers list (npm owner).
func (s *Service) Update(ctx context.Context, p *auth.Principal, name, rev string, doc PublishDocument, hasVersions bool) error {
	if doc.Name != "" && doc.Name != name {
		return fault.Invalidf("the package name in the body (%q) does not match the URL (%q)", doc.Name, name)
	}
	// Governance (owners) needs the same OTP as a package write in every
	// mode, and the tokens exempt from it may not change owners anyway.
	if err := s.preflight(ctx, p, name, policy.Deprecate, policy.OTPPackageWrite); err != nil {
		return err
	}
	return s.write(ctx, func(q store.Queries) error {
		pkg, err := s.loadFor(ctx, q, p, name, policy.Deprecate)
		if err != nil {
			return err
		}
		if rev != "" && !sameRev(rev, revString(pkg)) {
			return fault.Conflictf("Document update conflict: the package changed since revision %s; fetch it again", rev)
		}
		versions, err := q.Versions(ctx, pkg.ID)
		if err != nil {
			return err
		}
		changed := false
		var removed []string
		for _, v := range versions {
			sent, ok := doc.Versions[v.Version]
			if !ok {
				if rev != "" && hasVersions {
					removed = append(removed, v.Version)
				}
				continue
			}
			newManifest, did, err := applyDeprecation(v.Manifest, sent)
			if err != nil {
				return fault.Invalidf("version %s: %v", v.Version, err)
			}
			if did {
				if err := q.UpdateVersionManifest(ctx, pkg.ID, v.Version, newManifest); err != nil {
					return err
				}
				changed = true
			}
		}
		if len(removed) > 0 {
			if len(removed) == len(versions) {
				return fault.Invalidf("an update cannot remove every version; unpublish the whole package instead")
			}
			f, err := s.facts(ctx, q, p, pkg)
			if err != nil {
				return err
			}
			if err := policy.Decide(p, policy.Unpublish, f); err != nil {
				return err
			}
			if err := s.removeVersions(ctx, q, pkg, removed); err != nil {
				return err
			}
			changed = true
		}
		if rev != "" && doc.Maintainers != nil {
			did, err := s.setOwners(ctx, q, p, pkg, doc.Maintainers)
			if err != nil {
				return err
			}
			changed = changed || did
		}
		if !changed {
			return nil
		}
		return s.rebuild(ctx, q, pkg, s.now().UnixMilli())
	})
}

func sameRev(a, b string) bool {
	na, _, _ := strings.Cut(a, "-")
	nb, _, _ := strings.Cut(b, "-")
	return a == b || (na == nb && !strings.Contains(a, "-"))
}

// applyDeprecation copies the deprecated field of sent into stored.
func applyDeprecation(stored []byte, sent json.RawMessage) ([]byte, bool, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(stored, &m); err != nil {
		return nil, false, err
	}
	var in struct {
		Deprecated *json.RawMessage `json:"deprecated"`
	}
	if err := json.Unmarshal(sent, &in); err != nil {
		return nil, false, fmt.Errorf("not a JSON object")
	}
	var msg string
	if in.Deprecated != nil {
		if err := json.Unmarshal(*in.Deprecated, &msg); err != nil {
			if string(*in.Deprecated) != "false" && string(*in.Deprecated) != "null" {
				return nil, false, fmt.Errorf("deprecated must be a string")
			}
		}
	}
	var current string
	_ = json.Unmarshal(m["deprecated"], &current)
	if current == msg {
		return stored, false, nil
	}
	if msg == "" {
		delete(m, "deprecated")
	} else {
		m["deprecated"] = mustJSON(msg)
	}
	out, err := json.Marshal(m)
	return out, err == nil, err
}

// removeVersions deletes versions and repairs dist-tags: tags that pointed at
// a removed version go, and latest moves to the highest remaining release.
func (s *Service) removeVersions(ctx context.Context, q store.Queries, pkg store.Package, removed []string) error {
	gone := map[string]bool{}
	for _, v := range removed {
		if err := q.DeleteVersion(ctx, pkg.ID, v); err != nil {
			return err
		}
		gone[v] = true
	}
	tags, err := q.DistTags(ctx, pkg.ID)
	if err != nil {
		return err
	}
	for tag, v := range tags {
		if gone[v] {
			if err := q.DeleteDistTag(ctx, pkg.ID, tag); err != nil {
				return err
			}
			delete(tags, tag)
		}
	}
	if _, ok := tags["latest"]; !ok {
		versions, err := q.Versions(ctx, pkg.ID)
		if err != nil {
			return err
		}
		if best := highest(versions); best != "" {
			return q.SetDistTag(ctx, pkg.ID, "latest", best)
		}
	}
	return nil
}

// highest is the highest release version, or the highest prerelease when
// there is no release.
func highest(versions []store.Version) string {
	var best, bestPre *semver.Version
	for _, v := range versions {
		sv, err := semver.StrictNewVersion(v.Version)
		if err != nil {
			continue
		}
		if sv.Prerelease() == "" {
			if best == nil || sv.GreaterThan(best) {
				best = sv
			}
		} else if bestPre == nil || sv.GreaterThan(bestPre) {
			bestPre = sv
		}
	}
	switch {
	case best != nil:
		return best.Original()
	case bestPre != nil:
		return bestPre.Original()
	}
	return ""
}

// checkAccess refuses an access setting other than public and restricted
// (empty: unchanged, or the default for a new package), and restricted for
// an unscoped package.
func checkAccess(access, scope string) error {
	switch access {
	case "", "public", "restricted":
	default:
		return fault.Invalidf("access must be public or restricted, not %q", access)
	}
	if scope == "" && access == "restricted" {
		return fault.Invalidf("Can't restrict access to unscoped packages.")
	}
	return nil
}

// defaultAccess is a new package's access when none is asked for, as npm
// does: restricted for a scoped package, public otherwise.
func defaultAccess(scope string) string {
	if scope != "" {
		return "restricted"
	}
	return "public"
}

// setOwners makes the owners exactly the named users.
func (s *Service) setOwners(ctx context.Context, q store.Queries, p *auth.Principal, pkg store.Package, maintainers []Maintainer) (bool, error) {
	f, err := s.facts(ctx, q, p, pkg)
	if err != nil {
		return false, err
	}
	current, err := q.Owners(ctx, pkg.ID)
	if err != nil {
		return false, err
	}
	want := map[string]bool{}
	for _, m := range maintainers {
		want[m.Name] = true
	}
	have := map[string]int64{}
	for _, o := range current {
		have[o.Name] = o.UserID
	}
	same := len(want) == len(have)
	for n := range want {
		if _, ok := have[n]; !ok {
			same = false
		}
	}
	if same {
		return false, nil
	}
	if err := policy.Decide(p, policy.ChangeOwners, f); err != nil {
		return false, err
	}
	if len(want) == 0 {
		return false, fault.Invalidf("Cannot remove all owners of a package. Add someone else first.")
	}
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, ok := have[n]; ok {
			continue
		}
		u, err := q.UserByName(ctx, n)
		if err != nil {
			if fault.Is(err, fault.NotFound) {
				return false, fault.NotFoundf("user %q not found", n)
			}
			return false, err
		}
		if err := q.AddOwner(ctx, pkg.ID, u.ID); err != nil {
			return false, err
		}
	}
	for n, id := range have {
		if !want[n] {
			if err := q.RemoveOwner(ctx, pkg.ID, id); err != nil {
				return false, err
			}
		}
	}
	return true, nil
}

// UnpublishPackage removes a whole package. Its versions stay recorded as
// published, so none of them can be published again.
func (s *Service) UnpublishPackage(ctx context.Context, p *auth.Principal, name, rev string) error {
	if err := s.preflight(ctx, p, name, policy.Unpublish, policy.OTPPackageWrite); err != nil {
		return err
	}
	return s.write(ctx, func(q store.Queries) error {
		pkg, err := s.loadFor(ctx, q, p, name, policy.Unpublish)
		if err != nil {
			return err
		}
		if rev != "" && !sameRev(rev, revString(pkg)) {
			return fault.Conflictf("Document update conflict: the package changed since revision %s; fetch it again", rev)
		}
		return q.DeletePackage(ctx, pkg.ID)
	})
}

// DeleteTarball is the last step of npm's version unpublish. The version is
// normally gone already (removed by Update); if it is still there, it is
// removed now. The blob itself stays until garbage collection.
func (s *Service) DeleteTarball(ctx context.Context, p *auth.Principal, name, filename string) error {
	if err := s.preflight(ctx, p, name, policy.Unpublish, policy.OTPPackageWrite); err != nil {
		return err
	}
	return s.write(ctx, func(q store.Queries) error {
		pkg, err := s.loadFor(ctx, q, p, name, policy.Unpublish)
		if err != nil {
			return err
		}
		version, ok := versionFromFilename(name, filename)
		if !ok {
			return fault.NotFoundf("Not found")
		}
		versions, err := q.Versions(ctx, pkg.ID)
		if err != nil {
			return err
		}
		for _, v := range versions {
			if v.Version == version {
				if len(versions) == 1 {
					return q.DeletePackage(ctx, pkg.ID)
				}
				if err := s.removeVersions(ctx, q, pkg, []string{version}); err != nil {
					return err
				}
				return s.rebuild(ctx, q, pkg, s.now().UnixMilli())
			}
		}
		return nil
	})
}

// DistTags returns a package's dist-tags.
func (s *Service) DistTags(ctx context.Context, p *auth.Principal, name string) (map[string]string, error) {
	q := s.store.Q()
	pkg, err := s.loadFor(ctx, q, p, name, policy.Read)
	if err != nil {
		return nil, err
	}
	return q.DistTags(ctx, pkg.ID)
}

// SetDistTag points tag at version.
func (s *Service) SetDistTag(ctx context.Context, p *auth.Principal, name, tag, version string) error {
	if err := ValidateTag(tag); err != nil {
		return err
	}
	if err := s.preflight(ctx, p, name, policy.DistTag, policy.OTPPackageWrite); err != nil {
		return err
	}
	return s.write(ctx, func(q store.Queries) error {
		pkg, err := s.loadFor(ctx, q, p, name, policy.DistTag)
		if err != nil {
			return err
		}
		if _, err := q.VersionOf(ctx, pkg.ID, version); err != nil {
			if fault.Is(err, fault.NotFound) {
				return fault.NotFoundf("version %s of %s not found", version, name)
			}
			return err
		}
		if err := q.SetDistTag(ctx, pkg.ID, tag, version); err != nil {
			return err
		}
		return s.rebuild(ctx, q, pkg, s.now().UnixMilli())
	})
}

// DeleteDistTag removes tag; latest cannot be removed.
func (s *Service) DeleteDistTag(ctx context.Context, p *auth.Principal, name, tag string) error {
	if err := s.preflight(ctx, p, name, policy.DistTag, policy.OTPPackageWrite); err != nil {
		return err
	}
	return s.write(ctx, func(q store.Queries) error {
		pkg, err := s.loadFor(ctx, q, p, name, policy.DistTag)
		if err != nil {
			return err
		}
		if tag == "latest" {
			return fault.Invalidf("the latest dist-tag cannot be removed; point it at another version instead")
		}
		tags, err := q.DistTags(ctx, pkg.ID)
		if err != nil {
			return err
		}
		if _, ok := tags[tag]; !ok {
			return fault.NotFoundf("%s is not a dist-tag on %s", tag, name)
		}
		if err := q.DeleteDistTag(ctx, pkg.ID, tag); err != nil {
			return err
		}
		return s.rebuild(ctx, q, pkg, s.now().UnixMilli())
	})
}

// SearchHit is one search result.
type SearchHit struct {
	Name        string
	Scope       string
	Version     string
	Description string
	Keywords    []string
	Modified    time.Time
	Owners      []store.Owner
}

// Search finds packages p can see whose name, description or keywords match text.
func (s *Service) Search(ctx context.Context, p *auth.Principal, text string, from, size int) ([]SearchHit, int, error) {
	if size <= 0 {
		size = 20
	}
	if size > 250 {
		size = 250
	}
	if from < 0 {
		from = 0
	}
	var words []string
	for _, w := range strings.Fields(text) {
		if k, v, ok := strings.Cut(w, ":"); ok && (k == "keywords" || k == "keyword") {
			w = v
		}
		if w != "" {
			words = append(words, w)
		}
	}
	q := s.store.Q()
	rows, total, err := q.Search(ctx, words, p.UserID, from, size)
	if err != nil {
		return nil, 0, err
	}
	hits := make([]SearchHit, 0, len(rows))
	for _, r := range rows {
		owners, err := q.Owners(ctx, r.ID)
		if err != nil {
			return nil, 0, err
		}
		hits = append(hits, SearchHit{Name: r.Name, Scope: r.Scope, Version: r.Version, Description: r.Description,
			Keywords: strings.Fields(r.Keywords), Modified: time.UnixMilli(r.ModifiedAt), Owners: owners})
	}
	return hits, total, nil
}

// AccessSettings are a package's visibility and 2FA setting.
type AccessSettings struct {
	Access string // "public" or "restricted"
	MFA    store.PackageMFA
}

// Access returns a package's access settings, to those who may read it.
func (s *Service) Access(ctx context.Context, p *auth.Principal, name string) (AccessSettings, error) {
	q := s.store.Q()
	pkg, err := s.loadFor(ctx, q, p, name, policy.Read)
	if err != nil {
		return AccessSettings{}, err
	}
	mfa, err := q.PackageMFAOf(ctx, pkg.ID)
	if err != nil {
		return AccessSettings{}, err
	}
	return AccessSettings{Access: pkg.Access, MFA: mfa}, nil
}

// AccessChange is what POST /-/package/:pkg/access sends; nil fields stay.
type AccessChange struct {
	Access                 *string
	PublishRequiresTFA     *bool
	AutomationOverridesTFA *bool
}

// SetAccess changes a package's visibility or 2FA setting (npm access set
// status=... and mfa=...): a governance action.
func (s *Service) SetAccess(ctx context.Context, p *auth.Principal, name string, ch AccessChange) error {
	if ch.Access != nil {
		switch *ch.Access {
		case "public", "restricted":
		case "private":
			v := "restricted"
			ch.Access = &v
		default:
			return fault.Invalidf("access must be public or restricted, not %q", *ch.Access)
		}
		if scope, _ := SplitName(name); scope == "" && *ch.Access == "restricted" {
			return fault.Invalidf("Can't restrict access to unscoped packages.")
		}
	}
	if err := s.preflight(ctx, p, name, policy.ChangeAccess, policy.OTPGovernance); err != nil {
		return err
	}
	return s.write(ctx, func(q store.Queries) error {
		pkg, err := s.loadFor(ctx, q, p, name, policy.ChangeAccess)
		if err != nil {
			return err
		}
		if ch.Access != nil && *ch.Access != pkg.Access {
			if err := q.SetPackageAccess(ctx, pkg.ID, *ch.Access); err != nil {
				return err
			}
		}
		if ch.PublishRequiresTFA != nil || ch.AutomationOverridesTFA != nil {
			mfa, err := q.PackageMFAOf(ctx, pkg.ID)
			if err != nil {
				return err
			}
			if ch.PublishRequiresTFA != nil {
				mfa.PublishRequiresTFA = *ch.PublishRequiresTFA
			}
			if ch.AutomationOverridesTFA != nil {
				mfa.AutomationOverridesTFA = *ch.AutomationOverridesTFA
			}
			if err := q.SetPackageMFA(ctx, pkg.ID, mfa); err != nil {
				return err
			}
		}
		return nil
	})
}

// Collaborators lists who may touch a package and how (npm access list
// collaborators): its owners and the members of teams granted it.
func (s *Service) Collaborators(ctx context.Context, p *auth.Principal, name string) (map[string]string, error) {
	q := s.store.Q()
	pkg, err := s.loadFor(ctx, q, p, name, policy.Read)
	if err != nil {
		return nil, err
	}
	return q.Collaborators(ctx, pkg.ID)
}
