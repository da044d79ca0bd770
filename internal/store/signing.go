package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// SigningKey is a registry signing key's row (package signing holds the
// keys themselves).
type SigningKey struct {
	// KeyID is npm's key id: "SHA256:" and the unpadded base64 of the
	// SHA-256 of PublicKey.
	KeyID string
	// PublicKey is the SPKI DER of the public key.
	PublicKey []byte
	// SealedPrivateKey is the private key's PKCS #8 DER, sealed with the
	// server key.
	SealedPrivateKey []byte
	CreatedAt        int64
	// ExpiresAt is unset for the key in use.
	ExpiresAt sql.NullInt64
	// LastSignedAt is the latest publish time of a version the key signed.
	LastSignedAt int64
}

const signingKeyColumns = `keyid, public_key, private_key, created_at, expires_at, last_signed_at`

func scanSigningKey(row interface{ Scan(...any) error }) (SigningKey, error) {
	var k SigningKey
	err := row.Scan(&k.KeyID, &k.PublicKey, &k.SealedPrivateKey, &k.CreatedAt, &k.ExpiresAt, &k.LastSignedAt)
	return k, err
}

// InsertSigningKey adds a key. A second key in use (ExpiresAt unset while
// another is) is a Conflict, as is a key id that exists.
func (q Queries) InsertSigningKey(ctx context.Context, k SigningKey) error {
	_, err := q.exec(ctx, `INSERT INTO signing_keys (`+signingKeyColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		k.KeyID, k.PublicKey, k.SealedPrivateKey, k.CreatedAt, k.ExpiresAt, k.LastSignedAt)
	if err != nil {
		return fmt.Errorf("insert signing key %s: %w", k.KeyID, err)
	}
	return nil
}

// SigningKeyInUse returns the key that signs new versions: the one without
// an expiry. NotFound when there is none yet.
func (q Queries) SigningKeyInUse(ctx context.Context) (SigningKey, error) {
	k, err := scanSigningKey(q.row(ctx, `SELECT `+signingKeyColumns+` FROM signing_keys WHERE expires_at IS NULL`))
	if err != nil {
		return SigningKey{}, q.scanErr(err, "no signing key in use")
	}
	return k, nil
}

// SigningKeyByID returns one key. NotFound when there is none with that id.
func (q Queries) SigningKeyByID(ctx context.Context, keyID string) (SigningKey, error) {
	k, err := scanSigningKey(q.row(ctx, `SELECT `+signingKeyColumns+` FROM signing_keys WHERE keyid = ?`, keyID))
	if err != nil {
		return SigningKey{}, q.scanErr(err, "signing key not found")
	}
	return k, nil
}

// maxSigningKeys bounds the keys SigningKeys lists: a key is added only by
// an administrator's rotation, so a registry holds a handful.
const maxSigningKeys = 1000

// SigningKeys lists every key, the oldest first (of keys made at the same
// time, the one in use last).
func (q Queries) SigningKeys(ctx context.Context) ([]SigningKey, error) {
	rows, err := q.query(ctx, `SELECT `+signingKeyColumns+` FROM signing_keys
		ORDER BY created_at, expires_at IS NULL, expires_at, keyid LIMIT ?`, maxSigningKeys)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	defer rows.Close()
	var out []SigningKey
	for rows.Next() {
		k, err := scanSigningKey(rows)
		if err != nil {
			return nil, fmt.Errorf("scan signing key: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// ExpireSigningKey gives the key in use keyID its expiry; a key that is not
// in use (unknown, or expired already) is NotFound.
func (q Queries) ExpireSigningKey(ctx context.Context, keyID string, expiresAt int64) error {
	res, err := q.exec(ctx, `UPDATE signing_keys SET expires_at = ? WHERE keyid = ? AND expires_at IS NULL`, expiresAt, keyID)
	if err != nil {
		return fmt.Errorf("expire signing key %s: %w", keyID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("expire signing key %s: %w", keyID, err)
	} else if n == 0 {
		return fault.NotFoundf("signing key %s is not in use", keyID)
	}
	return nil
}

// NoteSigned records that keyID signed a version published at publishedAt
// (Unix ms), raising the key's LastSignedAt when it is later.
func (q Queries) NoteSigned(ctx context.Context, keyID string, publishedAt int64) error {
	_, err := q.exec(ctx, `UPDATE signing_keys SET last_signed_at = ? WHERE keyid = ? AND last_signed_at < ?`,
		publishedAt, keyID, publishedAt)
	if err != nil {
		return fmt.Errorf("note signing by %s: %w", keyID, err)
	}
	return nil
}

// AddSigningBacklog puts a package on the list of packages with versions
// not signed yet; one already there stays once.
func (q Queries) AddSigningBacklog(ctx context.Context, packageID int64) error {
	_, err := q.exec(ctx, `INSERT INTO signing_backlog (package_id) VALUES (?) ON CONFLICT (package_id) DO NOTHING`, packageID)
	if err != nil {
		return fmt.Errorf("add package to the signing backlog: %w", err)
	}
	return nil
}

// BacklogEntry is a package on the signing backlog.
type BacklogEntry struct {
	ID   int64
	Name string
}

// SigningBacklog returns up to limit packages with versions not signed yet,
// by id, from the first one above after.
func (q Queries) SigningBacklog(ctx context.Context, after int64, limit int) ([]BacklogEntry, error) {
	rows, err := q.query(ctx, `SELECT p.id, p.name FROM signing_backlog b JOIN packages p ON p.id = b.package_id
		WHERE b.package_id > ? ORDER BY b.package_id LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list the signing backlog: %w", err)
	}
	defer rows.Close()
	var out []BacklogEntry
	for rows.Next() {
		var e BacklogEntry
		if err := rows.Scan(&e.ID, &e.Name); err != nil {
			return nil, fmt.Errorf("scan the signing backlog: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// TakeSigningBacklog takes a package off the signing backlog and reports
// whether it was on it: of several processes signing the backlog together,
// exactly one takes each package.
func (q Queries) TakeSigningBacklog(ctx context.Context, packageID int64) (bool, error) {
	res, err := q.exec(ctx, `DELETE FROM signing_backlog WHERE package_id = ?`, packageID)
	if err != nil {
		return false, fmt.Errorf("take package off the signing backlog: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("take package off the signing backlog: %w", err)
	}
	return n > 0, nil
}

// SigningBacklogSize is how many packages the signing backlog holds.
func (q Queries) SigningBacklogSize(ctx context.Context) (int, error) {
	var n int
	if err := q.row(ctx, `SELECT COUNT(*) FROM signing_backlog`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count the signing backlog: %w", q.d.mapError(err))
	}
	return n, nil
}
