// Package policy answers one question for the API and the website alike: may
// this Principal do this Action on this package? Every permission rule of the
// registry lives here. Callers gather the facts (does the package exist, is it
// restricted, does the user own it); policy decides, intersecting what the
// credential allows with what the user may do right now.
package policy

import (
	"fmt"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// Action is something a request wants to do to a package.
type Action string

// The package actions.
const (
	Read         Action = "read"          // packument, version document, tarball
	Create       Action = "create"        // publish a package name that does not exist yet
	Publish      Action = "publish"       // publish a new version of an existing package
	Unpublish    Action = "unpublish"     // remove versions or the whole package
	Deprecate    Action = "deprecate"     // set or clear a version's deprecation message
	DistTag      Action = "dist-tag"      // add, move or remove a dist-tag
	ChangeOwners Action = "change-owners" // add or remove owners
	ChangeAccess Action = "change-access" // visibility and package 2FA settings
)

// writes are the actions that change a package.
var writes = map[Action]bool{Create: true, Publish: true, Unpublish: true, Deprecate: true, DistTag: true,
	ChangeOwners: true, ChangeAccess: true}

// governance are the package actions refused to tokens that bypass 2FA and
// to automation tokens: they change who may do what, not the package's contents.
var governance = map[Action]bool{ChangeOwners: true, ChangeAccess: true}

// IsWrite reports whether a changes a package.
func IsWrite(a Action) bool { return writes[a] }

// Package is what the caller knows about the package an action touches.
type Package struct {
	Name string
	// Scope is the scope without "@", empty for an unscoped name.
	Scope string
	// Exists is false for a publish of a new name.
	Exists bool
	// Restricted packages are visible only to those who may read them.
	Restricted bool
	// UserIsOwner: the principal's user is an owner (maintainer) of the package right now.
	UserIsOwner bool
	// TeamPermission is the strongest grant the user has on the package
	// through an organization's teams: "", "read-only" or "read-write".
	TeamPermission string
	// OrgRole is the user's role in the organization that owns the package's
	// scope ("owner", "admin", "developer"), "" when none.
	OrgRole string
}

// orgAdmin reports whether role manages everything of its organization.
func orgAdmin(role string) bool { return role == "owner" || role == "admin" }

// userCanRead, userCanWrite and userCanGovern are the user's own rights on
// an existing package, before the credential is considered.
func (pkg Package) userCanRead() bool {
	return !pkg.Restricted || pkg.UserIsOwner || pkg.TeamPermission != "" || orgAdmin(pkg.OrgRole)
}

func (pkg Package) userCanWrite() bool {
	return pkg.UserIsOwner || pkg.TeamPermission == "read-write" || orgAdmin(pkg.OrgRole)
}

func (pkg Package) userCanGovern() bool { return pkg.UserIsOwner || orgAdmin(pkg.OrgRole) }

// Decide returns nil when p may do a on pkg, else a fault saying why:
// NotFound where the package must stay invisible, Unauthorized when a login
// would help, Forbidden (naming the reason) otherwise.
func Decide(p *auth.Principal, a Action, pkg Package) error {
	if a != Read && !IsWrite(a) {
		return fmt.Errorf("policy: unknown action %q", a)
	}
	// A restricted package is visible only when both the user and the
	// credential may read it; to everyone else it does not exist.
	visible := !pkg.Restricted || (pkg.userCanRead() && credentialReads(p, pkg.Name))
	if a == Read {
		if !pkg.Exists || !visible {
			return notFound()
		}
		return nil
	}
	// A write without a usable login is a 401 whether or not the package
	// exists, so the answer tells an anonymous caller nothing.
	if !p.Authenticated() {
		return auth.ErrAuthRequired()
	}
	if pkg.Exists && !visible {
		return notFound()
	}
	// The user's own rights first.
	switch {
	case a == Create && pkg.Exists:
		return fmt.Errorf("policy: create of existing package %q", pkg.Name)
	case a == Create && pkg.Scope != "" && pkg.Scope != p.UserName && pkg.OrgRole == "":
		// A user owns their own scope, an organization's members theirs. Not
		// found, like a private package of that scope would be, so a publish
		// attempt cannot tell which private names exist.
		return notFound()
	case a != Create && !pkg.Exists:
		return notFound()
	case governance[a] && !pkg.userCanGovern():
		if pkg.userCanWrite() {
			return fault.Forbiddenf("Only the owners of %s (and its organization's owners and admins) can change its owners or access", pkg.Name)
		}
		return noPermission(pkg.Name)
	case a != Create && !pkg.userCanWrite():
		return noPermission(pkg.Name)
	}
	// Then what the credential allows.
	return credentialWrites(p, a, pkg.Name)
}

// credentialReads reports whether p's credential may read package name (the
// user's own right to read it is checked apart).
func credentialReads(p *auth.Principal, name string) bool {
	if p.Kind != auth.KindGranular {
		return p.Authenticated()
	}
	g := p.Grants
	return g != nil && g.PackagePerm.CanRead() && g.CoversPackage(name)
}

// credentialWrites says whether p's credential allows write a on package name.
func credentialWrites(p *auth.Principal, a Action, name string) error {
	switch p.Kind {
	case auth.KindSession, auth.KindPublish:
		return nil
	case auth.KindReadOnly:
		return fault.Forbiddenf("This token is read-only")
	case auth.KindAutomation:
		if governance[a] {
			return fault.Forbiddenf("Automation tokens cannot change package owners or access; use npm login or a publish token")
		}
		return nil
	case auth.KindGranular:
		g := p.Grants
		if g == nil {
			return fault.Forbiddenf("This token has no write access to %s", name)
		}
		covers := g.CoversPackage(name)
		if a == Create {
			// A new name needs all packages or a scope grant: a grant on a
			// package that does not exist yet does not create it.
			covers = g.CoversScopeOf(name)
		}
		switch {
		case covers && g.PackagePerm == auth.ReadWriteStageOnly && (a == Publish || a == Create):
			return fault.Forbiddenf("E_STAGE_REQUIRED: this token may only stage versions of %s; use npm stage publish", name)
		case !covers || !g.PackagePerm.CanWrite():
			return fault.Forbiddenf("This token has no write access to %s", name)
		case governance[a] && p.Bypass2FA:
			return fault.Forbiddenf("Tokens that bypass two-factor authentication cannot change package owners or access")
		}
		return nil
	}
	return fault.Forbiddenf("This credential cannot change packages")
}

func notFound() error { return fault.NotFoundf("Not found") }

func noPermission(name string) error {
	return fault.Forbiddenf("You do not have permission to publish %q. Are you logged in as the correct user?", name)
}

// AccountAction is something a request wants to do to its own account.
type AccountAction string

// The account actions.
const (
	ManageTokens  AccountAction = "manage-tokens"  // list, create and revoke access tokens
	ChangeProfile AccountAction = "change-profile" // email, password, 2FA
)

// DecideAccount returns nil when p may do a to its own account. Only a login
// session and a legacy publish token ("everything its user may do") may.
func DecideAccount(p *auth.Principal, a AccountAction) error {
	if !p.Authenticated() {
		return auth.ErrAuthRequired()
	}
	what := "manage tokens"
	if a == ChangeProfile {
		what = "change the profile"
	}
	switch p.Kind {
	case auth.KindSession, auth.KindPublish:
		return nil
	case auth.KindGranular:
		return fault.Forbiddenf("Granular access tokens cannot %s; use npm login", what)
	}
	return fault.Forbiddenf("This %s token cannot %s; use npm login", p.Kind, what)
}

// OrgAction is something a request wants to do to an organization.
type OrgAction string

// The organization actions.
const (
	OrgRead          OrgAction = "org-read"           // list members, teams, team packages
	OrgManageMembers OrgAction = "org-manage-members" // add, remove, change roles
	OrgManageTeams   OrgAction = "org-manage-teams"   // create and destroy teams, team members, team package grants
)

// Org is what the caller knows about an organization and the user's place in it.
type Org struct {
	Name string
	// Role is the user's role: "owner", "admin", "developer", or "" for none.
	Role string
}

// DecideOrg returns nil when p may do a to org. Membership decides what the
// user may do; the credential must allow it too: a granular token needs an
// organization grant naming org (read-only to read, read-write to manage),
// and never gets package rights from it.
func DecideOrg(p *auth.Principal, a OrgAction, org Org) error {
	if !p.Authenticated() {
		return auth.ErrAuthRequired()
	}
	if org.Role == "" {
		return fault.NotFoundf("Not found")
	}
	write := a != OrgRead
	switch {
	case a == OrgManageMembers && org.Role != "owner" && org.Role != "admin":
		return fault.Forbiddenf("Only owners and admins of %s can manage its members", org.Name)
	case a == OrgManageTeams && org.Role != "owner" && org.Role != "admin":
		return fault.Forbiddenf("Only owners and admins of %s can manage its teams", org.Name)
	}
	switch p.Kind {
	case auth.KindSession, auth.KindPublish:
		return nil
	case auth.KindReadOnly, auth.KindAutomation:
		if write {
			return fault.Forbiddenf("This %s token cannot change organizations", p.Kind)
		}
		return nil
	case auth.KindGranular:
		g := p.Grants
		if g == nil || !g.CoversOrg(org.Name) || !g.OrgPerm.CanRead() {
			return fault.Forbiddenf("This token has no access to the organization %s", org.Name)
		}
		if write && g.OrgPerm != auth.ReadWrite {
			return fault.Forbiddenf("This token has read-only access to the organization %s", org.Name)
		}
		if write && p.Bypass2FA {
			return fault.Forbiddenf("Tokens that bypass two-factor authentication cannot change organization membership")
		}
		return nil
	}
	return fault.Forbiddenf("This credential cannot use organizations")
}

// OTPOp classifies a request for two-factor authentication.
type OTPOp string

// The operations two-factor modes talk about (spec/tokens.md section 6).
const (
	OTPLogin        OTPOp = "login"         // password login
	OTPTokens       OTPOp = "tokens"        // token create and revoke
	OTPProfile      OTPOp = "profile"       // profile, password and 2FA changes
	OTPPackageWrite OTPOp = "package-write" // publish, unpublish, deprecate, dist-tags
	OTPGovernance   OTPOp = "governance"    // owners, package access and 2FA settings, organizations
)

// OTPFacts is what the caller knows for a two-factor decision.
type OTPFacts struct {
	// UserMode is the user's confirmed 2FA mode: "", "auth-only" or "auth-and-writes".
	UserMode string
	// RegistryRequires2FA is the registry's require_2fa policy.
	RegistryRequires2FA bool
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

// ErrPackageRequires2FA is npm's answer to a publish that a package's 2FA setting forbids.
func ErrPackageRequires2FA() error {
	return fault.Forbiddenf("Two-factor authentication or granular access token with bypass 2fa enabled is required to publish packages.")
}

// NeedsOTP says whether op by p needs a one-time password. It returns an
// error instead when no OTP could make the operation acceptable.
func NeedsOTP(p *auth.Principal, op OTPOp, f OTPFacts) (bool, error) {
	// Tokens exempt from the challenge: legacy automation tokens always;
	// bypass-2FA granular tokens for package writes only.
	exempt := p.Kind == auth.KindAutomation || (p.Kind == auth.KindGranular && p.Bypass2FA && op == OTPPackageWrite)
	// require_2fa: no writes and no new tokens until the user has 2FA; logging
	// in and turning 2FA on stay possible.
	if f.RegistryRequires2FA && f.UserMode == "" && op != OTPLogin && op != OTPProfile {
		return false, ErrRequire2FA()
	}
	if op == OTPPackageWrite && f.Publish && f.PackageRequiresTFA {
		if exempt && f.AutomationOverridesTFA {
			return false, nil
		}
		if f.UserMode == "" {
			return false, ErrPackageRequires2FA()
		}
		return true, nil
	}
	if f.UserMode == "" || exempt {
		return false, nil
	}
	switch op {
	case OTPLogin, OTPTokens, OTPProfile:
		return true, nil
	case OTPPackageWrite, OTPGovernance:
		return f.UserMode == "auth-and-writes", nil
	}
	return false, fmt.Errorf("policy: unknown OTP operation %q", op)
}
