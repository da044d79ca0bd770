package policy

import (
	"fmt"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// HookTarget is what a new webhook would watch, and what the caller knows
// of the user's rights there.
type HookTarget struct {
	// Type is store.HookPackage, HookScope, HookOwner or HookRegistry.
	Type string
	// Name is the package, the scope without "@", or the owner's user name.
	Name string
	// Package is the watched package's facts (Type HookPackage).
	Package Package
	// OrgRole is the user's role in the organization named like the scope
	// (Type HookScope), "" when none.
	OrgRole store.Role
}

// DecideHook returns nil when p may add a webhook watching t:
//
//   - a package: its owners, and its organization's owners and admins (the
//     right to change its owners: a hook tells of every change);
//   - a scope: its user, or its organization's owners and admins;
//   - an owner's packages: that user only;
//   - the whole registry: administrators, as for every admin action.
//
// What the user may not watch does not exist to them (NotFound), like the
// things themselves. The credential must be a login session or a publish
// token (what npm hook sends): read-only, automation, granular and trusted
// publishing tokens are refused, hooks being a way to learn about packages
// and to reach the network from the registry.
func DecideHook(p *auth.Principal, t HookTarget) error {
	if !p.Authenticated() {
		return auth.ErrAuthRequired()
	}
	switch t.Type {
	case store.HookRegistry:
		return DecideAdmin(p, AdminChange)
	case store.HookScope:
		switch {
		case t.Name == p.UserName:
		case t.OrgRole == "":
			return notFound()
		case !orgAdmin(t.OrgRole):
			return fault.Forbiddenf("Only owners and admins of %s can add hooks on its scope", t.Name)
		}
	case store.HookOwner:
		if t.Name != p.UserName {
			return notFound()
		}
	case store.HookPackage:
		if err := Decide(p, Read, t.Package); err != nil {
			return err
		}
	default:
		return fmt.Errorf("policy: unknown hook type %q", t.Type)
	}
	if err := hookCredential(p); err != nil {
		return err
	}
	if t.Type == store.HookPackage {
		return Decide(p, ChangeOwners, t.Package)
	}
	return nil
}

// DecideHookManage returns nil when p may see, change, delete or redeliver
// a webhook: its maker, or an administrator (with a login session). Anyone
// else's hook does not exist to them.
func DecideHookManage(p *auth.Principal, makerID int64) error {
	if !p.Authenticated() {
		return auth.ErrAuthRequired()
	}
	if makerID != p.UserID {
		if DecideAdmin(p, AdminChange) != nil {
			return notFound()
		}
		return nil
	}
	return hookCredential(p)
}

// hookCredential refuses the credentials that may not manage hooks.
func hookCredential(p *auth.Principal) error {
	switch p.Kind {
	case auth.KindSession, auth.KindPublish:
		return nil
	}
	return fault.Forbiddenf("Hooks are managed with a login session (npm login, the website) or a publish token, not a %s token", p.Kind)
}
