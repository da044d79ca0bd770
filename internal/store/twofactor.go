package store

import (
	"context"
	"crypto/subtle"
	"fmt"
	"strconv"
)

// TFAMode is a user's two-factor authentication mode (spec/tokens.md section 6).
type TFAMode string

// The two-factor modes.
const (
	TFAOff           TFAMode = ""                // no two-factor authentication
	TFAAuthOnly      TFAMode = "auth-only"       // OTP for logins, tokens, profile and 2FA changes
	TFAAuthAndWrites TFAMode = "auth-and-writes" // also for package and organization writes
)

// Valid reports whether m is a mode 2FA can be turned on with (not TFAOff).
func (m TFAMode) Valid() bool { return m == TFAAuthOnly || m == TFAAuthAndWrites }

// TwoFactor is a user's two-factor state.
type TwoFactor struct {
	// Mode is the mode; with Pending, the mode asked for but not yet
	// confirmed with a first OTP.
	Mode     TFAMode
	Pending  bool
	Secret   []byte // sealed
	LastStep int64
	// Reenroll is set while the user must enable 2FA again after an
	// administrator reset it (users.tfa_reenroll; SetTwoFactor leaves it).
	Reenroll bool
}

// Enabled reports whether 2FA is on and confirmed.
func (t TwoFactor) Enabled() bool { return t.Mode != "" && !t.Pending }

// TwoFactorOf reads a user's two-factor state.
func (q Queries) TwoFactorOf(ctx context.Context, userID int64) (TwoFactor, error) {
	var t TwoFactor
	err := q.row(ctx, `SELECT tfa_mode, tfa_pending, tfa_secret, tfa_last_step, tfa_reenroll FROM users WHERE id = ?`, userID).
		Scan(&t.Mode, &t.Pending, &t.Secret, &t.LastStep, &t.Reenroll)
	if err != nil {
		return TwoFactor{}, q.scanErr(err, "user not found")
	}
	return t, nil
}

// SetTwoFactor writes a user's two-factor state.
func (q Queries) SetTwoFactor(ctx context.Context, userID int64, t TwoFactor) error {
	_, err := q.exec(ctx, `UPDATE users SET tfa_mode = ?, tfa_pending = ?, tfa_secret = ?, tfa_last_step = ?, updated_at = ?
		WHERE id = ?`, string(t.Mode), t.Pending, t.Secret, t.LastStep, Now(), userID)
	if err != nil {
		return fmt.Errorf("set two-factor state: %w", err)
	}
	return nil
}

// UseStep records that the OTP of step was used, if no later step was; it
// reports false when step is not after the last used one (a replay, or a
// race with another request using the same code).
func (q Queries) UseStep(ctx context.Context, userID, step int64) (bool, error) {
	res, err := q.exec(ctx, `UPDATE users SET tfa_last_step = ? WHERE id = ? AND tfa_last_step < ?`, step, userID, step)
	if err != nil {
		return false, fmt.Errorf("record otp step: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// SetPassword replaces a user's password hash.
func (q Queries) SetPassword(ctx context.Context, userID int64, hash string) error {
	if _, err := q.exec(ctx, `UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?`, hash, Now(), userID); err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	return nil
}

// SetEmail replaces a user's email and publishes the change, which cached
// credentials hold (run it in a transaction to do both or neither).
func (q Queries) SetEmail(ctx context.Context, userID int64, email string) error {
	if _, err := q.exec(ctx, `UPDATE users SET email = ?, updated_at = ? WHERE id = ?`, email, Now(), userID); err != nil {
		return fmt.Errorf("set email: %w", err)
	}
	return q.Publish(ctx, Change{Kind: UserChanged, Key: strconv.FormatInt(userID, 10)})
}

// ReplaceRecoveryCodes deletes a user's recovery codes and stores hashes.
func (q Queries) ReplaceRecoveryCodes(ctx context.Context, userID int64, hashes [][]byte) error {
	if _, err := q.exec(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID); err != nil {
		return fmt.Errorf("delete recovery codes: %w", err)
	}
	for _, h := range hashes {
		if _, err := q.exec(ctx, `INSERT INTO recovery_codes (user_id, hash) VALUES (?, ?)`, userID, h); err != nil {
			return fmt.Errorf("store recovery code: %w", err)
		}
	}
	return nil
}

// UseRecoveryCode marks the unused code with this hash used; it reports
// whether there was one.
func (q Queries) UseRecoveryCode(ctx context.Context, userID int64, hash []byte) (bool, error) {
	rows, err := q.query(ctx, `SELECT id, hash FROM recovery_codes WHERE user_id = ? AND used_at IS NULL`, userID)
	if err != nil {
		return false, fmt.Errorf("read recovery codes: %w", err)
	}
	var match int64
	for rows.Next() {
		var id int64
		var h []byte
		if err := rows.Scan(&id, &h); err != nil {
			rows.Close()
			return false, fmt.Errorf("scan recovery code: %w", err)
		}
		if subtle.ConstantTimeCompare(h, hash) == 1 {
			match = id
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, err
	}
	if match == 0 {
		return false, nil
	}
	res, err := q.exec(ctx, `UPDATE recovery_codes SET used_at = ? WHERE id = ? AND used_at IS NULL`, Now(), match)
	if err != nil {
		return false, fmt.Errorf("use recovery code: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// UnusedRecoveryCodes counts a user's unused recovery codes.
func (q Queries) UnusedRecoveryCodes(ctx context.Context, userID int64) (int, error) {
	var n int
	if err := q.row(ctx, `SELECT COUNT(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL`, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count recovery codes: %w", q.d.mapError(err))
	}
	return n, nil
}

// PackageMFA is a package's two-factor setting (npm access set mfa=...).
type PackageMFA struct {
	PublishRequiresTFA     bool
	AutomationOverridesTFA bool
}

// PackageMFAOf reads a package's two-factor setting.
func (q Queries) PackageMFAOf(ctx context.Context, packageID int64) (PackageMFA, error) {
	var m PackageMFA
	err := q.row(ctx, `SELECT publish_requires_tfa, automation_overrides_tfa FROM packages WHERE id = ?`, packageID).
		Scan(&m.PublishRequiresTFA, &m.AutomationOverridesTFA)
	if err != nil {
		return PackageMFA{}, q.scanErr(err, "package not found")
	}
	return m, nil
}

// SetPackageMFA writes a package's two-factor setting.
func (q Queries) SetPackageMFA(ctx context.Context, packageID int64, m PackageMFA) error {
	_, err := q.exec(ctx, `UPDATE packages SET publish_requires_tfa = ?, automation_overrides_tfa = ? WHERE id = ?`,
		m.PublishRequiresTFA, m.AutomationOverridesTFA, packageID)
	if err != nil {
		return fmt.Errorf("set package 2fa: %w", err)
	}
	return nil
}

// SetPackageAccess sets a package public or restricted.
func (q Queries) SetPackageAccess(ctx context.Context, packageID int64, access Access) error {
	if _, err := q.exec(ctx, `UPDATE packages SET access = ? WHERE id = ?`, access, packageID); err != nil {
		return fmt.Errorf("set package access: %w", err)
	}
	return nil
}
