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
)

// writes are the actions that change a package.
var writes = map[Action]bool{Create: true, Publish: true, Unpublish: true, Deprecate: true, DistTag: true, ChangeOwners: true}

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
	// UserIsOwner: the principal's user is an owner of the package right now.
	UserIsOwner bool
}

// Decide returns nil when p may do a on pkg, else a fault saying why:
// NotFound where the package must stay invisible, Unauthorized when a login
// would help, Forbidden (naming the reason) otherwise.
func Decide(p *auth.Principal, a Action, pkg Package) error {
	if a != Read && !IsWrite(a) {
		return fmt.Errorf("policy: unknown action %q", a)
	}
	// A restricted package is visible only when both the user and the
	// credential may read it; to everyone else it does not exist.
	visible := !pkg.Restricted || (pkg.UserIsOwner && credentialReads(p, pkg.Name))
	if a == Read {
		if !pkg.Exists || !visible {
			return notFound()
		}
		return nil
	}
	if pkg.Exists && !visible {
		return notFound()
	}
	if !p.Authenticated() {
		return auth.ErrAuthRequired()
	}
	// The user's own rights first.
	switch {
	case a == Create && pkg.Exists:
		return fmt.Errorf("policy: create of existing package %q", pkg.Name)
	case a == Create && pkg.Scope != "" && pkg.Scope != p.UserName:
		// A user owns their own scope; organizations (a later issue) will own theirs.
		return noPermission(pkg.Name)
	case a != Create && !pkg.Exists:
		return notFound()
	case a != Create && !pkg.UserIsOwner:
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
		if a == ChangeOwners {
			return fault.Forbiddenf("Automation tokens cannot change package owners; use npm login or a publish token")
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
		case a == ChangeOwners && p.Bypass2FA:
			return fault.Forbiddenf("Tokens that bypass two-factor authentication cannot change package owners")
		}
		return nil
	}
	return fault.Forbiddenf("This credential cannot change packages")
}

func notFound() error { return fault.NotFoundf("Not found") }

func noPermission(name string) error {
	return fault.Forbiddenf("You do not have permission to publish %q. Are you logged in as the correct user?", name)
}
