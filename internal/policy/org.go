package policy

import (
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

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
	// Role is the user's role, "" for none.
	Role store.Role
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
	case a == OrgManageMembers && !orgAdmin(org.Role):
		return fault.Forbiddenf("Only owners and admins of %s can manage its members", org.Name)
	case a == OrgManageTeams && !orgAdmin(org.Role):
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

// RoleChange is a change to one member's role in an organization.
type RoleChange struct {
	// Current is the member's role now, "" for someone joining.
	Current store.Role
	// Next is the role asked for, "" to take them out of the organization.
	Next store.Role
	// OtherOwners: the organization has an owner besides this member.
	OtherOwners bool
}

// DecideRoleChange returns nil when p, whose place in the organization org
// describes, may make change. It takes managing members (DecideOrg with
// OrgManageMembers); only an owner grants or takes away the owner role or
// removes an owner; and the last owner keeps the role (a Conflict).
func DecideRoleChange(p *auth.Principal, org Org, change RoleChange) error {
	if err := DecideOrg(p, OrgManageMembers, org); err != nil {
		return err
	}
	ownerRole := change.Current == store.RoleOwner || change.Next == store.RoleOwner
	switch {
	case ownerRole && org.Role != store.RoleOwner && change.Next == "":
		return fault.Forbiddenf("Only owners of %s can remove an owner", org.Name)
	case ownerRole && org.Role != store.RoleOwner:
		return fault.Forbiddenf("Only owners of %s can grant or take away the owner role", org.Name)
	case change.Current == store.RoleOwner && change.Next != store.RoleOwner && !change.OtherOwners:
		return fault.Conflictf("%s must keep at least one owner; make someone else an owner first", org.Name)
	}
	return nil
}

// DecideOrgCreate returns nil when p may create an organization: only a
// login session may (organizations are made on the website), never an access
// token of any kind.
func DecideOrgCreate(p *auth.Principal) error {
	if !p.Authenticated() {
		return auth.ErrAuthRequired()
	}
	if p.Kind != auth.KindSession {
		return fault.Forbiddenf("Organizations are created when signed in, not with an access token")
	}
	return nil
}
