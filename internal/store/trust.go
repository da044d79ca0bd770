package store

import (
	"context"
	"database/sql"
	"fmt"
)

// TrustConfig is a package's trusted publishing configuration (npm trust).
type TrustConfig struct {
	ID        string
	PackageID int64
	// Type is github, gitlab, circleci or generic.
	Type string
	// Issuer is the URL of the trusted issuer the configuration is bound to.
	Issuer string
	// Claims and Permissions are JSON: an object and an array of strings.
	Claims      string
	Permissions string
	CreatedBy   int64
	CreatedAt   int64
}

const trustColumns = `id, package_id, type, issuer, claims, permissions, created_by, created_at`

func scanTrust(row interface{ Scan(...any) error }) (TrustConfig, error) {
	var c TrustConfig
	err := row.Scan(&c.ID, &c.PackageID, &c.Type, &c.Issuer, &c.Claims, &c.Permissions, &c.CreatedBy, &c.CreatedAt)
	return c, err
}

// CreateTrustConfig stores c; a package that has one already is a Conflict.
func (q Queries) CreateTrustConfig(ctx context.Context, c TrustConfig) error {
	_, err := q.exec(ctx, `INSERT INTO trust_configs (`+trustColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.PackageID, c.Type, c.Issuer, c.Claims, c.Permissions, c.CreatedBy, c.CreatedAt)
	if err != nil {
		return fmt.Errorf("create trust configuration: %w", err)
	}
	return nil
}

// TrustConfigOf returns a package's trust configuration; NotFound when it has none.
func (q Queries) TrustConfigOf(ctx context.Context, packageID int64) (TrustConfig, error) {
	c, err := scanTrust(q.row(ctx, `SELECT `+trustColumns+` FROM trust_configs WHERE package_id = ?`, packageID))
	if err != nil {
		return TrustConfig{}, q.scanErr(err, "trust configuration not found")
	}
	return c, nil
}

// TrustedPackagesBy lists the names of the packages whose trust
// configuration userID made (and which go with the account), by name.
func (q Queries) TrustedPackagesBy(ctx context.Context, userID int64) ([]string, error) {
	rows, err := q.query(ctx, `SELECT p.name FROM trust_configs c JOIN packages p ON p.id = c.package_id
		WHERE c.created_by = ? ORDER BY p.name`, userID)
	if err != nil {
		return nil, fmt.Errorf("list trust configurations of user %d: %w", userID, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("scan trust configuration: %w", err)
		}
		out = append(out, name)
	}
	return out, rows.Err()
}

// DeleteTrustConfig removes the package's trust configuration id; NotFound
// when the package has no configuration of that id.
func (q Queries) DeleteTrustConfig(ctx context.Context, packageID int64, id string) error {
	res, err := q.exec(ctx, `DELETE FROM trust_configs WHERE package_id = ? AND id = ?`, packageID, id)
	if err != nil {
		return fmt.Errorf("delete trust configuration: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete trust configuration: %w", err)
	} else if n == 0 {
		return q.scanErr(sql.ErrNoRows, "trust configuration not found")
	}
	return nil
}

// UseExchange records that the OIDC token identified by key was exchanged,
// until expiresAt (Unix ms), and reports whether it was the first time:
// false means a replay. Records already expired at now are dropped first.
// It is one statement per step, safe on several nodes at once.
func (q Queries) UseExchange(ctx context.Context, key []byte, expiresAt, now int64) (bool, error) {
	if _, err := q.exec(ctx, `DELETE FROM oidc_exchanges WHERE expires_at < ?`, now); err != nil {
		return false, fmt.Errorf("purge exchanges: %w", err)
	}
	res, err := q.exec(ctx, `INSERT INTO oidc_exchanges (key, expires_at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`,
		key, expiresAt)
	if err != nil {
		return false, fmt.Errorf("record exchange: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("record exchange: %w", err)
	}
	return n == 1, nil
}

// LiveTrustTokens lists the unrevoked tokens of kind oidc of a user that
// were exchanged under trust configuration configID.
func (q Queries) LiveTrustTokens(ctx context.Context, userID int64, configID string) ([]Token, error) {
	rows, err := q.query(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE user_id = ? AND kind = 'oidc'
		AND revoked_at IS NULL AND grants LIKE ?`, userID, `%"config_id":"`+configID+`"%`)
	if err != nil {
		return nil, fmt.Errorf("list trust tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list trust tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
