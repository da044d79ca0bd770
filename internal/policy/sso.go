package policy

import (
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// SSOAdmission is a provider's rule of who may sign in through it: people
// whose verified email is in one of AllowedDomains, when set, and who are
// in one of AllowedGroups, when set.
type SSOAdmission struct {
	Provider       string // the provider's name, for the messages
	AllowedDomains []string
	AllowedGroups  []string
}

// SSOPerson is what a provider's verified ID token says of a person.
type SSOPerson struct {
	Email         string
	EmailVerified bool
	Groups        []string
}

// DecideSSOSignIn returns nil when the person a provider vouches for may
// sign in through it. A domain is matched exactly (no subdomains), without
// case, and only on an email the provider says it verified: anyone can type
// an address into their profile at many providers.
func DecideSSOSignIn(rule SSOAdmission, who SSOPerson) error {
	if len(rule.AllowedDomains) > 0 {
		_, domain, ok := strings.Cut(who.Email, "@")
		domain = strings.ToLower(domain)
		if !ok || !who.EmailVerified || strings.Contains(domain, "@") ||
			!slices.ContainsFunc(rule.AllowedDomains, func(d string) bool { return strings.ToLower(d) == domain }) {
			return fault.Forbiddenf("Your %s account may not sign in here: its verified email is not in a domain this registry admits", rule.Provider)
		}
	}
	if len(rule.AllowedGroups) > 0 && !slices.ContainsFunc(who.Groups, func(g string) bool {
		return slices.Contains(rule.AllowedGroups, g)
	}) {
		return fault.Forbiddenf("Your %s account may not sign in here: it is in none of the groups this registry admits", rule.Provider)
	}
	return nil
}

// SSOFirstSignIn are the facts of a sign-in through a provider whose
// subject is linked to no account yet.
type SSOFirstSignIn struct {
	Provider string
	// CreateUsers is the provider's setting: accounts are created on a
	// first sign-in.
	CreateUsers bool
	// EmailTaken: an account here already has the email the provider gave.
	EmailTaken bool
	// Name is the user name the provider's claim gives; NameTaken, that an
	// account (or a deleted one) has it.
	Name      string
	NameTaken bool
}

// DecideSSOAccount returns nil when a first sign-in through a provider may
// create an account for the person (every refusal is Forbidden, a refused
// sign-in the audit log keeps). An account is never taken over because
// the provider gives its email: that person signs in to it with its
// password once and links the provider from the profile page (account
// links are by the provider's subject only).
func DecideSSOAccount(f SSOFirstSignIn) error {
	switch {
	case f.EmailTaken:
		return fault.Forbiddenf("An account here already has the email of your %s account, and a single sign-on never "+
			"takes an account over: sign in to it with its password, then link %s from your profile page", f.Provider, f.Provider)
	case !f.CreateUsers:
		return fault.Forbiddenf("No account here is linked to your %s account, and accounts are not created on a first "+
			"sign-in: ask an administrator, or sign in with your password and link %s from your profile page", f.Provider, f.Provider)
	case f.Name == "":
		return fault.Forbiddenf("Your %s account gives no user name for a new account here; ask an administrator", f.Provider)
	case f.NameTaken:
		return fault.Forbiddenf("The user name %s is taken here; if it is yours, sign in with its password and link %s "+
			"from your profile page", f.Name, f.Provider)
	}
	return nil
}

// SSOGroupGrant is an organization membership (and, when Team is set, a
// team) that members of a provider's Group get.
type SSOGroupGrant struct {
	Group, Org, Team string
}

// SSOMemberships returns the grants of mapping that a person in groups
// gets, in mapping's order. Group names compare exactly. Memberships are
// only added, as a member: a role someone has already is never changed,
// and leaving a group at the provider removes nothing here.
func SSOMemberships(mapping []SSOGroupGrant, groups []string) []SSOGroupGrant {
	var out []SSOGroupGrant
	for _, m := range mapping {
		if slices.Contains(groups, m.Group) {
			out = append(out, m)
		}
	}
	return out
}

// PasswordOff reports whether local passwords are off for an account: the
// SSO-only setting turns them off for everyone but site administrators
// (who keep them, so that a provider's outage never locks the registry's
// operators out).
func PasswordOff(ssoOnly, admin bool) bool { return ssoOnly && !admin }

// DecidePasswordSignIn returns nil when an account may sign in (or prove
// itself) with its password.
func DecidePasswordSignIn(ssoOnly, admin bool) error {
	if PasswordOff(ssoOnly, admin) {
		return fault.Forbiddenf("Password sign-in is turned off on this registry: sign in with single sign-on " +
			"(the website's \"Sign in with\" buttons, or npm login --auth-type=web)")
	}
	return nil
}

// FreshSignIn is how recent a sign-in must be to stand in for the password
// of an account whose password is off (or that has none): creating a token,
// approving a staged version, changing two-factor authentication.
const FreshSignIn = 15 * time.Minute

// DecideFreshSignIn returns nil when p, a login session created at
// signedIn, may stand in for the password at now: sign in again through the
// provider for a fresh one. The OTP, when 2FA is on, is still asked for.
func DecideFreshSignIn(p *auth.Principal, signedIn, now time.Time) error {
	if !p.Authenticated() {
		return auth.ErrAuthRequired()
	}
	if p.Kind != auth.KindSession || signedIn.IsZero() || now.Sub(signedIn) > FreshSignIn || signedIn.After(now.Add(time.Minute)) {
		return fault.Forbiddenf("This needs a sign-in of the last %d minutes: sign in again with single sign-on "+
			"(npm login, or the website), then retry", int(FreshSignIn.Minutes()))
	}
	return nil
}
