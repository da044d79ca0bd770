package account

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"

	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// This file holds the user's half of a password reset: an administrator
// hands over a link (see package admin), and its owner sets a new password
// with it. The link's secret is stored only as a hash.

// NewResetSecret returns a password reset link's secret (256 random bits,
// URL-safe) and the hash of it that is stored.
func NewResetSecret() (secret string, hash []byte, err error) {
	secret, err = randomID()
	if err != nil {
		return "", nil, fmt.Errorf("password reset: %w", err)
	}
	return secret, resetHash(secret), nil
}

func resetHash(secret string) []byte {
	sum := sha256.Sum256([]byte("gatehouse password reset " + secret))
	return sum[:]
}

// errResetUnknown is the answer to a reset link that is unknown, used,
// replaced or expired, all alike.
func errResetUnknown() error {
	return fault.NotFoundf("This password reset link is unknown, used or expired: ask your administrator for a new one.")
}

// PasswordResetInfo is what the reset page shows.
type PasswordResetInfo struct {
	UserName string
	// NeedOTP says that the account has 2FA on, so the reset takes a
	// one-time password too.
	NeedOTP bool
}

// pendingReset finds the live reset of secret.
func (s *Service) pendingReset(ctx context.Context, secret string) (store.User, error) {
	if secret == "" || len(secret) > 100 {
		return store.User{}, errResetUnknown()
	}
	u, expires, err := s.store.Q().PasswordReset(ctx, resetHash(secret))
	if fault.Is(err, fault.NotFound) || (err == nil && expires <= s.opts.Now().UnixMilli()) {
		return store.User{}, errResetUnknown()
	}
	return u, err
}

// PasswordResetInfo describes the reset link secret.
func (s *Service) PasswordResetInfo(ctx context.Context, secret string) (PasswordResetInfo, error) {
	u, err := s.pendingReset(ctx, secret)
	if err != nil {
		return PasswordResetInfo{}, err
	}
	tf, err := s.store.Q().TwoFactorOf(ctx, u.ID)
	if err != nil {
		return PasswordResetInfo{}, err
	}
	return PasswordResetInfo{UserName: u.Name, NeedOTP: tf.Enabled()}, nil
}

// CompletePasswordReset sets the password of the account the reset link
// secret belongs to, once, and ends the reset. With 2FA on it takes a
// one-time password as well (otp), so that whoever holds the link (an
// administrator included) cannot take over an account protected by 2FA
// without also resetting that, which is an audit event of its own.
func (s *Service) CompletePasswordReset(ctx context.Context, secret, password, otp string) (_ store.User, err error) {
	var target audit.Target
	otp = strings.TrimSpace(otp)
	if otp != "" {
		ctx = auth.WithOTP(ctx, otp)
	}
	var actor *auth.Principal
	defer func() { s.refused(ctx, actor, audit.PasswordReset, target, &err) }()
	u, err := s.pendingReset(ctx, secret)
	if err != nil {
		return store.User{}, err
	}
	target, actor = userTarget(u), userActor(u)
	if err := ValidatePassword(password); err != nil {
		return store.User{}, err
	}
	tf, err := s.store.Q().TwoFactorOf(ctx, u.ID)
	if err != nil {
		return store.User{}, err
	}
	if tf.Enabled() {
		if otp == "" {
			return store.User{}, ErrOTPRequired()
		}
		if err := s.verifyOTP(ctx, u.ID, tf, otp); err != nil {
			return store.User{}, err
		}
	}
	hash, err := HashPassword(password)
	if err != nil {
		return store.User{}, err
	}
	err = s.store.InTx(ctx, func(q store.Queries) error {
		ok, err := q.FinishPasswordReset(ctx, u.ID, resetHash(secret), hash)
		if err != nil {
			return err
		}
		if !ok {
			return errResetUnknown()
		}
		return s.record(ctx, q, actor, audit.PasswordReset, audit.Target{}, "with an administrator's reset link")
	})
	if err != nil {
		return store.User{}, err
	}
	return u, nil
}

// VerifyPassword checks p's user's password, under the password lockout:
// what a form asks again before an action that needs it (site
// administration, like token creation).
func (s *Service) VerifyPassword(ctx context.Context, p *auth.Principal, password string) error {
	if !p.Authenticated() {
		return auth.ErrAuthRequired()
	}
	if password == "" {
		return fault.Invalidf("Password is required")
	}
	u, err := s.store.Q().UserByID(ctx, p.UserID)
	if err != nil {
		return err
	}
	return s.checkPassword(ctx, u, password)
}
