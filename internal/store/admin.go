package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// UserSummary is a row of the administrator's list of accounts.
type UserSummary struct {
	User
	// TFA reports whether two-factor authentication is on (and confirmed).
	TFA bool
}

// likePattern is s as a LIKE pattern matching any text that contains it,
// lower-cased, with LIKE's wildcards in s escaped.
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(s)) + "%"
}

// userSearch is the WHERE clause of a user search, and its arguments.
func userSearch(search string, extra ...string) (string, []any) {
	var conds []string
	var args []any
	if search != "" {
		conds = append(conds, `(name LIKE ? ESCAPE '\' OR LOWER(email) LIKE ? ESCAPE '\')`)
		p := likePattern(search)
		args = append(args, p, p)
	}
	conds = append(conds, extra...)
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// ListUsers returns up to limit accounts whose name or email contains
// search (any case; "" for all), by name, after the name after ("" from
// the first).
func (q Queries) ListUsers(ctx context.Context, search, after string, limit int) ([]UserSummary, error) {
	var extra []string
	var extraArgs []any
	if after != "" {
		extra = append(extra, `name > ?`)
		extraArgs = append(extraArgs, after)
	}
	where, args := userSearch(search, extra...)
	args = append(append(args, extraArgs...), limit)
	rows, err := q.query(ctx, `SELECT `+userColumns+`, tfa_mode <> '' AND tfa_pending = 0 FROM users`+where+
		` ORDER BY name LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []UserSummary
	for rows.Next() {
		var u UserSummary
		var disabled, signin sql.NullInt64
		if err := rows.Scan(&u.ID, &u.Name, &u.Email, &u.PasswordHash, &u.CreatedAt, &u.UpdatedAt, &u.Admin, &disabled,
			&signin, &u.TFAReenroll, &u.TFA); err != nil {
			return nil, fmt.Errorf("scan user: %w", err)
		}
		u.DisabledAt, u.LastSignInAt = disabled.Int64, signin.Int64
		out = append(out, u)
	}
	return out, rows.Err()
}

// CountUsers counts the accounts whose name or email contains search.
func (q Queries) CountUsers(ctx context.Context, search string) (int, error) {
	where, args := userSearch(search)
	var n int
	if err := q.row(ctx, `SELECT COUNT(*) FROM users`+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", q.d.mapError(err))
	}
	return n, nil
}

// userChanged publishes a change to a user that cached credentials hold
// (admin, disabled), so that every node drops them when the transaction q
// runs in commits.
func (q Queries) userChanged(ctx context.Context, userID int64) error {
	return q.Publish(ctx, Change{Kind: UserChanged, Key: strconv.FormatInt(userID, 10)})
}

// updateUser runs an UPDATE of one user's row and publishes the change;
// no such user is NotFound.
func (q Queries) updateUser(ctx context.Context, userID int64, set string, args ...any) error {
	res, err := q.exec(ctx, `UPDATE users SET `+set+`, updated_at = ? WHERE id = ?`, append(args, Now(), userID)...)
	if err != nil {
		return fmt.Errorf("update user %d: %w", userID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return q.scanErr(sql.ErrNoRows, "user not found")
	}
	return q.userChanged(ctx, userID)
}

// SetAdmin makes the user a site administrator or not, and publishes the
// change (run it in a transaction).
func (q Queries) SetAdmin(ctx context.Context, userID int64, admin bool) error {
	return q.updateUser(ctx, userID, `admin = ?`, admin)
}

// SetDisabled disables the user as of at (Unix ms), or enables them when at
// is 0, and publishes the change (run it in a transaction).
func (q Queries) SetDisabled(ctx context.Context, userID, at int64) error {
	return q.updateUser(ctx, userID, `disabled_at = ?`, nullID(at))
}

// SetTFAReenroll sets or clears the user's duty to enable 2FA again.
func (q Queries) SetTFAReenroll(ctx context.Context, userID int64, on bool) error {
	return q.updateUser(ctx, userID, `tfa_reenroll = ?`, on)
}

// MarkSignIn records a successful sign-in of the user at at (Unix ms).
func (q Queries) MarkSignIn(ctx context.Context, userID, at int64) error {
	if _, err := q.exec(ctx, `UPDATE users SET last_signin_at = ? WHERE id = ?`, at, userID); err != nil {
		return fmt.Errorf("record sign-in: %w", err)
	}
	return nil
}

// SetPasswordReset records a pending password reset of the user: the
// SHA-256 of its link's secret and when it expires (Unix ms). A new reset
// replaces the one before.
func (q Queries) SetPasswordReset(ctx context.Context, userID int64, hash []byte, expires int64) error {
	return q.updateUser(ctx, userID, `reset_hash = ?, reset_expires_at = ?`, hash, expires)
}

// PasswordReset finds the user whose pending reset link has the secret of
// SHA-256 hash, and when the link expires; none is NotFound.
func (q Queries) PasswordReset(ctx context.Context, hash []byte) (User, int64, error) {
	var expires int64
	row := q.row(ctx, `SELECT `+userColumns+`, reset_expires_at FROM users WHERE reset_hash = ?`, hash)
	var u User
	var disabled, signin sql.NullInt64
	err := row.Scan(&u.ID, &u.Name, &u.Email, &u.PasswordHash, &u.CreatedAt, &u.UpdatedAt, &u.Admin, &disabled,
		&signin, &u.TFAReenroll, &expires)
	if err != nil {
		return User{}, 0, q.scanErr(err, "password reset not found")
	}
	u.DisabledAt, u.LastSignInAt = disabled.Int64, signin.Int64
	return u, expires, nil
}

// FinishPasswordReset sets the password of the user whose reset link has
// the secret of SHA-256 hash and ends the reset, once: it reports false
// when that reset is no longer pending (used, replaced, or raced).
func (q Queries) FinishPasswordReset(ctx context.Context, userID int64, hash []byte, passwordHash string) (bool, error) {
	res, err := q.exec(ctx, `UPDATE users SET password_hash = ?, reset_hash = NULL, reset_expires_at = NULL, updated_at = ?
		WHERE id = ? AND reset_hash = ?`, passwordHash, Now(), userID, hash)
	if err != nil {
		return false, fmt.Errorf("finish password reset: %w", err)
	}
	n, _ := res.RowsAffected()
	if n == 0 {
		return false, nil
	}
	return true, q.userChanged(ctx, userID)
}

// OwnedPackage is a package one user owns, and whether anyone else does.
type OwnedPackage struct {
	ID    int64
	Name  string
	Scope string
	// Sole is set when the user is its only owner.
	Sole bool
}

// OwnedPackages lists the packages the user owns, by name.
func (q Queries) OwnedPackages(ctx context.Context, userID int64) ([]OwnedPackage, error) {
	rows, err := q.query(ctx, `SELECT p.id, p.name, p.scope,
		NOT EXISTS (SELECT 1 FROM owners o2 WHERE o2.package_id = p.id AND o2.user_id <> ?)
		FROM packages p JOIN owners o ON o.package_id = p.id WHERE o.user_id = ? ORDER BY p.name`, userID, userID)
	if err != nil {
		return nil, fmt.Errorf("list owned packages: %w", err)
	}
	defer rows.Close()
	var out []OwnedPackage
	for rows.Next() {
		var p OwnedPackage
		if err := rows.Scan(&p.ID, &p.Name, &p.Scope, &p.Sole); err != nil {
			return nil, fmt.Errorf("scan owned package: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// SoleOrgOwnerships lists the organizations whose only owner is the user, by name.
func (q Queries) SoleOrgOwnerships(ctx context.Context, userID int64) ([]string, error) {
	rows, err := q.query(ctx, `SELECT o.name FROM orgs o JOIN org_members m ON m.org_id = o.id
		WHERE m.user_id = ? AND m.role = 'owner' AND NOT EXISTS (SELECT 1 FROM org_members m2
		WHERE m2.org_id = o.id AND m2.role = 'owner' AND m2.user_id <> ?) ORDER BY o.name`, userID, userID)
	if err != nil {
		return nil, fmt.Errorf("list organizations owned alone: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("scan organization: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// DeleteUser removes the user's account and, with it (by cascade), their
// credentials, ownerships, memberships and 2FA; it keeps the name retired,
// and publishes the change. No such user is NotFound.
func (q Queries) DeleteUser(ctx context.Context, u User) error {
	res, err := q.exec(ctx, `DELETE FROM users WHERE id = ?`, u.ID)
	if err != nil {
		return fmt.Errorf("delete user %s: %w", u.Name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return q.scanErr(sql.ErrNoRows, "user not found")
	}
	if _, err := q.exec(ctx, `INSERT INTO retired_names (name, retired_at, user_id) VALUES (?, ?, ?)
		ON CONFLICT (name) DO NOTHING`, u.Name, Now(), u.ID); err != nil {
		return fmt.Errorf("retire name %s: %w", u.Name, err)
	}
	if err := q.Publish(ctx, Change{Kind: TokenRevoked}); err != nil {
		return err
	}
	return q.userChanged(ctx, u.ID)
}

// NameRetired reports whether name belonged to a deleted account.
func (q Queries) NameRetired(ctx context.Context, name string) (bool, error) {
	var n int
	err := q.row(ctx, `SELECT 1 FROM retired_names WHERE name = ?`, name).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check retired name: %w", q.d.mapError(err))
	}
	return true, nil
}

// AddTokenAddress records that a token was used from ip at at (Unix ms),
// unless the token already has max addresses or no longer exists; it
// reports whether ip is new for the token (and so recorded).
func (q Queries) AddTokenAddress(ctx context.Context, tokenID int64, ip string, at int64, max int) (bool, error) {
	res, err := q.exec(ctx, `INSERT INTO token_addresses (token_id, ip, first_seen)
		SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM tokens WHERE id = ?)
		AND (SELECT COUNT(*) FROM token_addresses WHERE token_id = ?) < ?
		ON CONFLICT (token_id, ip) DO NOTHING`, tokenID, ip, at, tokenID, tokenID, max)
	if err != nil {
		return false, fmt.Errorf("record token address: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// TokenAddress is a token's use from an address, at At (Unix ms).
type TokenAddress struct {
	TokenID int64
	IP      string
	At      int64
}

// addressChunk is how many addresses one statement of AddTokenAddresses
// writes (4 parameters each).
const addressChunk = 512

// AddTokenAddresses records many uses as AddTokenAddress does each: an
// address is recorded unless it is already recorded for its token, the
// token is gone, or it has max addresses (counting those recorded before
// it in uses). It returns the uses recorded (new to their token), in the
// order of uses, and the tokens of uses that hold max addresses afterwards.
// A statement per addressChunk uses; run it in a transaction.
func (q Queries) AddTokenAddresses(ctx context.Context, uses []TokenAddress, max int) (added []TokenAddress, full []int64, err error) {
	type key struct {
		token int64
		ip    string
	}
	seen := make(map[key]bool, len(uses))
	batch := make([]TokenAddress, 0, len(uses))
	for _, u := range uses {
		if k := (key{u.TokenID, u.IP}); !seen[k] {
			seen[k] = true
			batch = append(batch, u)
		}
	}
	recorded := make(map[key]bool)
	for off := 0; off < len(batch); off += addressChunk {
		chunk := batch[off:min(len(batch), off+addressChunk)]
		var b strings.Builder
		args := make([]any, 0, 4*len(chunk)+1)
		// n numbers a token's new addresses in this chunk, so that the
		// count of its addresses before the statement plus n bounds them
		// all (the statement does not see its own rows).
		b.WriteString(`INSERT INTO token_addresses (token_id, ip, first_seen)
			SELECT x.token_id, x.ip, x.at FROM (
				SELECT v.column1 AS token_id, v.column2 AS ip, v.column3 AS at,
					ROW_NUMBER() OVER (PARTITION BY v.column1 ORDER BY v.column4) AS n
				FROM (VALUES `)
		for i, u := range chunk {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(`(CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS BIGINT))`)
			args = append(args, u.TokenID, u.IP, u.At, int64(i))
		}
		b.WriteString(`) AS v
				WHERE EXISTS (SELECT 1 FROM tokens t WHERE t.id = v.column1)
				AND NOT EXISTS (SELECT 1 FROM token_addresses a WHERE a.token_id = v.column1 AND a.ip = v.column2)
			) AS x
			WHERE x.n + (SELECT COUNT(*) FROM token_addresses a WHERE a.token_id = x.token_id) <= ?
			ON CONFLICT (token_id, ip) DO NOTHING
			RETURNING token_id, ip`)
		args = append(args, max)
		if err := q.addressRows(ctx, b.String(), args, func(id int64, ip string) { recorded[key{id, ip}] = true }); err != nil {
			return nil, nil, fmt.Errorf("record %d token addresses: %w", len(chunk), err)
		}
	}
	tokens := make(map[int64]bool)
	var ids []any
	for _, u := range batch {
		if recorded[key{u.TokenID, u.IP}] {
			added = append(added, u)
		}
		if !tokens[u.TokenID] {
			tokens[u.TokenID] = true
			ids = append(ids, u.TokenID)
		}
	}
	for off := 0; off < len(ids); off += addressChunk {
		chunk := ids[off:min(len(ids), off+addressChunk)]
		query := `SELECT token_id, COUNT(*) FROM token_addresses WHERE token_id IN (?` +
			strings.Repeat(", ?", len(chunk)-1) + `) GROUP BY token_id HAVING COUNT(*) >= ?`
		rows, err := q.queryBuilt(ctx, query, append(chunk, max)...)
		if err != nil {
			return nil, nil, fmt.Errorf("count token addresses: %w", err)
		}
		for rows.Next() {
			var id, n int64
			if err := rows.Scan(&id, &n); err != nil {
				rows.Close()
				return nil, nil, fmt.Errorf("count token addresses: %w", err)
			}
			full = append(full, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, fmt.Errorf("count token addresses: %w", err)
		}
	}
	return added, full, nil
}

// addressRows runs query and hands each (token_id, ip) row it returns to each.
func (q Queries) addressRows(ctx context.Context, query string, args []any, each func(int64, string)) error {
	rows, err := q.queryBuilt(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var ip string
		if err := rows.Scan(&id, &ip); err != nil {
			return err
		}
		each(id, ip)
	}
	return rows.Err()
}

// TokenAddressKnown reports whether the token was used from ip before.
func (q Queries) TokenAddressKnown(ctx context.Context, tokenID int64, ip string) (bool, error) {
	var n int
	err := q.row(ctx, `SELECT 1 FROM token_addresses WHERE token_id = ? AND ip = ?`, tokenID, ip).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check token address: %w", q.d.mapError(err))
	}
	return true, nil
}
