package store

import (
	"context"
	"fmt"
)

// SSOIdentity links an account to an OpenID Connect provider's subject
// (docs/sso.md): the issuer and its sub claim identify the person, never
// the email, which is kept only to be shown.
type SSOIdentity struct {
	ID           int64
	UserID       int64
	Issuer       string
	Subject      string
	Provider     string
	Email        string
	CreatedAt    int64
	LastSignInAt int64
}

const ssoColumns = `id, user_id, issuer, subject, provider, email, created_at, last_signin_at`

func scanSSOIdentity(row interface{ Scan(...any) error }) (SSOIdentity, error) {
	var i SSOIdentity
	err := row.Scan(&i.ID, &i.UserID, &i.Issuer, &i.Subject, &i.Provider, &i.Email, &i.CreatedAt, &i.LastSignInAt)
	return i, err
}

// CreateSSOIdentity stores link i and returns it with its ID; a subject
// already linked (to this account or another) is a Conflict.
func (q Queries) CreateSSOIdentity(ctx context.Context, i SSOIdentity) (SSOIdentity, error) {
	err := q.row(ctx, `INSERT INTO sso_identities (user_id, issuer, subject, provider, email, created_at, last_signin_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		i.UserID, i.Issuer, i.Subject, i.Provider, i.Email, i.CreatedAt, i.LastSignInAt).Scan(&i.ID)
	if err != nil {
		return SSOIdentity{}, fmt.Errorf("link sso identity: %w", q.d.mapError(err))
	}
	return i, nil
}

// SSOIdentityBySubject finds the link of issuer's subject; NotFound when
// that subject is linked to no account.
func (q Queries) SSOIdentityBySubject(ctx context.Context, issuer, subject string) (SSOIdentity, error) {
	i, err := scanSSOIdentity(q.row(ctx, `SELECT `+ssoColumns+` FROM sso_identities WHERE issuer = ? AND subject = ?`,
		issuer, subject))
	if err != nil {
		return SSOIdentity{}, q.scanErr(err, "sso identity not found")
	}
	return i, nil
}

// maxSSOIdentities bounds the links listed for one account.
const maxSSOIdentities = 100

// SSOIdentitiesOf lists an account's links, oldest first (at most 100).
func (q Queries) SSOIdentitiesOf(ctx context.Context, userID int64) ([]SSOIdentity, error) {
	rows, err := q.query(ctx, `SELECT `+ssoColumns+` FROM sso_identities WHERE user_id = ? ORDER BY id LIMIT ?`,
		userID, maxSSOIdentities)
	if err != nil {
		return nil, fmt.Errorf("list sso identities: %w", err)
	}
	defer rows.Close()
	var out []SSOIdentity
	for rows.Next() {
		i, err := scanSSOIdentity(rows)
		if err != nil {
			return nil, fmt.Errorf("list sso identities: %w", err)
		}
		out = append(out, i)
	}
	return out, rows.Err()
}

// TouchSSOIdentity records a sign-in through link id at (Unix ms), with the
// email the provider gave this time.
func (q Queries) TouchSSOIdentity(ctx context.Context, id int64, email string, at int64) error {
	if _, err := q.exec(ctx, `UPDATE sso_identities SET last_signin_at = ?, email = ? WHERE id = ?`, at, email, id); err != nil {
		return fmt.Errorf("touch sso identity: %w", err)
	}
	return nil
}

// UserByEmail finds an account whose email is email, compared without
// case; NotFound when none has it. When several have it, the oldest.
func (q Queries) UserByEmail(ctx context.Context, email string) (User, error) {
	u, err := scanUser(q.row(ctx, `SELECT `+userColumns+` FROM users WHERE lower(email) = lower(?) ORDER BY id LIMIT 1`, email))
	if err != nil {
		return User{}, q.scanErr(err, "user not found")
	}
	return u, nil
}
