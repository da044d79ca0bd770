package policy

import (
	"fmt"
	"net/netip"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// AccountAction is something a request wants to do to its own account.
type AccountAction string

// The account actions.
const (
	ManageTokens  AccountAction = "manage-tokens"  // list, create and revoke access tokens
	ChangeProfile AccountAction = "change-profile" // email, password, 2FA
	// ReadSecurityLog reads the account's own security log (the audit
	// events it did and those done to it).
	ReadSecurityLog AccountAction = "read-security-log"
)

// DecideAccount returns nil when p may do a to its own account. Only a login
// session and a legacy publish token ("everything its user may do") may.
//
// The security log is decided like the account's changes, not like reading
// the profile (which any of the user's tokens may): it tells where and when
// its user signs in, from which addresses each token is used, and which
// tokens exist. A granular, automation or read-only token is what gets
// handed to CI and to machines, and what leaks from them; its holder must
// not learn from it how to find, or follow, its owner. The safer choice
// costs the owner nothing: they read their log after npm login, or on the
// website.
func DecideAccount(p *auth.Principal, a AccountAction) error {
	if !p.Authenticated() {
		return auth.ErrAuthRequired()
	}
	what := "manage tokens"
	switch a {
	case ManageTokens:
	case ChangeProfile:
		what = "change the profile"
	case ReadSecurityLog:
		what = "read the security log"
	default:
		return fmt.Errorf("policy: unknown account action %q", a)
	}
	switch p.Kind {
	case auth.KindSession, auth.KindPublish:
		return nil
	case auth.KindGranular:
		return fault.Forbiddenf("Granular access tokens cannot %s; use npm login", what)
	}
	return fault.Forbiddenf("This %s token cannot %s; use npm login", p.Kind, what)
}

// Registrant is who asks for a new account.
type Registrant string

// The registrants.
const (
	SelfRegistration  Registrant = "self"  // npm adduser, the website's sign-up
	AdminRegistration Registrant = "admin" // gatehouse user add, run by an administrator
)

// DecideRegistration returns nil when who may create an account on a
// registry whose registration is open or not: people sign themselves up
// only while it is open; an administrator creates accounts either way.
func DecideRegistration(who Registrant, open bool) error {
	switch who {
	case AdminRegistration:
		return nil
	case SelfRegistration:
		if open {
			return nil
		}
		return fault.Forbiddenf("Registration is closed on this registry; ask an administrator for an account")
	}
	return fmt.Errorf("policy: unknown registrant %q", who)
}

// DecideContinueWebLogin returns nil when p, the session a browser is signed
// in with, may confirm an npm login (npm login --auth-type=web) without the
// password: "Continue as NAME". It hands the CLI a session like the browser's
// own, so only a login session may, and only when the CLI started the login
// from the browser's own address (startedFrom): a confirmation link that
// came from elsewhere, perhaps from someone who wants the browser's user to
// sign them in, asks for the password instead. The caller asks NeedsOTP
// (OTPLogin) besides. An unknown address on either side fails closed.
func DecideContinueWebLogin(p *auth.Principal, startedFrom netip.Addr) error {
	if !p.Authenticated() {
		return auth.ErrAuthRequired()
	}
	if p.Kind != auth.KindSession {
		return fault.Forbiddenf("Only a signed-in browser can confirm an npm login without the password")
	}
	if !startedFrom.IsValid() || !p.ClientIP.IsValid() || startedFrom.Unmap() != p.ClientIP.Unmap() {
		return fault.Forbiddenf("This npm login was started from another address; confirm it with your password")
	}
	return nil
}
