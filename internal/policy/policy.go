// Package policy answers one question for the API and the website alike: may
// this Principal do this? Every permission rule of the registry lives here:
// package actions and package lists (this file), the account and
// registration (account.go), organizations and their roles (org.go), and
// two-factor authentication (otp.go). Callers gather the facts (does the
// package exist, is it restricted, does the user own it); policy decides,
// intersecting what the credential allows with what the user may do right now.
package policy

import (
	"fmt"
	"slices"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/store"
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
	Stage        Action = "stage"         // stage a version for approval (npm stage publish)
	ManageTrust  Action = "manage-trust"  // list, add and revoke trusted publishing (npm trust)
)

// writes are the actions that change a package.
var writes = map[Action]bool{Create: true, Publish: true, Unpublish: true, Deprecate: true, DistTag: true,
	ChangeOwners: true, ChangeAccess: true, Stage: true, ManageTrust: true}

// governance are the package actions refused to tokens that bypass 2FA and
// to automation tokens: they change who may do what, not the package's contents.
var governance = map[Action]bool{ChangeOwners: true, ChangeAccess: true, ManageTrust: true}

// stageOnlyWrites are the writes a stage-only granular token
// (read-write-stage-only) may do.
var stageOnlyWrites = map[Action]bool{Stage: true, DistTag: true, Deprecate: true}

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
	// through an organization's teams, "" when none.
	TeamPermission store.TeamPermission
	// OrgRole is the user's role in the organization that owns the package's
	// scope, "" when none.
	OrgRole store.Role
	// Proxied marks a package served from an uplink (proxied.go): not
	// local, cached from an upstream registry. Uplink names that uplink.
	// For a Create (a new local name), Uplink names the uplink that already
	// has a package of that name, "" when none has.
	Proxied bool
	Uplink  string
	// ReadAccess is the registry's read_access setting (reads.go); empty
	// means PublicReads. On a private registry (AuthenticatedReads) no
	// package is public: an anonymous caller is refused with a 401 before
	// anything is looked at, and a credential sees a package only when it
	// reaches it (as it does a restricted one's) and its user may read it.
	ReadAccess ReadAccess
}

// orgAdmin reports whether role manages everything of its organization.
func orgAdmin(role store.Role) bool { return role == store.RoleOwner || role == store.RoleAdmin }

// userCanRead, userCanWrite and userCanGovern are the user's own rights on
// an existing package, before the credential is considered.
func (pkg Package) userCanRead() bool {
	return !pkg.Restricted || pkg.UserIsOwner || pkg.TeamPermission != "" || orgAdmin(pkg.OrgRole)
}

func (pkg Package) userCanWrite() bool {
	return pkg.UserIsOwner || pkg.TeamPermission == store.TeamReadWrite || orgAdmin(pkg.OrgRole)
}

func (pkg Package) userCanGovern() bool { return pkg.UserIsOwner || orgAdmin(pkg.OrgRole) }

// Decide returns nil when p may do a on pkg, else a fault saying why:
// NotFound where the package must stay invisible, Unauthorized when a login
// would help, Forbidden (naming the reason) otherwise.
func Decide(p *auth.Principal, a Action, pkg Package) error {
	if a != Read && !IsWrite(a) {
		return fmt.Errorf("policy: unknown action %q", a)
	}
	// A private registry asks for a login before anything else, so that
	// an anonymous answer is the same for every name.
	if err := DecideRegistryRead(p, pkg.ReadAccess); err != nil {
		return err
	}
	if pkg.Proxied {
		return decideProxied(p, a, pkg)
	}
	// A restricted package (and every package of a private registry) is
	// visible only when both the user and the credential may read it; to
	// everyone else it does not exist.
	public := !pkg.Restricted && !pkg.ReadAccess.private()
	visible := public || (pkg.userCanRead() && credentialReads(p, pkg.Name))
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
	// Staging a name that has no package yet is decided as creating it.
	creating := a == Create || (a == Stage && !pkg.Exists)
	// The user's own rights first.
	switch {
	case a == Create && pkg.Exists:
		return fmt.Errorf("policy: create of existing package %q", pkg.Name)
	case creating && pkg.Scope != "" && pkg.Scope != p.UserName && pkg.OrgRole == "":
		// A user owns their own scope, an organization's members theirs. Not
		// found, like a private package of that scope would be, so a publish
		// attempt cannot tell which private names exist.
		return notFound()
	case !creating && !pkg.Exists:
		return notFound()
	case governance[a] && !pkg.userCanGovern():
		if pkg.userCanWrite() {
			return fault.Forbiddenf("Only the owners of %s (and its organization's owners and admins) can change its owners or access", pkg.Name)
		}
		return noPermission(pkg.Name)
	case !creating && !pkg.userCanWrite():
		return noPermission(pkg.Name)
	}
	// Then what the credential allows.
	if err := credentialWrites(p, a, pkg.Name, creating); err != nil {
		return err
	}
	if creating && pkg.Uplink != "" {
		return shadowsUplink(pkg)
	}
	return nil
}

// Listed reports whether p sees pkg in a list of packages (a user's or an
// organization's). It answers exactly as Decide does for Read, the
// credential included, so a list never names a package its reader could not
// open: a restricted package appears only to those whose user and
// credential may both read it.
func Listed(p *auth.Principal, pkg Package) bool { return Decide(p, Read, pkg) == nil }

// Held is the permission the user holds on pkg, as package lists show it:
// read-write when they may change it, read-only when they may only read it,
// "" when neither. It is the user's own right; what the credential allows is
// Decide's (and Listed's) business.
func Held(pkg Package) store.TeamPermission {
	switch {
	case pkg.userCanWrite():
		return store.TeamReadWrite
	case pkg.userCanRead():
		return store.TeamReadOnly
	}
	return ""
}

// credentialReads reports whether p's credential may read package name (the
// user's own right to read it is checked apart).
func credentialReads(p *auth.Principal, name string) bool {
	if p.Kind == auth.KindOIDC {
		return p.Authenticated() && p.Trust.Covers(name)
	}
	if p.Kind != auth.KindGranular {
		return p.Authenticated()
	}
	g := p.Grants
	return g != nil && g.PackagePerm.CanRead() && g.CoversPackage(name)
}

// CredentialReach is which restricted packages p's credential may read,
// for the listings that filter in the store (search): the same rule as
// credentialReads, which Decide and Listed apply to one package at a time.
// A granular token reaches the packages and scopes it names (all of them
// with all packages), and nothing without read permission on packages (an
// organization-only token); any other credential reaches what its user may
// read.
func CredentialReach(p *auth.Principal) store.Reach {
	if p.Kind != auth.KindGranular {
		return store.Reach{All: p.Authenticated()}
	}
	g := p.Grants
	switch {
	case g == nil || !g.PackagePerm.CanRead():
		return store.Reach{}
	case g.PackagesAll:
		return store.Reach{All: true}
	}
	return store.Reach{Names: slices.Clone(g.Packages), Scopes: slices.Clone(g.Scopes)}
}

// credentialWrites says whether p's credential allows write a on package
// name; creating is set when a makes the name a package (a create, or
// staging a name that is not a package yet).
func credentialWrites(p *auth.Principal, a Action, name string, creating bool) error {
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
		if creating {
			// A new name needs all packages or a scope grant: a grant on a
			// package that does not exist yet does not create it.
			covers = g.CoversScopeOf(name)
		}
		switch {
		case a == Stage && covers && (g.PackagePerm == auth.ReadWrite || g.PackagePerm == auth.ReadWriteStageOnly):
			return nil
		case covers && g.PackagePerm == auth.ReadWriteStageOnly && (a == Publish || a == Create):
			return fault.Forbiddenf("E_STAGE_REQUIRED: this token may only stage versions of %s; use npm stage publish", name)
		case covers && g.PackagePerm == auth.ReadWriteStageOnly:
			// A stage-only token stages, and keeps the writes that publish
			// nothing: dist-tags and deprecations.
			if stageOnlyWrites[a] {
				return nil
			}
			return fault.Forbiddenf("This token may only stage versions of %s, move its dist-tags and deprecate its versions", name)
		case !covers || !g.PackagePerm.CanWrite():
			return fault.Forbiddenf("This token has no write access to %s", name)
		case governance[a] && p.Bypass2FA:
			return fault.Forbiddenf("Tokens that bypass two-factor authentication cannot change package owners or access")
		}
		return nil
	case auth.KindOIDC:
		return trustedWrites(p.Trust, a, name)
	}
	return fault.Forbiddenf("This credential cannot change packages")
}

// trustedWrites says whether a token exchanged for a CI job's OIDC identity
// (trusted publishing) allows write a on package name: only its one package,
// and there only what its trust configuration permits: publishing
// (createPackage, which also moves dist-tags, as npm 12 asks for with it)
// and staging (createStagedPackage).
func trustedWrites(t *auth.Trust, a Action, name string) error {
	switch {
	case !t.Covers(name):
		return fault.Forbiddenf("This trusted publishing token has no access to %s", name)
	case (a == Publish || a == DistTag) && t.Publishes():
		return nil
	case a == Publish && t.Stages():
		return fault.Forbiddenf("E_STAGE_REQUIRED: OIDC permission denied for this action: the trusted publishing configuration of %s allows only staging; use npm stage publish", name)
	case a == Stage && t.Stages():
		return nil
	}
	return fault.Forbiddenf("OIDC permission denied for this action: a trusted publishing token may not %s %s", a, name)
}

func notFound() error { return fault.NotFoundf("Not found") }

func noPermission(name string) error {
	return fault.Forbiddenf("You do not have permission to publish %q. Are you logged in as the correct user?", name)
}
