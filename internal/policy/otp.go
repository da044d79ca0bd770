package policy

import (
	"fmt"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// OTPOp classifies a request for two-factor authentication.
type OTPOp string

// The operations two-factor modes talk about (spec/tokens.md section 6).
const (
	OTPLogin        OTPOp = "login"         // password login
	OTPTokens       OTPOp = "tokens"        // token create and revoke
	OTPProfile      OTPOp = "profile"       // profile, password and 2FA changes
	OTPPackageWrite OTPOp = "package-write" // publish, unpublish, deprecate, dist-tags
	OTPGovernance   OTPOp = "governance"    // owners, package access and 2FA settings, organizations
	OTPTrust        OTPOp = "trust"         // trusted publishing configurations (npm trust)
	// OTPApprove is approving a staged version, the person's step of staged
	// publishing: a one-time password whenever the user has 2FA, whatever
	// the credential (no token is exempt).
	OTPApprove OTPOp = "approve"
	OTPAdmin   OTPOp = "admin" // site administration: changes to other accounts
)

// OTPFacts is what the caller knows for a two-factor decision.
type OTPFacts struct {
	// UserMode is the user's confirmed 2FA mode (store.TFAOff when none).
	UserMode store.TFAMode
	// RegistryRequires2FA is the registry's require_2fa policy.
	RegistryRequires2FA bool
	// Reenroll is set while the user must enable 2FA again after an
	// administrator reset it: for them, as if the registry required 2FA.
	Reenroll bool
	// Publish is set for a publish, where the package's own setting applies too.
	Publish bool
	// PackageRequiresTFA and AutomationOverridesTFA are the package's setting
	// (npm access set mfa=...): none, publish (requires, no override) or
	// automation (requires, automation and bypass tokens override).
	PackageRequiresTFA     bool
	AutomationOverridesTFA bool
}

// ErrRequire2FA refuses a write to a user without 2FA on a registry that requires it.
func ErrRequire2FA() error {
	return fault.Forbiddenf("This registry requires two-factor authentication for this operation: enable it with npm profile enable-2fa auth-and-writes")
}

// ErrReenroll2FA refuses a write to a user whose 2FA an administrator reset,
// until they enable it again.
func ErrReenroll2FA() error {
	return fault.Forbiddenf("An administrator reset your two-factor authentication: enable it again (npm profile enable-2fa auth-and-writes, or the website's Two-factor authentication page) before this operation")
}

// ErrPackageRequires2FA is npm's answer to a publish that a package's 2FA setting forbids.
func ErrPackageRequires2FA() error {
	return fault.Forbiddenf("Two-factor authentication or granular access token with bypass 2fa enabled is required to publish packages.")
}

// ErrTrustRequires2FA refuses a trusted publishing change to a user without 2FA.
func ErrTrustRequires2FA() error {
	return fault.Forbiddenf("Two-factor authentication is required to configure trusted publishing: enable it with npm profile enable-2fa")
}

// NeedsOTP says whether op by p needs a one-time password. It returns an
// error instead when no OTP could make the operation acceptable.
func NeedsOTP(p *auth.Principal, op OTPOp, f OTPFacts) (bool, error) {
	// A trust configuration lets a CI job publish without any stored secret:
	// as npm does, only a user with 2FA may add or remove one, and always
	// with a one-time password, whatever their 2FA mode and credential.
	if op == OTPTrust {
		if f.UserMode == store.TFAOff {
			return false, ErrTrustRequires2FA()
		}
		return true, nil
	}
	// Tokens exempt from the challenge: legacy automation tokens always;
	// bypass-2FA granular tokens for package writes only.
	exempt := p.Kind == auth.KindAutomation || (p.Kind == auth.KindGranular && p.Bypass2FA && op == OTPPackageWrite)
	// require_2fa, or a 2FA reset by an administrator: no writes and no new
	// tokens until the user has 2FA; logging in and turning 2FA on stay
	// possible.
	if f.UserMode == store.TFAOff && op != OTPLogin && op != OTPProfile {
		switch {
		case f.Reenroll:
			return false, ErrReenroll2FA()
		case f.RegistryRequires2FA:
			return false, ErrRequire2FA()
		}
	}
	// A token exchanged for a CI job's OIDC identity is the proof of that
	// identity: no person is there to answer a challenge, and packages that
	// require 2FA and disallow tokens still take trusted publishes (npm's rule).
	if p.Kind == auth.KindOIDC && op == OTPPackageWrite {
		return false, nil
	}
	if op == OTPApprove {
		if f.PackageRequiresTFA && f.UserMode == store.TFAOff {
			return false, ErrPackageRequires2FA()
		}
		return f.UserMode != store.TFAOff, nil
	}
	if op == OTPPackageWrite && f.Publish && f.PackageRequiresTFA {
		if exempt && f.AutomationOverridesTFA {
			return false, nil
		}
		if f.UserMode == store.TFAOff {
			return false, ErrPackageRequires2FA()
		}
		return true, nil
	}
	if f.UserMode == store.TFAOff || exempt {
		return false, nil
	}
	switch op {
	case OTPLogin, OTPTokens, OTPProfile, OTPAdmin:
		return true, nil
	case OTPPackageWrite, OTPGovernance:
		return f.UserMode == store.TFAAuthAndWrites, nil
	}
	return false, fmt.Errorf("policy: unknown OTP operation %q", op)
}
