package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// Staged is a staged version's row (npm stage publish): a version uploaded
// and checked like a publish, waiting for approval.
type Staged struct {
	ID      string // a UUID
	Name    string
	Scope   string // without "@", "" for an unscoped name
	Version string
	// Tags is the dist-tags' JSON object (tag -> Version).
	Tags   []byte
	Access Access // "" when the upload asked for none
	// Manifest is the version's document as sent (JSON), without the
	// fields the registry fills in when it publishes.
	Manifest     []byte
	BlobKey      string
	Size         int64
	Shasum       string
	Integrity    string
	FileCount    int
	UnpackedSize int64
	// Provenance is the Sigstore bundle sent with the version, nil when none.
	Provenance []byte
	ActorID    int64
	ActorName  string // filled in by the reads
	ActorType  string // "user", or the kind of automation that staged it
	CreatedAt  int64
	// PackageAccess is the access of the package of that name, filled in by
	// the reads; "" when the name has no package yet.
	PackageAccess Access
}

const stagedColumns = `s.id, s.name, s.scope, s.version, s.tags, s.access, s.manifest, s.blob_key, s.size, s.shasum,
	s.integrity, s.file_count, s.unpacked_size, s.provenance, s.actor_id, u.name, s.actor_type, s.created_at,
	COALESCE((SELECT p.access FROM packages p WHERE p.name = s.name), '')`

func scanStaged(row interface{ Scan(...any) error }) (Staged, error) {
	var s Staged
	err := row.Scan(&s.ID, &s.Name, &s.Scope, &s.Version, &s.Tags, &s.Access, &s.Manifest, &s.BlobKey, &s.Size,
		&s.Shasum, &s.Integrity, &s.FileCount, &s.UnpackedSize, &s.Provenance, &s.ActorID, &s.ActorName,
		&s.ActorType, &s.CreatedAt, &s.PackageAccess)
	return s, err
}

// InsertStaged stores a staged version. A version of the same name already
// staged (build metadata aside, as MarkPublished compares them) is a
// Conflict.
func (q Queries) InsertStaged(ctx context.Context, s Staged) error {
	var provenance any
	if s.Provenance != nil {
		provenance = s.Provenance
	}
	_, err := q.exec(ctx, `INSERT INTO staged_versions (id, name, scope, version, version_core, tags, access, manifest,
		blob_key, size, shasum, integrity, file_count, unpacked_size, provenance, actor_id, actor_type, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.Name, s.Scope, s.Version, withoutBuild(s.Version), string(s.Tags), s.Access, nonNil(s.Manifest),
		s.BlobKey, s.Size, s.Shasum, s.Integrity, s.FileCount, s.UnpackedSize, provenance, s.ActorID, s.ActorType,
		s.CreatedAt)
	if err != nil {
		return fmt.Errorf("stage %s@%s: %w", s.Name, s.Version, err)
	}
	return nil
}

// StagedByID returns a staged version, NotFound when there is none.
func (q Queries) StagedByID(ctx context.Context, id string) (Staged, error) {
	s, err := scanStaged(q.row(ctx, `SELECT `+stagedColumns+` FROM staged_versions s JOIN users u ON u.id = s.actor_id
		WHERE s.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Staged{}, fault.NotFoundf("Not found")
	}
	if err != nil {
		return Staged{}, fmt.Errorf("read staged version: %w", q.d.mapError(err))
	}
	return s, nil
}

// IsStaged reports whether a version of name equal to version (build
// metadata aside) is staged.
func (q Queries) IsStaged(ctx context.Context, name, version string) (bool, error) {
	var n int
	if err := q.row(ctx, `SELECT COUNT(*) FROM staged_versions WHERE name = ? AND version_core = ?`,
		name, withoutBuild(version)).Scan(&n); err != nil {
		return false, fmt.Errorf("check staged: %w", q.d.mapError(err))
	}
	return n > 0, nil
}

// DeleteStaged removes a staged version; one that is not there is NotFound.
func (q Queries) DeleteStaged(ctx context.Context, id string) error {
	res, err := q.exec(ctx, `DELETE FROM staged_versions WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete staged version: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete staged version: %w", err)
	} else if n == 0 {
		return fault.NotFoundf("Not found")
	}
	return nil
}

// StagedFilter says which staged versions a list shows.
type StagedFilter struct {
	// Viewer is the user listing; 0 lists nothing.
	Viewer int64
	// Reach is what the viewer's credential may read: a staged version of a
	// package outside it is left out, whoever staged it.
	Reach Reach
	// Package, when not "", keeps the staged versions of that name only.
	Package string
	// Actor, when not 0, keeps the versions that user staged only.
	Actor int64
}

// stagedVisible is the condition, on staged_versions s, that policy's
// DecideStaged states for viewing one staged version: the credential
// reaches the package's name, and the viewer staged it, may write the
// package (owner, a read-write team grant, an owner or admin of its
// scope's organization), or, for a name with no package yet, is an owner
// or admin of its scope's organization.
const stagedVisible = `(s.actor_id = ?
	OR EXISTS (SELECT 1 FROM packages p JOIN owners o ON o.package_id = p.id WHERE p.name = s.name AND o.user_id = ?)
	OR EXISTS (SELECT 1 FROM packages p JOIN team_packages g ON g.package_id = p.id
		JOIN team_members m ON m.team_id = g.team_id
		WHERE p.name = s.name AND m.user_id = ? AND g.permission = 'read-write')
	OR EXISTS (SELECT 1 FROM orgs og JOIN org_members om ON om.org_id = og.id
		WHERE s.scope <> '' AND og.name = s.scope AND om.user_id = ? AND om.role IN ('owner', 'admin')))`

// StagedList returns one page (page counted from 0) of the staged versions
// f shows, newest first, and how many it shows in all.
func (q Queries) StagedList(ctx context.Context, f StagedFilter, page, perPage int) ([]Staged, int, error) {
	if f.Viewer == 0 {
		return nil, 0, nil
	}
	reachCond, reachArgs := f.Reach.reachSQLOn("s")
	cond := reachCond + ` AND ` + stagedVisible
	args := append(reachArgs, f.Viewer, f.Viewer, f.Viewer, f.Viewer)
	if f.Package != "" {
		cond += ` AND s.name = ?`
		args = append(args, f.Package)
	}
	if f.Actor != 0 {
		cond += ` AND s.actor_id = ?`
		args = append(args, f.Actor)
	}
	var total int
	if err := q.row(ctx, `SELECT COUNT(*) FROM staged_versions s WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count staged versions: %w", q.d.mapError(err))
	}
	rows, err := q.query(ctx, `SELECT `+stagedColumns+` FROM staged_versions s JOIN users u ON u.id = s.actor_id
		WHERE `+cond+` ORDER BY s.created_at DESC, s.id LIMIT ? OFFSET ?`, append(args, perPage, page*perPage)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list staged versions: %w", err)
	}
	defer rows.Close()
	var out []Staged
	for rows.Next() {
		s, err := scanStaged(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("scan staged version: %w", err)
		}
		out = append(out, s)
	}
	return out, total, rows.Err()
}

// Attestation is a version's provenance: the Sigstore bundle its publish
// carried and the bundle's predicate type.
type Attestation struct {
	PredicateType string
	Bundle        []byte
}

// PutAttestation stores the provenance of a version of the package.
func (q Queries) PutAttestation(ctx context.Context, packageID int64, version string, a Attestation) error {
	if _, err := q.exec(ctx, `INSERT INTO attestations (package_id, version, predicate_type, bundle) VALUES (?, ?, ?, ?)`,
		packageID, version, a.PredicateType, nonNil(a.Bundle)); err != nil {
		return fmt.Errorf("store the attestation of %s: %w", version, err)
	}
	return nil
}

// AttestationOf returns a version's provenance, NotFound when it has none.
func (q Queries) AttestationOf(ctx context.Context, packageID int64, version string) (Attestation, error) {
	var a Attestation
	err := q.row(ctx, `SELECT predicate_type, bundle FROM attestations WHERE package_id = ? AND version = ?`,
		packageID, version).Scan(&a.PredicateType, &a.Bundle)
	if errors.Is(err, sql.ErrNoRows) {
		return Attestation{}, fault.NotFoundf("Not found")
	}
	if err != nil {
		return Attestation{}, fmt.Errorf("read attestation: %w", q.d.mapError(err))
	}
	return a, nil
}
