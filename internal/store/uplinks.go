package store

import (
	"context"
	"fmt"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// The kinds of packument an uplink serves, as UplinkDocument.Kind holds them.
const (
	DocumentFull        = "full"
	DocumentAbbreviated = "abbreviated"
)

// UplinkDocument is a packument as an uplink sent it, cached for the package
// Name. Nothing in it is rewritten: tarball links and the supply-chain gates
// are applied when it is served.
type UplinkDocument struct {
	Name string
	// Kind is DocumentFull or DocumentAbbreviated.
	Kind string
	// Uplink names the uplink that sent it.
	Uplink string
	Body   []byte
	// ETag and LastModified are the uplink's validators of Body, "" when it
	// gave none.
	ETag, LastModified string
	// FetchedAt is when the uplink last sent or confirmed Body, ChangedAt
	// when Body last changed (Unix milliseconds).
	FetchedAt, ChangedAt int64
}

// UplinkTarball is a tarball fetched from an uplink and verified against
// the integrity its packument gave.
type UplinkTarball struct {
	Name, Version string
	Uplink        string
	// BlobKey is the tarball's content address in the blob store.
	BlobKey string
	Size    int64
	// PublishedAt is when the uplink says the version was published, 0
	// when it did not say (Unix milliseconds).
	PublishedAt int64
	FetchedAt   int64
}

// UplinkDocument returns the cached packument of kind for name; NotFound
// when none is cached.
func (q Queries) UplinkDocument(ctx context.Context, name, kind string) (UplinkDocument, error) {
	d := UplinkDocument{Name: name, Kind: kind}
	err := q.row(ctx, `SELECT uplink, body, etag, last_modified, fetched_at, changed_at
		FROM uplink_documents WHERE name = ? AND kind = ?`, name, kind).Scan(
		&d.Uplink, &d.Body, &d.ETag, &d.LastModified, &d.FetchedAt, &d.ChangedAt)
	if err != nil {
		return UplinkDocument{}, q.scanErr(err, "no cached packument")
	}
	return d, nil
}

// SaveUplinkDocument stores d, replacing what was cached of its name and kind.
func (q Queries) SaveUplinkDocument(ctx context.Context, d UplinkDocument) error {
	_, err := q.exec(ctx, `INSERT INTO uplink_documents (name, kind, uplink, body, etag, last_modified, fetched_at, changed_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name, kind) DO UPDATE SET uplink = excluded.uplink, body = excluded.body, etag = excluded.etag,
			last_modified = excluded.last_modified, fetched_at = excluded.fetched_at, changed_at = excluded.changed_at`,
		d.Name, d.Kind, d.Uplink, nonNil(d.Body), d.ETag, d.LastModified, d.FetchedAt, d.ChangedAt)
	if err != nil {
		return fmt.Errorf("save cached packument of %s: %w", d.Name, err)
	}
	return nil
}

// TouchUplinkDocument records that the uplink confirmed the cached
// packument of name and kind (304 Not Modified) at fetchedAt, with the
// validators it sent; an empty validator keeps the one stored.
func (q Queries) TouchUplinkDocument(ctx context.Context, name, kind string, fetchedAt int64, etag, lastModified string) error {
	_, err := q.exec(ctx, `UPDATE uplink_documents SET fetched_at = ?,
		etag = CASE WHEN ? = '' THEN etag ELSE ? END,
		last_modified = CASE WHEN ? = '' THEN last_modified ELSE ? END
		WHERE name = ? AND kind = ?`, fetchedAt, etag, etag, lastModified, lastModified, name, kind)
	if err != nil {
		return fmt.Errorf("touch cached packument of %s: %w", name, err)
	}
	return nil
}

// DeleteUplinkDocuments forgets the cached packuments of name (the
// tarballs stay).
func (q Queries) DeleteUplinkDocuments(ctx context.Context, name string) error {
	if _, err := q.exec(ctx, `DELETE FROM uplink_documents WHERE name = ?`, name); err != nil {
		return fmt.Errorf("delete cached packuments of %s: %w", name, err)
	}
	return nil
}

// CachedUplinkOf returns the uplink whose packument of name is cached;
// NotFound when none is.
func (q Queries) CachedUplinkOf(ctx context.Context, name string) (string, error) {
	var uplink string
	err := q.row(ctx, `SELECT uplink FROM uplink_documents WHERE name = ? ORDER BY kind LIMIT 1`, name).Scan(&uplink)
	if err != nil {
		return "", q.scanErr(err, "no cached packument")
	}
	return uplink, nil
}

// UplinkTarball returns the cached tarball of name@version; NotFound when
// none is cached.
func (q Queries) UplinkTarball(ctx context.Context, name, version string) (UplinkTarball, error) {
	t := UplinkTarball{Name: name, Version: version}
	err := q.row(ctx, `SELECT uplink, blob_key, size, published_at, fetched_at
		FROM uplink_tarballs WHERE name = ? AND version = ?`, name, version).Scan(
		&t.Uplink, &t.BlobKey, &t.Size, &t.PublishedAt, &t.FetchedAt)
	if err != nil {
		return UplinkTarball{}, q.scanErr(err, "no cached tarball")
	}
	return t, nil
}

// SaveUplinkTarball records a verified tarball, replacing what was recorded
// of the same name and version.
func (q Queries) SaveUplinkTarball(ctx context.Context, t UplinkTarball) error {
	_, err := q.exec(ctx, `INSERT INTO uplink_tarballs (name, version, uplink, blob_key, size, published_at, fetched_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name, version) DO UPDATE SET uplink = excluded.uplink, blob_key = excluded.blob_key,
			size = excluded.size, published_at = excluded.published_at, fetched_at = excluded.fetched_at`,
		t.Name, t.Version, t.Uplink, t.BlobKey, t.Size, t.PublishedAt, t.FetchedAt)
	if err != nil {
		return fmt.Errorf("save cached tarball %s@%s: %w", t.Name, t.Version, err)
	}
	return nil
}

// DeleteUplinkTarball forgets the cached tarball of name@version.
func (q Queries) DeleteUplinkTarball(ctx context.Context, name, version string) error {
	if _, err := q.exec(ctx, `DELETE FROM uplink_tarballs WHERE name = ? AND version = ?`, name, version); err != nil {
		return fmt.Errorf("delete cached tarball %s@%s: %w", name, version, err)
	}
	return nil
}

// ForgetUplinkPackage forgets everything cached of name from an uplink: its
// packuments and its tarballs' records (the blobs stay until gatehouse gc
// finds them unreferenced).
func (q Queries) ForgetUplinkPackage(ctx context.Context, name string) error {
	if err := q.DeleteUplinkDocuments(ctx, name); err != nil {
		return err
	}
	if _, err := q.exec(ctx, `DELETE FROM uplink_tarballs WHERE name = ?`, name); err != nil {
		return fmt.Errorf("delete cached tarballs of %s: %w", name, err)
	}
	return nil
}

// IsLocalName reports whether name belongs to this registry, so that no
// uplink may ever serve it: a package of that name exists or was ever
// published here (published_versions outlives an unpublish), or scope (its
// scope without "@", "" for an unscoped name) is a user's or an
// organization's.
func (q Queries) IsLocalName(ctx context.Context, name, scope string) (bool, error) {
	var n int
	err := q.row(ctx, `SELECT
		(SELECT COUNT(*) FROM (SELECT 1 FROM packages WHERE name = ? LIMIT 1) p) +
		(SELECT COUNT(*) FROM (SELECT 1 FROM published_versions WHERE name = ? LIMIT 1) v) +
		(SELECT COUNT(*) FROM users WHERE ? <> '' AND name = ?) +
		(SELECT COUNT(*) FROM orgs WHERE ? <> '' AND name = ?)`,
		name, name, scope, scope, scope, scope).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("check whether %s is a local name: %w", name, q.d.mapError(err))
	}
	return n > 0, nil
}

// CachedPackage sums up what is cached of one package served from an
// uplink, for `gatehouse cache ls`.
type CachedPackage struct {
	Name, Uplink string
	// Tarballs is how many of its tarballs are cached, Bytes their size.
	Tarballs int
	Bytes    int64
	// FetchedAt is when anything of it was last fetched or revalidated
	// (Unix milliseconds).
	FetchedAt int64
}

// CachedPackages lists the packages cached from uplinks, by name.
func (q Queries) CachedPackages(ctx context.Context) ([]CachedPackage, error) {
	rows, err := q.query(ctx, `SELECT name, MIN(uplink), CAST(SUM(tarballs) AS BIGINT), CAST(SUM(bytes) AS BIGINT), MAX(fetched)
		FROM (SELECT name, uplink, 0 AS tarballs, 0 AS bytes, fetched_at AS fetched FROM uplink_documents
			UNION ALL SELECT name, uplink, 1, size, fetched_at FROM uplink_tarballs) c
		GROUP BY name ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list cached packages: %w", q.d.mapError(err))
	}
	defer rows.Close()
	var out []CachedPackage
	for rows.Next() {
		var c CachedPackage
		if err := rows.Scan(&c.Name, &c.Uplink, &c.Tarballs, &c.Bytes, &c.FetchedAt); err != nil {
			return nil, fmt.Errorf("list cached packages: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list cached packages: %w", err)
	}
	return out, nil
}

// PurgeCachedPackage forgets everything cached of name from an uplink and
// tells the other nodes through the change feed, for `gatehouse cache
// purge`. A local name (IsLocalName; scope is its scope without "@", ""
// when unscoped) is refused: its packages are not a cache. NotFound when
// nothing of name is cached. The tarballs' blobs stay until gatehouse gc
// finds them unreferenced.
func (s *Store) PurgeCachedPackage(ctx context.Context, name, scope string) error {
	return s.InTx(ctx, func(q Queries) error {
		local, err := q.IsLocalName(ctx, name, scope)
		if err != nil {
			return err
		}
		if local {
			return fault.Invalidf("%s is a local name, not a cached package: it is never purged (unpublish it to remove it)", name)
		}
		var n int
		if err := q.row(ctx, `SELECT (SELECT COUNT(*) FROM uplink_documents WHERE name = ?) +
			(SELECT COUNT(*) FROM uplink_tarballs WHERE name = ?)`, name, name).Scan(&n); err != nil {
			return fmt.Errorf("purge %s: %w", name, q.d.mapError(err))
		}
		if n == 0 {
			return fault.NotFoundf("nothing of %s is cached", name)
		}
		if err := q.ForgetUplinkPackage(ctx, name); err != nil {
			return err
		}
		return q.Publish(ctx, Change{Kind: UplinkChanged, Key: name})
	})
}
