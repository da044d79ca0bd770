package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// User is an account.
type User struct {
	ID           int64
	Name         string
	Email        string
	PasswordHash string
	CreatedAt    int64
	UpdatedAt    int64
	// Admin marks a site administrator.
	Admin bool
	// DisabledAt, when not 0, is when an administrator disabled the
	// account (Unix ms): its credentials and sign-ins are refused.
	DisabledAt int64
	// LastSignInAt is the last successful sign-in (Unix ms), 0 for none.
	LastSignInAt int64
	// TFAReenroll is set when an administrator reset the account's 2FA:
	// its writes are refused until it enables 2FA again.
	TFAReenroll bool
}

// Disabled reports whether an administrator disabled the account.
func (u User) Disabled() bool { return u.DisabledAt != 0 }

const userColumns = `id, name, email, password_hash, created_at, updated_at, admin, disabled_at, last_signin_at, tfa_reenroll`

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var u User
	var disabled, signin sql.NullInt64
	err := row.Scan(&u.ID, &u.Name, &u.Email, &u.PasswordHash, &u.CreatedAt, &u.UpdatedAt, &u.Admin, &disabled,
		&signin, &u.TFAReenroll)
	u.DisabledAt, u.LastSignInAt = disabled.Int64, signin.Int64
	return u, err
}

// CreateUser inserts u and returns it with its ID; a taken name is a Conflict.
// An ID is never given twice, even after an account is deleted: events in
// the audit log name accounts by ID. PostgreSQL's sequence sees to that;
// SQLite, which would give the highest deleted ID again, starts past the
// IDs of retired accounts (one statement, so one writer's atomic step).
func (q Queries) CreateUser(ctx context.Context, u User) (User, error) {
	now := Now()
	u.CreatedAt, u.UpdatedAt = now, now
	query := `INSERT INTO users (name, email, password_hash, created_at, updated_at, admin)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`
	if q.d.name() == "sqlite" {
		query = `INSERT INTO users (id, name, email, password_hash, created_at, updated_at, admin)
		VALUES ((SELECT MAX(v) + 1 FROM (SELECT COALESCE(MAX(id), 0) AS v FROM users
			UNION ALL SELECT COALESCE(MAX(user_id), 0) FROM retired_names)), ?, ?, ?, ?, ?, ?) RETURNING id`
	}
	err := q.row(ctx, query, u.Name, u.Email, u.PasswordHash, now, now, u.Admin).Scan(&u.ID)
	if err != nil {
		return User{}, fmt.Errorf("create user %q: %w", u.Name, q.d.mapError(err))
	}
	return u, nil
}

// UserByName finds a user by name.
func (q Queries) UserByName(ctx context.Context, name string) (User, error) {
	u, err := scanUser(q.row(ctx, `SELECT `+userColumns+` FROM users WHERE name = ?`, name))
	if err != nil {
		return User{}, q.scanErr(err, "user not found")
	}
	return u, nil
}

// UserByID finds a user by ID.
func (q Queries) UserByID(ctx context.Context, id int64) (User, error) {
	u, err := scanUser(q.row(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	if err != nil {
		return User{}, q.scanErr(err, "user not found")
	}
	return u, nil
}

// Token is a stored credential: a login session or an access token. The token
// string itself is never stored, only its SHA-256 (Hash) and masked form.
type Token struct {
	ID          int64
	Key         string
	Hash        []byte
	UserID      int64
	Kind        string
	Name        string
	Description string
	Masked      string
	CIDR        string // JSON array of CIDR strings
	Grants      string // JSON of the granular grants
	Bypass2FA   bool
	CreatedAt   int64
	ExpiresAt   sql.NullInt64
	RevokedAt   sql.NullInt64
	LastUsedAt  sql.NullInt64
	LastUsedIP  string
}

const tokenColumns = `id, key, hash, user_id, kind, name, description, masked, cidr, grants,
	bypass_2fa, created_at, expires_at, revoked_at, last_used_at, last_used_ip`

func scanToken(row interface{ Scan(...any) error }) (Token, error) {
	var t Token
	err := row.Scan(&t.ID, &t.Key, &t.Hash, &t.UserID, &t.Kind, &t.Name, &t.Description, &t.Masked,
		&t.CIDR, &t.Grants, &t.Bypass2FA, &t.CreatedAt, &t.ExpiresAt, &t.RevokedAt, &t.LastUsedAt, &t.LastUsedIP)
	return t, err
}

// CreateToken stores t and returns it with its ID.
func (q Queries) CreateToken(ctx context.Context, t Token) (Token, error) {
	if t.CIDR == "" {
		t.CIDR = "[]"
	}
	if t.Grants == "" {
		t.Grants = "{}"
	}
	err := q.row(ctx, `INSERT INTO tokens (key, hash, user_id, kind, name, description, masked, cidr, grants,
		bypass_2fa, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		t.Key, t.Hash, t.UserID, t.Kind, t.Name, t.Description, t.Masked, t.CIDR, t.Grants,
		t.Bypass2FA, t.CreatedAt, t.ExpiresAt).Scan(&t.ID)
	if err != nil {
		return Token{}, fmt.Errorf("create token: %w", q.d.mapError(err))
	}
	return t, nil
}

// TokenByHash finds a token by the SHA-256 of its string, revoked or not.
func (q Queries) TokenByHash(ctx context.Context, hash []byte) (Token, error) {
	t, err := scanToken(q.row(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = ?`, hash))
	if err != nil {
		return Token{}, q.scanErr(err, "token not found")
	}
	return t, nil
}

// tokenUserColumns are tokenColumns and userColumns of a tokens row t
// joined with its users row u, in the order scanTokenUser reads them.
const tokenUserColumns = `t.id, t.key, t.hash, t.user_id, t.kind, t.name, t.description, t.masked, t.cidr, t.grants,
	t.bypass_2fa, t.created_at, t.expires_at, t.revoked_at, t.last_used_at, t.last_used_ip,
	u.id, u.name, u.email, u.password_hash, u.created_at, u.updated_at, u.admin, u.disabled_at, u.last_signin_at,
	u.tfa_reenroll`

// tokenUserByHash is the query of TokenUserByHash: one probe of the unique
// index on tokens.hash, then the users row by its primary key.
const tokenUserByHash = `SELECT ` + tokenUserColumns + ` FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = ?`

// TokenUserByHash finds a token by the SHA-256 of its string, revoked or
// not, with its user, in one query: what authenticating a token not yet
// cached costs. A token whose user is gone is a NotFound, as a missing one.
func (q Queries) TokenUserByHash(ctx context.Context, hash []byte) (Token, User, error) {
	var t Token
	var u User
	var disabled, signin sql.NullInt64
	pq, pctx := q.point(ctx)
	err := pq.row(pctx, tokenUserByHash, hash).Scan(&t.ID, &t.Key, &t.Hash, &t.UserID, &t.Kind, &t.Name, &t.Description,
		&t.Masked, &t.CIDR, &t.Grants, &t.Bypass2FA, &t.CreatedAt, &t.ExpiresAt, &t.RevokedAt, &t.LastUsedAt,
		&t.LastUsedIP, &u.ID, &u.Name, &u.Email, &u.PasswordHash, &u.CreatedAt, &u.UpdatedAt, &u.Admin, &disabled,
		&signin, &u.TFAReenroll)
	if err != nil {
		return Token{}, User{}, q.scanErr(err, "token not found")
	}
	u.DisabledAt, u.LastSignInAt = disabled.Int64, signin.Int64
	return t, u, nil
}

// RevokeToken marks the token revoked and publishes the revocation (run it in
// a transaction to do both or neither); it is a NotFound if it does not
// exist, belongs to someone else, or is already revoked.
func (q Queries) RevokeToken(ctx context.Context, id, userID int64) error {
	var hash []byte
	err := q.row(ctx, `UPDATE tokens SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL RETURNING hash`,
		Now(), id, userID).Scan(&hash)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return q.scanErr(err, "token not found")
		}
		return fmt.Errorf("revoke token: %w", q.d.mapError(err))
	}
	return q.Publish(ctx, Change{Kind: TokenRevoked, Key: hex.EncodeToString(hash)})
}

// Revocations is a counter that grows with every token revocation, by any
// process: a cache of tokens is stale when it changes.
func (q Queries) Revocations(ctx context.Context) (int64, error) {
	var n int64
	if err := q.row(ctx, `SELECT value FROM counters WHERE name = 'revocations'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("read revocations: %w", q.d.mapError(err))
	}
	return n, nil
}

// Touch is one token's use: when (Unix ms) and from where.
type Touch struct {
	TokenID int64
	At      int64
	IP      string
}

// touchToken is TouchTokens' statement, one token's use.
const touchToken = `UPDATE tokens SET last_used_at = ?, last_used_ip = ?
	WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`

// TouchTokens records many tokens' last uses; run it in a transaction so
// they cost one commit. A use older than the one recorded does not replace
// it; of several uses of one token in touches, the newest counts. Each use
// is an UPDATE by primary key, prepared once a call (a multi-row UPDATE … FROM
// (VALUES …) was measured slower on SQLite: BenchmarkTouchTokens).
func (q Queries) TouchTokens(ctx context.Context, touches []Touch) error {
	newest := make(map[int64]int, len(touches)) // token ID → index in batch
	batch := make([]Touch, 0, len(touches))
	for _, t := range touches {
		if i, ok := newest[t.TokenID]; ok {
			if batch[i].At < t.At {
				batch[i] = t
			}
			continue
		}
		newest[t.TokenID] = len(batch)
		batch = append(batch, t)
	}
	// In the order of the table, so that neighbouring rows share pages.
	slices.SortFunc(batch, func(a, b Touch) int { return cmp.Compare(a.TokenID, b.TokenID) })
	st, done, err := q.prepareMany(ctx, touchToken)
	if err != nil {
		return fmt.Errorf("touch tokens: %w", err)
	}
	defer done()
	for _, t := range batch {
		var err error
		if st != nil {
			_, err = st.ExecContext(ctx, t.At, t.IP, t.TokenID, t.At)
			err = q.d.mapError(err)
		} else {
			_, err = q.exec(ctx, touchToken, t.At, t.IP, t.TokenID, t.At)
		}
		if err != nil {
			return fmt.Errorf("touch token %d: %w", t.TokenID, err)
		}
	}
	return nil
}

// CountLiveTokens counts a user's access tokens that are neither revoked nor
// expired at now; login sessions are not counted.
func (q Queries) CountLiveTokens(ctx context.Context, userID, now int64) (int, error) {
	var n int
	err := q.row(ctx, `SELECT COUNT(*) FROM tokens WHERE user_id = ? AND kind <> 'session'
		AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)`, userID, now).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count tokens: %w", q.d.mapError(err))
	}
	return n, nil
}

// ListTokens returns one page of a user's unrevoked access tokens (sessions
// excluded), newest first, and how many there are in all.
func (q Queries) ListTokens(ctx context.Context, userID int64, offset, limit int) ([]Token, int, error) {
	var total int
	if err := q.row(ctx, `SELECT COUNT(*) FROM tokens WHERE user_id = ? AND kind <> 'session' AND revoked_at IS NULL`,
		userID).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count tokens: %w", q.d.mapError(err))
	}
	rows, err := q.query(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE user_id = ? AND kind <> 'session'
		AND revoked_at IS NULL ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`, userID, limit, offset)
	if err != nil {
		return nil, 0, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("scan token: %w", err)
		}
		out = append(out, t)
	}
	return out, total, rows.Err()
}

// ListSessions returns a user's unrevoked, unexpired login sessions, newest first.
func (q Queries) ListSessions(ctx context.Context, userID, now int64) ([]Token, error) {
	rows, err := q.query(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE user_id = ? AND kind = 'session'
		AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?) ORDER BY created_at DESC, id DESC LIMIT 1000`, userID, now)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("scan session: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// TokenByKeyPrefix finds the user's one unrevoked token whose key starts with
// prefix (any user's when userID is 0); none is NotFound, several is Conflict.
func (q Queries) TokenByKeyPrefix(ctx context.Context, userID int64, prefix string) (Token, error) {
	if !utf8.ValidString(prefix) {
		// Keys are UUIDs: text that is not UTF-8 starts none of them.
		return Token{}, q.scanErr(sql.ErrNoRows, "token not found")
	}
	// Every key that starts with prefix sorts from prefix up to prefix followed
	// by the last code point (byte order, as both dialects compare keys).
	rows, err := q.query(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE (user_id = ? OR ? = 0) AND revoked_at IS NULL
		AND key >= ? AND key < ? LIMIT 2`, userID, userID, prefix, prefix+string(utf8.MaxRune))
	if err != nil {
		return Token{}, fmt.Errorf("find token by key: %w", err)
	}
	defer rows.Close()
	var found []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return Token{}, fmt.Errorf("scan token: %w", err)
		}
		found = append(found, t)
	}
	if err := rows.Err(); err != nil {
		return Token{}, err
	}
	switch len(found) {
	case 0:
		return Token{}, q.scanErr(sql.ErrNoRows, "token not found")
	case 1:
		return found[0], nil
	}
	return Token{}, fault.Conflictf("token key prefix %q is ambiguous", prefix)
}

// PurgeExpiredTokens deletes a user's access tokens that expired before cutoff.
func (q Queries) PurgeExpiredTokens(ctx context.Context, userID, cutoff int64) error {
	_, err := q.exec(ctx, `DELETE FROM tokens WHERE user_id = ? AND expires_at IS NOT NULL AND expires_at < ?`, userID, cutoff)
	if err != nil {
		return fmt.Errorf("purge expired tokens: %w", err)
	}
	return nil
}

// Counter reads one of the change counters ("revocations", "packages").
func (q Queries) Counter(ctx context.Context, name string) (int64, error) {
	var n int64
	if err := q.row(ctx, `SELECT value FROM counters WHERE name = ?`, name).Scan(&n); err != nil {
		return 0, fmt.Errorf("read counter %s: %w", name, q.d.mapError(err))
	}
	return n, nil
}

// RevokeUserTokens revokes a user's live sessions (and, unless sessionsOnly,
// its access tokens too), all but the token keep (0 for none), publishing
// each revocation as RevokeToken does; run it in a transaction. It returns
// the hashes of the tokens revoked, for caches to drop.
func (q Queries) RevokeUserTokens(ctx context.Context, userID, keep int64, sessionsOnly bool) ([][]byte, error) {
	rows, err := q.query(ctx, `SELECT id FROM tokens WHERE user_id = ? AND revoked_at IS NULL AND id <> ?
		AND (kind = 'session' OR ? = 0)`, userID, keep, sessionsOnly)
	if err != nil {
		return nil, fmt.Errorf("list tokens to revoke: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("scan token to revoke: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens to revoke: %w", err)
	}
	hashes := make([][]byte, 0, len(ids))
	for _, id := range ids {
		var hash []byte
		err := q.row(ctx, `UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL RETURNING hash`, Now(), id).Scan(&hash)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("revoke token: %w", q.d.mapError(err))
		}
		if err := q.Publish(ctx, Change{Kind: TokenRevoked, Key: hex.EncodeToString(hash)}); err != nil {
			return nil, err
		}
		hashes = append(hashes, hash)
	}
	return hashes, nil
}
