package store

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// Access is a package's visibility.
type Access string

// The package visibilities.
const (
	Public     Access = "public"     // anyone may read it
	Restricted Access = "restricted" // only those the policy lets read it; scoped packages only
)

// Package is a package's row. Packument and Abbreviated are the prebuilt
// documents served on reads (with the tarball base URL left as a placeholder).
type Package struct {
	ID          int64
	Name        string
	Scope       string
	Access      Access
	Description string
	Keywords    string // space-separated, lowercase
	Rev         int64
	CreatedAt   int64
	ModifiedAt  int64
	Packument   []byte
	Abbreviated []byte
}

// Version is one published version.
type Version struct {
	PackageID   int64
	Version     string
	Manifest    []byte // the version document as served, JSON
	BlobKey     string
	Size        int64
	PublishedAt int64
}

// Owner is a package owner as listed in maintainers.
type Owner struct {
	UserID int64
	Name   string
	Email  string
}

const packageMetaColumns = `id, name, scope, access, description, keywords, rev, created_at, modified_at`

// The hot reads by name, each answered from the covering indexes of
// migration 0031 (packages_meta on SQLite, versions_file on both): a miss
// of the document cache reads two random pages, not four.
var (
	packageByNameQuery = hinted(`SELECT ` + packageMetaColumns + ` FROM packages{{packages_meta}} WHERE name = ?`)
	abbreviatedQuery   = hinted(`SELECT p.id, p.name, p.scope, p.access, p.description, p.keywords, p.rev,
		p.created_at, p.modified_at, a.doc FROM packages p{{packages_meta}}
		JOIN package_abbreviated a ON a.package_id = p.id WHERE p.name = ?`)
	versionFileQuery = hinted(`SELECT p.id, p.name, p.scope, p.access, p.description, p.keywords, p.rev,
		p.created_at, p.modified_at, v.blob_key, v.size, v.published_at
		FROM packages p{{packages_meta}} LEFT JOIN versions v{{versions_file}}
		ON v.package_id = p.id AND v.version = ? WHERE p.name = ?`)
)

// packageNamesQuery is one page of PackageNames.
const packageNamesQuery = `SELECT name FROM packages WHERE name > ? ORDER BY name LIMIT ?`

func scanPackageMeta(row interface{ Scan(...any) error }) (Package, error) {
	var p Package
	err := row.Scan(&p.ID, &p.Name, &p.Scope, &p.Access, &p.Description, &p.Keywords, &p.Rev, &p.CreatedAt, &p.ModifiedAt)
	return p, err
}

// PackageByName returns a package's row without its documents.
func (q Queries) PackageByName(ctx context.Context, name string) (Package, error) {
	pq, pctx := q.point(ctx)
	p, err := scanPackageMeta(pq.row(pctx, packageByNameQuery.of(q.d), name))
	if err != nil {
		return Package{}, q.scanErr(err, "package not found")
	}
	return p, nil
}

// PackageDocument returns a package's row with one of its prebuilt documents:
// the abbreviated one when abbreviated is true, else the full packument. The
// abbreviated one lives in a table of its own (package_abbreviated), so
// reading it never reads the full one's bytes.
func (q Queries) PackageDocument(ctx context.Context, name string, abbreviated bool) (Package, error) {
	var p Package
	err := q.PackageDocumentFunc(ctx, name, abbreviated, func(row Package, doc []byte) {
		p = row
		if abbreviated {
			p.Abbreviated = bytes.Clone(doc)
		} else {
			p.Packument = bytes.Clone(doc)
		}
	})
	return p, err
}

// PackageDocumentFunc reads what PackageDocument does and passes it to use
// (the row without its documents, and the document's bytes), without
// copying the document out of the driver first: doc is valid only until
// use returns, and use must copy what it keeps. It is the read of a
// document cache's miss, which fills the document into the bytes it keeps
// in one copy.
func (q Queries) PackageDocumentFunc(ctx context.Context, name string, abbreviated bool, use func(p Package, doc []byte)) error {
	query := `SELECT ` + packageMetaColumns + `, packument FROM packages WHERE name = ?`
	if abbreviated {
		query = abbreviatedQuery.of(q.d)
	}
	pq, pctx := q.point(ctx)
	rows, err := pq.query(pctx, query, name)
	if err != nil {
		return fmt.Errorf("read document of %q: %w", name, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read document of %q: %w", name, q.d.mapError(err))
		}
		return fault.NotFoundf("package not found")
	}
	var p Package
	var doc sql.RawBytes
	if err := rows.Scan(&p.ID, &p.Name, &p.Scope, &p.Access, &p.Description, &p.Keywords, &p.Rev,
		&p.CreatedAt, &p.ModifiedAt, &doc); err != nil {
		return fmt.Errorf("read document of %q: %w", name, err)
	}
	use(p, doc)
	return nil
}

// CreatePackage inserts a package row and its abbreviated document's row
// (documents may be empty until SavePackage).
func (q Queries) CreatePackage(ctx context.Context, p Package) (Package, error) {
	err := q.row(ctx, `INSERT INTO packages (name, scope, access, description, keywords, rev, created_at, modified_at,
		packument) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		p.Name, p.Scope, p.Access, p.Description, p.Keywords, p.Rev, p.CreatedAt, p.ModifiedAt,
		nonNil(p.Packument)).Scan(&p.ID)
	if err != nil {
		return Package{}, fmt.Errorf("create package %q: %w", p.Name, q.d.mapError(err))
	}
	if _, err := q.exec(ctx, `INSERT INTO package_abbreviated (package_id, doc) VALUES (?, ?)`,
		p.ID, nonNil(p.Abbreviated)); err != nil {
		return Package{}, fmt.Errorf("create package %q: abbreviated document: %w", p.Name, q.d.mapError(err))
	}
	return p, nil
}

// SavePackage writes a package's mutable columns and documents.
func (q Queries) SavePackage(ctx context.Context, p Package) error {
	_, err := q.exec(ctx, `UPDATE packages SET access = ?, description = ?, keywords = ?, rev = ?, modified_at = ?,
		packument = ? WHERE id = ?`,
		p.Access, p.Description, p.Keywords, p.Rev, p.ModifiedAt, nonNil(p.Packument), p.ID)
	if err != nil {
		return fmt.Errorf("save package %q: %w", p.Name, err)
	}
	_, err = q.exec(ctx, `INSERT INTO package_abbreviated (package_id, doc) VALUES (?, ?)
		ON CONFLICT (package_id) DO UPDATE SET doc = excluded.doc`, p.ID, nonNil(p.Abbreviated))
	if err != nil {
		return fmt.Errorf("save package %q: abbreviated document: %w", p.Name, err)
	}
	return nil
}

// PackageNames returns, in order, up to limit names of packages that come
// after after (every name when after is ""): one page of a scan of every
// package's name, read from the index on name alone. Each page is a query
// of its own, so a scan of a big store holds no read transaction open.
func (q Queries) PackageNames(ctx context.Context, after string, limit int) ([]string, error) {
	rows, err := q.query(ctx, packageNamesQuery, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list package names: %w", err)
	}
	defer rows.Close()
	names := make([]string, 0, min(limit, 1024))
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("list package names: %w", err)
		}
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list package names: %w", q.d.mapError(err))
	}
	return names, nil
}

// DeletePackage removes a package with its versions, tags and owners. The
// published_versions record stays.
func (q Queries) DeletePackage(ctx context.Context, id int64) error {
	if _, err := q.exec(ctx, `DELETE FROM packages WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete package: %w", err)
	}
	return nil
}

// Versions returns every version of a package, in no particular order.
func (q Queries) Versions(ctx context.Context, packageID int64) ([]Version, error) {
	rows, err := q.query(ctx, `SELECT package_id, version, manifest, blob_key, size, published_at
		FROM versions WHERE package_id = ?`, packageID)
	if err != nil {
		return nil, fmt.Errorf("list versions: %w", err)
	}
	defer rows.Close()
	var out []Version
	for rows.Next() {
		var v Version
		if err := rows.Scan(&v.PackageID, &v.Version, &v.Manifest, &v.BlobKey, &v.Size, &v.PublishedAt); err != nil {
			return nil, fmt.Errorf("scan version: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// VersionOf returns one version of a package.
func (q Queries) VersionOf(ctx context.Context, packageID int64, version string) (Version, error) {
	var v Version
	err := q.row(ctx, `SELECT package_id, version, manifest, blob_key, size, published_at
		FROM versions WHERE package_id = ? AND version = ?`, packageID, version).Scan(
		&v.PackageID, &v.Version, &v.Manifest, &v.BlobKey, &v.Size, &v.PublishedAt)
	if err != nil {
		return Version{}, q.scanErr(err, "version not found")
	}
	return v, nil
}

// VersionFile returns a version's row without its manifest: what serving
// its tarball needs.
func (q Queries) VersionFile(ctx context.Context, packageID int64, version string) (Version, error) {
	v := Version{PackageID: packageID, Version: version}
	err := q.row(ctx, `SELECT blob_key, size, published_at FROM versions WHERE package_id = ? AND version = ?`,
		packageID, version).Scan(&v.BlobKey, &v.Size, &v.PublishedAt)
	if err != nil {
		return Version{}, q.scanErr(err, "version not found")
	}
	return v, nil
}

// PackageVersionFile returns, in one query, what serving a tarball needs
// when nothing is cached: the package's row without its documents, as
// PackageByName, and its version's row without the manifest, as
// VersionFile, with found false when the package has no such version. A
// missing package is NotFound.
func (q Queries) PackageVersionFile(ctx context.Context, name, version string) (p Package, v Version, found bool, err error) {
	var key sql.NullString
	var size, published sql.NullInt64
	pq, pctx := q.point(ctx)
	err = pq.row(pctx, versionFileQuery.of(q.d), version, name).Scan(&p.ID, &p.Name, &p.Scope, &p.Access, &p.Description, &p.Keywords, &p.Rev,
		&p.CreatedAt, &p.ModifiedAt, &key, &size, &published)
	if err != nil {
		return Package{}, Version{}, false, q.scanErr(err, "package not found")
	}
	if !key.Valid {
		return p, Version{}, false, nil
	}
	return p, Version{PackageID: p.ID, Version: version, BlobKey: key.String, Size: size.Int64,
		PublishedAt: published.Int64}, true, nil
}

// InsertVersion adds a version; a version that exists is a Conflict.
func (q Queries) InsertVersion(ctx context.Context, v Version) error {
	_, err := q.exec(ctx, `INSERT INTO versions (package_id, version, manifest, blob_key, size, published_at)
		VALUES (?, ?, ?, ?, ?, ?)`, v.PackageID, v.Version, v.Manifest, v.BlobKey, v.Size, v.PublishedAt)
	if err != nil {
		return fmt.Errorf("insert version %s: %w", v.Version, err)
	}
	return nil
}

// UpdateVersionManifest replaces a version's document (deprecation).
func (q Queries) UpdateVersionManifest(ctx context.Context, packageID int64, version string, manifest []byte) error {
	_, err := q.exec(ctx, `UPDATE versions SET manifest = ? WHERE package_id = ? AND version = ?`, manifest, packageID, version)
	if err != nil {
		return fmt.Errorf("update version %s: %w", version, err)
	}
	return nil
}

// DeleteVersion removes one version and its attestation.
func (q Queries) DeleteVersion(ctx context.Context, packageID int64, version string) error {
	if _, err := q.exec(ctx, `DELETE FROM attestations WHERE package_id = ? AND version = ?`, packageID, version); err != nil {
		return fmt.Errorf("delete the attestation of %s: %w", version, err)
	}
	if _, err := q.exec(ctx, `DELETE FROM versions WHERE package_id = ? AND version = ?`, packageID, version); err != nil {
		return fmt.Errorf("delete version %s: %w", version, err)
	}
	return nil
}

// blobBatch bounds how many keys one ReferencedBlobs query asks about, well
// under the bind-parameter limits of SQLite (32766) and PostgreSQL (65535).
const blobBatch = 500

// ReferencedBlobs returns which of keys some version's tarball still uses
// (versions.blob_key, the tarball's content address), or a tarball cached
// from an uplink (uplink_tarballs.blob_key), or a staged version's
// (staged_versions.blob_key), looked up through the versions_by_blob,
// uplink_tarballs_by_blob and staged_by_blob indexes a batch at a time.
// Keys nothing uses are absent from the result. Blobs are
// content-addressed, so one blob may serve several versions: it is
// referenced while any of them remains.
func (q Queries) ReferencedBlobs(ctx context.Context, keys []string) (map[string]bool, error) {
	found := make(map[string]bool)
	for start := 0; start < len(keys); start += blobBatch {
		batch := keys[start:min(start+blobBatch, len(keys))]
		args := make([]any, 3*len(batch))
		for i, k := range batch {
			args[i], args[len(batch)+i], args[2*len(batch)+i] = k, k, k
		}
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(batch)), ", ")
		rows, err := q.query(ctx, `SELECT blob_key FROM versions WHERE blob_key IN (`+marks+`)
			UNION SELECT blob_key FROM uplink_tarballs WHERE blob_key IN (`+marks+`)
			UNION SELECT blob_key FROM staged_versions WHERE blob_key IN (`+marks+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("look up blob references: %w", err)
		}
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return nil, fmt.Errorf("scan blob reference: %w", err)
			}
			found[k] = true
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("look up blob references: %w", err)
		}
	}
	return found, nil
}

// MarkPublished records name@version as used forever; a second call for the
// same version is a Conflict. Versions that differ only in build metadata
// ("1.0.0" and "1.0.0+build") are one version, as npm compares them: the row
// holds the version without its build metadata, so that two publishes of
// such versions, even at once on two nodes, cannot both succeed.
func (q Queries) MarkPublished(ctx context.Context, name, version string) error {
	if _, err := q.exec(ctx, `INSERT INTO published_versions (name, version) VALUES (?, ?)`, name, withoutBuild(version)); err != nil {
		return fmt.Errorf("mark %s@%s published: %w", name, version, err)
	}
	return nil
}

// WasPublished reports whether name@version, or a version that differs from
// it only in build metadata, was ever published (rows written before
// MarkPublished dropped build metadata included).
func (q Queries) WasPublished(ctx context.Context, name, version string) (bool, error) {
	core := withoutBuild(version)
	var n int
	if err := q.row(ctx, `SELECT COUNT(*) FROM published_versions WHERE name = ? AND (version = ? OR substr(version, 1, ?) = ?)`,
		name, core, len(core)+1, core+"+").Scan(&n); err != nil {
		return false, fmt.Errorf("check published: %w", q.d.mapError(err))
	}
	return n > 0, nil
}

// withoutBuild is a version without its build metadata ("+" and what
// follows).
func withoutBuild(version string) string {
	core, _, _ := strings.Cut(version, "+")
	return core
}

// DistTags returns a package's dist-tags.
func (q Queries) DistTags(ctx context.Context, packageID int64) (map[string]string, error) {
	rows, err := q.query(ctx, `SELECT tag, version FROM dist_tags WHERE package_id = ?`, packageID)
	if err != nil {
		return nil, fmt.Errorf("list dist-tags: %w", err)
	}
	defer rows.Close()
	tags := map[string]string{}
	for rows.Next() {
		var t, v string
		if err := rows.Scan(&t, &v); err != nil {
			return nil, fmt.Errorf("scan dist-tag: %w", err)
		}
		tags[t] = v
	}
	return tags, rows.Err()
}

// SetDistTag points tag at version.
func (q Queries) SetDistTag(ctx context.Context, packageID int64, tag, version string) error {
	_, err := q.exec(ctx, `INSERT INTO dist_tags (package_id, tag, version) VALUES (?, ?, ?)
		ON CONFLICT (package_id, tag) DO UPDATE SET version = excluded.version`, packageID, tag, version)
	if err != nil {
		return fmt.Errorf("set dist-tag %s: %w", tag, err)
	}
	return nil
}

// DeleteDistTag removes a tag.
func (q Queries) DeleteDistTag(ctx context.Context, packageID int64, tag string) error {
	if _, err := q.exec(ctx, `DELETE FROM dist_tags WHERE package_id = ? AND tag = ?`, packageID, tag); err != nil {
		return fmt.Errorf("delete dist-tag %s: %w", tag, err)
	}
	return nil
}

// Owners returns a package's owners, by name.
func (q Queries) Owners(ctx context.Context, packageID int64) ([]Owner, error) {
	rows, err := q.query(ctx, `SELECT u.id, u.name, u.email FROM owners o JOIN users u ON u.id = o.user_id
		WHERE o.package_id = ? ORDER BY u.name`, packageID)
	if err != nil {
		return nil, fmt.Errorf("list owners: %w", err)
	}
	defer rows.Close()
	var out []Owner
	for rows.Next() {
		var o Owner
		if err := rows.Scan(&o.UserID, &o.Name, &o.Email); err != nil {
			return nil, fmt.Errorf("scan owner: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// IsOwner reports whether the user owns the package.
func (q Queries) IsOwner(ctx context.Context, packageID, userID int64) (bool, error) {
	var n int
	err := q.row(ctx, `SELECT COUNT(*) FROM owners WHERE package_id = ? AND user_id = ?`, packageID, userID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("check owner: %w", q.d.mapError(err))
	}
	return n > 0, nil
}

// AddOwner makes the user an owner (no-op if already).
func (q Queries) AddOwner(ctx context.Context, packageID, userID int64) error {
	_, err := q.exec(ctx, `INSERT INTO owners (package_id, user_id, created_at) VALUES (?, ?, ?)
		ON CONFLICT (package_id, user_id) DO NOTHING`, packageID, userID, Now())
	if err != nil {
		return fmt.Errorf("add owner: %w", err)
	}
	return nil
}

// RemoveOwner removes the user from the owners.
func (q Queries) RemoveOwner(ctx context.Context, packageID, userID int64) error {
	if _, err := q.exec(ctx, `DELETE FROM owners WHERE package_id = ? AND user_id = ?`, packageID, userID); err != nil {
		return fmt.Errorf("remove owner: %w", err)
	}
	return nil
}

// SearchResult is one package found by Search.
type SearchResult struct {
	Package
	Version string // the latest dist-tag
}

// Reach is which restricted packages a credential may read, within what its
// user may read (policy.CredentialReach says it for a credential): every
// one (All), or those named in Names or of a scope in Scopes (without "@").
// Public packages are readable whatever the reach, unless Private is set.
type Reach struct {
	All    bool
	Names  []string
	Scopes []string
	// Private limits public packages to the reach too: on a private
	// registry (read_access authenticated) a credential reads a public
	// package only when it reaches it.
	Private bool
}

// Covers reports whether the reach includes the restricted package name of
// scope, as Search decides it.
func (r Reach) Covers(name, scope string) bool {
	return r.All || slices.Contains(r.Names[:min(len(r.Names), maxReachNames)], name) ||
		scope != "" && slices.Contains(r.Scopes[:min(len(r.Scopes), maxReachNames)], scope)
}

// maxReachNames bounds the names and the scopes of a Reach that a query
// takes; a longer list is cut there (a search then shows less, never more).
const maxReachNames = 1000

// reachSQL is the condition on packages p that the reach allows for a
// restricted package, and its arguments.
func (r Reach) reachSQL() (string, []any) { return r.reachSQLOn("p") }

// reachSQLOn is reachSQL on the rows of alias, which have name and scope
// columns.
func (r Reach) reachSQLOn(alias string) (string, []any) {
	if r.All {
		return "1 = 1", nil
	}
	var conds []string
	var args []any
	in := func(column string, values []string) {
		values = values[:min(len(values), maxReachNames)]
		if len(values) == 0 {
			return
		}
		conds = append(conds, column+" IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(values)), ", ")+")")
		for _, v := range values {
			args = append(args, v)
		}
	}
	in(alias+".name", r.Names)
	in(alias+".scope", r.Scopes)
	if len(conds) == 0 {
		return "1 = 0", nil
	}
	return "(" + strings.Join(conds, " OR ") + ")", args
}

// Search finds packages whose name, description or keywords contain every
// word of text, visible to viewerID (viewerID 0 is anonymous) through a
// credential of the given reach. It returns one page and the total.
func (q Queries) Search(ctx context.Context, words []string, viewerID int64, reach Reach, from, size int) ([]SearchResult, int, error) {
	// Visible: public, or the viewer owns it, reaches it through a team, or
	// administers the organization of its scope (policy's read rule), and
	// the credential reaches it.
	reachCond, reachArgs := reach.reachSQL()
	public := `p.access = 'public'`
	if reach.Private {
		public = `(p.access = 'public' AND ` + reachCond + `)`
		reachArgs = append(slices.Clone(reachArgs), reachArgs...)
	}
	where := []string{`(` + public + ` OR (` + reachCond + ` AND (
		EXISTS (SELECT 1 FROM owners o WHERE o.package_id = p.id AND o.user_id = ?)
		OR EXISTS (SELECT 1 FROM team_packages g JOIN team_members m ON m.team_id = g.team_id
			WHERE g.package_id = p.id AND m.user_id = ?)
		OR EXISTS (SELECT 1 FROM orgs og JOIN org_members om ON om.org_id = og.id
			WHERE og.name = p.scope AND om.user_id = ? AND om.role IN ('owner', 'admin')))))`}
	args := append(reachArgs, viewerID, viewerID, viewerID)
	for _, w := range words {
		pattern := "%" + escapeLike(strings.ToLower(w)) + "%"
		where = append(where, `(p.name LIKE ? ESCAPE '\' OR lower(p.description) LIKE ? ESCAPE '\' OR p.keywords LIKE ? ESCAPE '\')`)
		args = append(args, pattern, pattern, pattern)
	}
	cond := strings.Join(where, " AND ")
	var total int
	if err := q.row(ctx, `SELECT COUNT(*) FROM packages p WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count search: %w", q.d.mapError(err))
	}
	rows, err := q.query(ctx, `SELECT p.id, p.name, p.scope, p.access, p.description, p.keywords, p.rev, p.created_at,
		p.modified_at, COALESCE((SELECT version FROM dist_tags t WHERE t.package_id = p.id AND t.tag = 'latest'), '')
		FROM packages p WHERE `+cond+` ORDER BY (p.name = ?) DESC, length(p.name), p.name LIMIT ? OFFSET ?`,
		append(args, strings.ToLower(strings.Join(words, " ")), size, from)...)
	if err != nil {
		return nil, 0, fmt.Errorf("search: %w", err)
	}
	defer rows.Close()
	var out []SearchResult
	for rows.Next() {
		var r SearchResult
		if err := rows.Scan(&r.ID, &r.Name, &r.Scope, &r.Access, &r.Description, &r.Keywords, &r.Rev, &r.CreatedAt,
			&r.ModifiedAt, &r.Version); err != nil {
			return nil, 0, fmt.Errorf("scan search: %w", err)
		}
		out = append(out, r)
	}
	return out, total, rows.Err()
}

func escapeLike(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
