package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/gatehouse-registry/gatehouse/internal/totp"
)

// The paths a lockout applies to.
const (
	pathPassword = "password"
	pathOTP      = "otp"
)

// recoveryCodes is how many recovery codes enabling 2FA gives.
const recoveryCodes = 10

// ErrOTPRequired is npm's OTP challenge: 401 with WWW-Authenticate: OTP.
func ErrOTPRequired() *fault.Error {
	return &fault.Error{Kind: fault.Unauthorized, Message: "This operation requires a one-time password.", Challenge: "OTP"}
}

// checkPassword verifies a user's password under the password lockout.
func (s *Service) checkPassword(ctx context.Context, u store.User, password string) error {
	ok, err := s.guarded(ctx, u.ID, pathPassword, func() (bool, error) { return s.matches(ctx, u.PasswordHash, password) })
	if err != nil {
		return err
	}
	if !ok {
		return &fault.Error{Kind: fault.Unauthorized, Message: "Incorrect password"}
	}
	return nil
}

// ConfirmPassword checks that password is p's user's, under the password
// lockout: for the website's steps that a session alone may not take
// (approving a staged version).
func (s *Service) ConfirmPassword(ctx context.Context, p *auth.Principal, password string) error {
	if !p.Authenticated() {
		return auth.ErrAuthRequired()
	}
	u, err := s.store.Q().UserByID(ctx, p.UserID)
	if err != nil {
		return err
	}
	return s.proveUser(ctx, p, u, password, "Password is required")
}

// verifyOTP checks code (a TOTP code, or an unused recovery code) for the
// user, under the OTP lockout. A code is accepted once.
func (s *Service) verifyOTP(ctx context.Context, userID int64, tf store.TwoFactor, code string) error {
	code = strings.TrimSpace(code)
	ok, err := s.guarded(ctx, userID, pathOTP, func() (bool, error) {
		if len(code) == totp.Digits {
			secret, err := s.openSecret(userID, tf.Secret)
			if err != nil {
				return false, err
			}
			step, ok := totp.Verify(secret, code, s.opts.Now(), tf.LastStep)
			if !ok {
				return false, nil
			}
			// The conditional update refuses a replay that raced this request.
			return s.store.Q().UseStep(ctx, userID, step)
		}
		if isWebOTP(code) {
			return s.useWebOTP(ctx, userID, code)
		}
		if h, ok := recoveryHash(code); ok {
			return s.store.Q().UseRecoveryCode(ctx, userID, h)
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	if !ok {
		return ErrOTPRequired()
	}
	return nil
}

// RequireOTP enforces two-factor authentication for op by p: nothing when not
// needed, the OTP challenge when needed and missing or wrong, a 403 when no
// OTP could help. pkg is the package's setting, for publishes.
func (s *Service) RequireOTP(ctx context.Context, p *auth.Principal, op policy.OTPOp, pkg *store.PackageMFA) error {
	if !p.Authenticated() {
		return auth.ErrAuthRequired()
	}
	tf, facts, err := s.otpFacts(ctx, p, pkg)
	if err != nil {
		return err
	}
	need, err := policy.NeedsOTP(p, op, facts)
	if err != nil || !need {
		return err
	}
	code := auth.OTP(ctx)
	if code == "" {
		return ErrOTPRequired()
	}
	return s.verifyOTP(ctx, p.UserID, tf, code)
}

// ChallengeOTP answers as RequireOTP does for op by p without a package's
// setting, but checks no one-time password: nil when none is needed or one
// came with the request (to be checked by RequireOTP, once, when the
// operation is known), the OTP challenge when one is needed and none came,
// a 403 when none could help. It lets a request be refused before its body
// is read.
func (s *Service) ChallengeOTP(ctx context.Context, p *auth.Principal, op policy.OTPOp) error {
	if !p.Authenticated() {
		return auth.ErrAuthRequired()
	}
	_, facts, err := s.otpFacts(ctx, p, nil)
	if err != nil {
		return err
	}
	need, err := policy.NeedsOTP(p, op, facts)
	if err != nil || !need {
		return err
	}
	if auth.OTP(ctx) == "" {
		return ErrOTPRequired()
	}
	return nil
}

// otpFacts reads what policy needs for a two-factor decision about p's user:
// their two-factor state, the registry's setting and the package's, if any.
func (s *Service) otpFacts(ctx context.Context, p *auth.Principal, pkg *store.PackageMFA) (store.TwoFactor, policy.OTPFacts, error) {
	tf, err := s.store.Q().TwoFactorOf(ctx, p.UserID)
	if err != nil {
		return tf, policy.OTPFacts{}, err
	}
	facts := policy.OTPFacts{RegistryRequires2FA: s.opts.Require2FA, Reenroll: tf.Reenroll}
	if tf.Enabled() {
		facts.UserMode = tf.Mode
	}
	if pkg != nil {
		facts.Publish = true
		facts.PackageRequiresTFA, facts.AutomationOverridesTFA = pkg.PublishRequiresTFA, pkg.AutomationOverridesTFA
	}
	return tf, facts, nil
}

// NeedsOTP says whether op by p would ask for a one-time password, for the
// forms that show the field; policy.NeedsOTP decides, as for RequireOTP. An
// operation that no one-time password could make acceptable (require_2fa
// and no 2FA) needs none: its refusal comes when the form is sent.
func (s *Service) NeedsOTP(ctx context.Context, p *auth.Principal, op policy.OTPOp) (bool, error) {
	if !p.Authenticated() {
		return false, auth.ErrAuthRequired()
	}
	_, facts, err := s.otpFacts(ctx, p, nil)
	if err != nil {
		return false, err
	}
	need, err := policy.NeedsOTP(p, op, facts)
	if fault.Is(err, fault.Forbidden) {
		return false, nil
	}
	return need, err
}

func (s *Service) openSecret(userID int64, sealed []byte) ([]byte, error) {
	return s.sealer.Open(sealed, []byte("user:"+strconv.FormatInt(userID, 10)))
}

func (s *Service) sealSecret(userID int64, secret []byte) ([]byte, error) {
	return s.sealer.Seal(secret, []byte("user:"+strconv.FormatInt(userID, 10)))
}

// newRecoveryCode is 20 hex characters (80 random bits), shown once.
func newRecoveryCode() (string, []byte, error) {
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	code := hex.EncodeToString(b)
	h, _ := recoveryHash(code)
	return code, h, nil
}

// recoveryHash is the stored form of a recovery code; ok is false for a
// string that cannot be one.
func recoveryHash(code string) ([]byte, bool) {
	code = strings.ToLower(strings.ReplaceAll(strings.TrimSpace(code), "-", ""))
	if len(code) != 20 {
		return nil, false
	}
	if _, err := hex.DecodeString(code); err != nil {
		return nil, false
	}
	sum := sha256.Sum256([]byte("gatehouse recovery code " + code))
	return sum[:], true
}

// Profile is what npm profile get shows.
type Profile struct {
	Name      string
	Email     string
	TFAMode   store.TFAMode // store.TFAOff when 2FA is off
	Pending   bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Profile returns p's user's profile.
func (s *Service) Profile(ctx context.Context, p *auth.Principal) (Profile, error) {
	if !p.Authenticated() {
		return Profile{}, auth.ErrAuthRequired()
	}
	q := s.store.Q()
	u, err := q.UserByID(ctx, p.UserID)
	if err != nil {
		return Profile{}, err
	}
	tf, err := q.TwoFactorOf(ctx, p.UserID)
	if err != nil {
		return Profile{}, err
	}
	return Profile{Name: u.Name, Email: u.Email, TFAMode: tf.Mode, Pending: tf.Pending,
		CreatedAt: time.UnixMilli(u.CreatedAt), UpdatedAt: time.UnixMilli(u.UpdatedAt)}, nil
}

// SetTFAResult is the answer to a 2FA change: an otpauth URL to confirm, or
// the recovery codes after confirmation, or neither (a mode change or disable).
type SetTFAResult struct {
	OTPAuthURL    string
	RecoveryCodes []string
}

// DisableTFA is the mode SetTFAMode takes to turn two-factor authentication off.
const DisableTFA = "disable"

// SetTFAMode starts enabling 2FA (answering with an otpauth URL to confirm),
// changes the mode of an enabled 2FA, or ("disable") turns it off. The
// password is required; with 2FA on, so is an OTP.
func (s *Service) SetTFAMode(ctx context.Context, p *auth.Principal, password, mode string) (_ SetTFAResult, err error) {
	action := audit.TFAModeChange
	if mode == DisableTFA {
		action = audit.TFADisable
	}
	defer s.refused(ctx, p, action, audit.Target{}, &err)
	if err := policy.DecideAccount(p, policy.ChangeProfile); err != nil {
		return SetTFAResult{}, err
	}
	if mode != DisableTFA && !store.TFAMode(mode).Valid() {
		return SetTFAResult{}, fault.Invalidf("Invalid 2FA mode %q: use auth-only, auth-and-writes or disable", mode)
	}
	q := s.store.Q()
	u, err := q.UserByID(ctx, p.UserID)
	if err != nil {
		return SetTFAResult{}, err
	}
	if err := s.proveUser(ctx, p, u, password, ""); err != nil {
		return SetTFAResult{}, err
	}
	tf, err := q.TwoFactorOf(ctx, u.ID)
	if err != nil {
		return SetTFAResult{}, err
	}
	if tf.Enabled() {
		if err := s.RequireOTP(ctx, p, policy.OTPProfile, nil); err != nil {
			return SetTFAResult{}, err
		}
	}
	switch {
	case mode == DisableTFA:
		err := s.store.InTx(ctx, func(q store.Queries) error {
			if err := q.SetTwoFactor(ctx, u.ID, store.TwoFactor{LastStep: tf.LastStep}); err != nil {
				return err
			}
			if err := q.ReplaceRecoveryCodes(ctx, u.ID, nil); err != nil {
				return err
			}
			return s.record(ctx, q, p, audit.TFADisable, audit.Target{}, "")
		})
		if err == nil {
			s.log.InfoContext(ctx, "two-factor authentication disabled", slog.String("user", u.Name))
		}
		return SetTFAResult{}, err
	case tf.Enabled():
		tf.Mode = store.TFAMode(mode)
		err := s.store.InTx(ctx, func(q store.Queries) error {
			if err := q.SetTwoFactor(ctx, u.ID, tf); err != nil {
				return err
			}
			return s.record(ctx, q, p, audit.TFAModeChange, audit.Target{}, mode)
		})
		if err != nil {
			return SetTFAResult{}, err
		}
		s.log.InfoContext(ctx, "two-factor mode changed", slog.String("user", u.Name), slog.String("mode", mode))
		return SetTFAResult{}, nil
	}
	secret, err := totp.NewSecret()
	if err != nil {
		return SetTFAResult{}, err
	}
	sealed, err := s.sealSecret(u.ID, secret)
	if err != nil {
		return SetTFAResult{}, err
	}
	if err := q.SetTwoFactor(ctx, u.ID, store.TwoFactor{Mode: store.TFAMode(mode), Pending: true, Secret: sealed, LastStep: tf.LastStep}); err != nil {
		return SetTFAResult{}, err
	}
	return SetTFAResult{OTPAuthURL: totp.URL(s.opts.Issuer, u.Name, secret)}, nil
}

// ConfirmTFA finishes enabling 2FA with a first OTP from the authenticator and
// returns the recovery codes, shown this once and stored only hashed.
func (s *Service) ConfirmTFA(ctx context.Context, p *auth.Principal, code string) (_ []string, err error) {
	defer func() {
		// The code is the one-time password here: a wrong one is a refusal.
		s.refused(auth.WithOTP(ctx, code), p, audit.TFAEnable, audit.Target{}, &err)
	}()
	if err := policy.DecideAccount(p, policy.ChangeProfile); err != nil {
		return nil, err
	}
	tf, err := s.store.Q().TwoFactorOf(ctx, p.UserID)
	if err != nil {
		return nil, err
	}
	if !tf.Pending {
		return nil, fault.Invalidf("Two-factor authentication is not being enabled; start with npm profile enable-2fa")
	}
	if err := s.verifyOTP(ctx, p.UserID, tf, code); err != nil {
		return nil, err
	}
	codes := make([]string, 0, recoveryCodes)
	hashes := make([][]byte, 0, recoveryCodes)
	for i := 0; i < recoveryCodes; i++ {
		c, h, err := newRecoveryCode()
		if err != nil {
			return nil, err
		}
		codes, hashes = append(codes, c), append(hashes, h)
	}
	err = s.store.InTx(ctx, func(q store.Queries) error {
		cur, err := q.TwoFactorOf(ctx, p.UserID)
		if err != nil {
			return err
		}
		cur.Pending = false
		if err := q.SetTwoFactor(ctx, p.UserID, cur); err != nil {
			return err
		}
		if err := q.ReplaceRecoveryCodes(ctx, p.UserID, hashes); err != nil {
			return err
		}
		if cur.Reenroll {
			if err := q.SetTFAReenroll(ctx, p.UserID, false); err != nil {
				return err
			}
		}
		return s.record(ctx, q, p, audit.TFAEnable, audit.Target{}, string(cur.Mode))
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "two-factor authentication enabled", slog.String("user", p.UserName), slog.String("mode", string(tf.Mode)))
	return codes, nil
}

// ChangePassword replaces p's user's password: the old one is required, and
// an OTP with 2FA on. Every other login session of the user (npm login, the
// website) ends with it, so that whoever held one with the old password is
// signed out; access tokens stay (see ChangePasswordRevokeTokens). This is
// npm profile set password, which cannot ask whether to keep them
// (docs/security-accounts.md says why they stay).
func (s *Service) ChangePassword(ctx context.Context, p *auth.Principal, old, new string) error {
	return s.changePassword(ctx, p, old, new, false)
}

// ChangePasswordRevokeTokens is ChangePassword that also revokes every
// access token of the user: the website's choice, for a password that leaked.
func (s *Service) ChangePasswordRevokeTokens(ctx context.Context, p *auth.Principal, old, new string) error {
	return s.changePassword(ctx, p, old, new, true)
}

func (s *Service) changePassword(ctx context.Context, p *auth.Principal, old, new string, revokeTokens bool) (err error) {
	defer s.refused(ctx, p, audit.PasswordChange, audit.Target{}, &err)
	if err := policy.DecideAccount(p, policy.ChangeProfile); err != nil {
		return err
	}
	if err := ValidatePassword(new); err != nil {
		return err
	}
	u, err := s.store.Q().UserByID(ctx, p.UserID)
	if err != nil {
		return err
	}
	if err := s.checkPassword(ctx, u, old); err != nil {
		return err
	}
	if err := s.RequireOTP(ctx, p, policy.OTPProfile, nil); err != nil {
		return err
	}
	hash, err := s.hash(ctx, new)
	if err != nil {
		return err
	}
	// The credential making the change stays: the session (or token) the
	// person is using now. Revoking the others commits with the password.
	keep := p.TokenID
	var revoked [][]byte
	err = s.store.InTx(ctx, func(q store.Queries) error {
		if err := q.SetPassword(ctx, u.ID, hash); err != nil {
			return err
		}
		if revoked, err = q.RevokeUserTokens(ctx, u.ID, keep, !revokeTokens); err != nil {
			return err
		}
		return s.record(ctx, q, p, audit.PasswordChange, audit.Target{}, "")
	})
	if err != nil {
		return err
	}
	for _, h := range revoked {
		s.opts.OnRevoke(h)
	}
	s.log.InfoContext(ctx, "password changed", slog.String("user", u.Name), slog.Int("credentials_revoked", len(revoked)),
		slog.Bool("tokens_revoked", revokeTokens))
	return nil
}

// SetEmail changes p's user's email. It needs the user's current password
// or, with 2FA on, a one-time password (the npm CLI sends the OTP; it has
// no way to send a password): a stolen session alone cannot change it.
// Setting the email it already has changes nothing and needs neither (npm
// profile set password sends the email back unchanged).
func (s *Service) SetEmail(ctx context.Context, p *auth.Principal, email, password string) (err error) {
	defer s.refused(ctx, p, audit.EmailChange, audit.Target{}, &err)
	if err := policy.DecideAccount(p, policy.ChangeProfile); err != nil {
		return err
	}
	if err := ValidateEmail(email); err != nil {
		return err
	}
	q := s.store.Q()
	u, err := q.UserByID(ctx, p.UserID)
	if err != nil {
		return err
	}
	if u.Email == email {
		return nil
	}
	tf, err := q.TwoFactorOf(ctx, u.ID)
	if err != nil {
		return err
	}
	if !tf.Enabled() || password != "" {
		if password == "" {
			return fault.Forbiddenf("Changing your email needs your current password: change it on the website, " +
				"or turn on two-factor authentication to confirm it with a one-time password")
		}
		if err := s.checkPassword(ctx, u, password); err != nil {
			return err
		}
	}
	if err := s.RequireOTP(ctx, p, policy.OTPProfile, nil); err != nil {
		return err
	}
	if err := s.store.InTx(ctx, func(q store.Queries) error {
		if err := q.SetEmail(ctx, p.UserID, email); err != nil {
			return err
		}
		return s.record(ctx, q, p, audit.EmailChange, audit.Target{}, "")
	}); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "email changed", slog.String("user", u.Name))
	return nil
}
