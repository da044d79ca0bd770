package store

import (
	"context"
	"database/sql"
	"fmt"
)

// WebAuth is one browser confirmation started by the npm CLI.
type WebAuth struct {
	ID        int64
	LoginHash []byte
	DoneHash  []byte
	Kind      string // "login" or "otp"
	UserID    sql.NullInt64
	Command   string
	Result    []byte // sealed session token, for a finished login
	OTPHash   []byte // for a finished web OTP
	OTPUsed   bool
	Handed    bool // the result went to the CLI and was erased
	CreatedAt int64
	ExpiresAt int64
	// ClientIP is the address the npm CLI started the confirmation from
	// ("" when unknown), shown on the confirmation page.
	ClientIP string
	// Client is the address that started it as throttle.Key writes it
	// (an IPv6 address's /64), by which the confirmations waiting are bounded.
	Client string
}

const webAuthColumns = `id, login_hash, done_hash, kind, user_id, command, result, otp_hash, otp_used, handed, created_at, expires_at, client_ip, client`

func scanWebAuth(row interface{ Scan(...any) error }) (WebAuth, error) {
	var w WebAuth
	err := row.Scan(&w.ID, &w.LoginHash, &w.DoneHash, &w.Kind, &w.UserID, &w.Command, &w.Result, &w.OTPHash, &w.OTPUsed,
		&w.Handed, &w.CreatedAt, &w.ExpiresAt, &w.ClientIP, &w.Client)
	return w, err
}

// CreateWebAuth stores a new confirmation.
func (q Queries) CreateWebAuth(ctx context.Context, w WebAuth) (WebAuth, error) {
	err := q.row(ctx, `INSERT INTO web_auth (login_hash, done_hash, kind, user_id, command, created_at, expires_at, client_ip, client)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, w.LoginHash, w.DoneHash, w.Kind, w.UserID, w.Command, w.CreatedAt, w.ExpiresAt,
		w.ClientIP, w.Client).Scan(&w.ID)
	if err != nil {
		return WebAuth{}, fmt.Errorf("create web auth: %w", q.d.mapError(err))
	}
	return w, nil
}

// WebAuthByLogin finds a confirmation by the hash of its browser id.
func (q Queries) WebAuthByLogin(ctx context.Context, hash []byte) (WebAuth, error) {
	w, err := scanWebAuth(q.row(ctx, `SELECT `+webAuthColumns+` FROM web_auth WHERE login_hash = ?`, hash))
	if err != nil {
		return WebAuth{}, q.scanErr(err, "Not found")
	}
	return w, nil
}

// WebAuthByDone finds a confirmation by the hash of its CLI id.
func (q Queries) WebAuthByDone(ctx context.Context, hash []byte) (WebAuth, error) {
	w, err := scanWebAuth(q.row(ctx, `SELECT `+webAuthColumns+` FROM web_auth WHERE done_hash = ?`, hash))
	if err != nil {
		return WebAuth{}, q.scanErr(err, "Not found")
	}
	return w, nil
}

// FinishWebAuth records the outcome of a confirmation still unfinished; it
// reports false when it was finished already.
func (q Queries) FinishWebAuth(ctx context.Context, id, userID int64, result, otpHash []byte) (bool, error) {
	res, err := q.exec(ctx, `UPDATE web_auth SET user_id = ?, result = ?, otp_hash = ?
		WHERE id = ? AND result IS NULL AND otp_hash IS NULL AND handed = 0`, userID, result, otpHash, id)
	if err != nil {
		return false, fmt.Errorf("finish web auth: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// HandOverWebAuth erases a result the CLI has picked up; it reports false when
// another request picked it up first.
func (q Queries) HandOverWebAuth(ctx context.Context, id int64) (bool, error) {
	res, err := q.exec(ctx, `UPDATE web_auth SET result = NULL, handed = 1 WHERE id = ? AND handed = 0`, id)
	if err != nil {
		return false, fmt.Errorf("hand over web auth: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// UseWebOTP marks the user's unexpired, unused web OTP with this hash used;
// it reports whether there was one.
func (q Queries) UseWebOTP(ctx context.Context, userID int64, hash []byte, now int64) (bool, error) {
	res, err := q.exec(ctx, `UPDATE web_auth SET otp_used = 1 WHERE user_id = ? AND otp_hash = ? AND otp_used = 0
		AND expires_at > ?`, userID, hash, now)
	if err != nil {
		return false, fmt.Errorf("use web otp: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// PurgeWebAuth deletes confirmations that expired before now.
func (q Queries) PurgeWebAuth(ctx context.Context, now int64) error {
	if _, err := q.exec(ctx, `DELETE FROM web_auth WHERE expires_at < ?`, now); err != nil {
		return fmt.Errorf("purge web auth: %w", err)
	}
	return nil
}

// LiveWebAuth counts the confirmations not expired at now: those client
// started, and all of them.
func (q Queries) LiveWebAuth(ctx context.Context, client string, now int64) (mine, all int, err error) {
	if err := q.row(ctx, `SELECT COUNT(*) FROM web_auth WHERE client = ? AND expires_at > ?`, client, now).Scan(&mine); err != nil {
		return 0, 0, fmt.Errorf("count web auth of a client: %w", q.d.mapError(err))
	}
	if err := q.row(ctx, `SELECT COUNT(*) FROM web_auth WHERE expires_at > ?`, now).Scan(&all); err != nil {
		return 0, 0, fmt.Errorf("count web auth: %w", q.d.mapError(err))
	}
	return mine, all, nil
}
