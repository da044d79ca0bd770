// Package org holds organizations, their members and roles, their teams, and
// the package grants of teams. Every "may it" is policy's (DecideOrg,
// DecideRoleChange, DecideOrgCreate, Listed): membership bounds what any
// credential may do.
package org

import (
	"context"
	"log/slog"
	"strings"

	"github.com/gatehouse-registry/gatehouse/internal/account"
	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/registry"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// Service manages organizations.
type Service struct {
	store *store.Store
	tfa   registry.TwoFactor
	log   *slog.Logger
	// readAccess is who may read the registry (SetReadAccess), for the
	// package lists.
	readAccess policy.ReadAccess
	audit      audit.Recorder
}

// SetReadAccess sets who may read the registry (the setting read_access):
// on a private registry a package list names only the packages the
// credential reaches, as a read of each would. Call it before serving.
func (s *Service) SetReadAccess(m policy.ReadAccess) { s.readAccess = m }

// NewService returns the organization service; tfa enforces two-factor
// authentication on changes; rec, if not nil, records every change in the
// audit log.
func NewService(s *store.Store, tfa registry.TwoFactor, log *slog.Logger, rec audit.Recorder) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if rec == nil {
		rec = audit.Discard{}
	}
	return &Service{store: s, tfa: tfa, log: log, audit: rec}
}

// record writes p's event a, for a change, in the change's transaction q.
func (s *Service) record(ctx context.Context, q store.Queries, p *auth.Principal, a audit.Action, t audit.Target, detail string) error {
	return s.audit.Record(ctx, q, audit.Event{Action: a, Actor: audit.ActorOf(p), Target: t, Detail: detail})
}

// normalize strips the "@" npm may put before an organization name.
func normalize(name string) string { return strings.TrimPrefix(strings.TrimSpace(name), "@") }

// Create makes an organization owned by the named user, with its developers
// team (the owner in it); by is who asks (the owner on the website, the
// operator at the command line). Its name is a scope, so it may not be
// taken by a user, a deleted user's retired name, or another organization.
func (s *Service) Create(ctx context.Context, by *auth.Principal, name, ownerName string) (store.Org, error) {
	name = normalize(name)
	if err := account.ValidateUserName(name); err != nil {
		return store.Org{}, fault.Invalidf("Invalid organization name: %s", strings.TrimPrefix(err.Error(), "Name "))
	}
	var o store.Org
	err := s.store.InTx(ctx, func(q store.Queries) error {
		owner, err := q.UserByName(ctx, ownerName)
		if err != nil {
			if fault.Is(err, fault.NotFound) {
				return fault.NotFoundf("user %q not found", ownerName)
			}
			return err
		}
		if _, err := q.UserByName(ctx, name); err == nil {
			return fault.Conflictf("The name %s is taken by a user", name)
		} else if !fault.Is(err, fault.NotFound) {
			return err
		}
		if retired, err := q.NameRetired(ctx, name); err != nil || retired {
			if err != nil {
				return err
			}
			return fault.Conflictf("The name %s belonged to a deleted account and cannot be used again", name)
		}
		if o, err = q.CreateOrg(ctx, name); err != nil {
			if fault.Is(err, fault.Conflict) {
				return fault.Conflictf("Organization %s already exists", name)
			}
			return err
		}
		// The organization's name is now a local scope: never served from an uplink.
		if err := q.Publish(ctx, store.ScopeTaken(name)); err != nil {
			return err
		}
		if err := q.SetMember(ctx, o.ID, owner.ID, store.RoleOwner); err != nil {
			return err
		}
		team, err := q.CreateTeam(ctx, o.ID, registry.DevelopersTeam, "Every member of the organization")
		if err != nil {
			return err
		}
		if err := q.AddTeamMember(ctx, team.ID, owner.ID); err != nil {
			return err
		}
		return s.record(ctx, q, by, audit.OrgCreate, audit.Target{Org: o.Name, UserID: owner.ID, User: owner.Name}, "owner "+owner.Name)
	})
	if err == nil {
		s.log.InfoContext(ctx, "organization created", slog.String("org", name), slog.String("owner", ownerName))
	}
	return o, err
}

// load finds the organization and checks that p may do a to it; it returns
// the organization with p's role in it, as policy saw them.
func (s *Service) load(ctx context.Context, q store.Queries, p *auth.Principal, name string, a policy.OrgAction) (store.Org, policy.Org, error) {
	if !p.Authenticated() {
		return store.Org{}, policy.Org{}, auth.ErrAuthRequired()
	}
	o, err := q.OrgByName(ctx, normalize(name))
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			return store.Org{}, policy.Org{}, fault.NotFoundf("Not found")
		}
		return store.Org{}, policy.Org{}, err
	}
	role, err := q.RoleIn(ctx, o.ID, p.UserID)
	if err != nil {
		return store.Org{}, policy.Org{}, err
	}
	facts := policy.Org{Name: o.Name, Role: role}
	return o, facts, policy.DecideOrg(p, a, facts)
}

// change checks permission and the OTP outside any transaction (OTP checks
// write), then runs fn in one, deciding again on fresh rows. fn records the
// change's audit events; a refusal is noted as act on target.
func (s *Service) change(ctx context.Context, p *auth.Principal, name string, a policy.OrgAction, act audit.Action, target audit.Target,
	fn func(q store.Queries, o store.Org, facts policy.Org) error) (err error) {
	defer func() {
		if reason, ok := audit.RefusalOf(err, auth.OTP(ctx) != ""); ok {
			target.Org = normalize(name)
			s.audit.Refused(ctx, audit.Event{Action: act, Actor: audit.ActorOf(p), Target: target, Reason: reason})
		}
	}()
	if _, _, err := s.load(ctx, s.store.Q(), p, name, a); err != nil {
		return err
	}
	if err := s.tfa.RequireOTP(ctx, p, policy.OTPGovernance, nil); err != nil {
		return err
	}
	return s.store.InTx(ctx, func(q store.Queries) error {
		o, facts, err := s.load(ctx, q, p, name, a)
		if err != nil {
			return err
		}
		return fn(q, o, facts)
	})
}

func userByName(ctx context.Context, q store.Queries, name string) (store.User, error) {
	u, err := q.UserByName(ctx, strings.TrimPrefix(name, "@"))
	if fault.Is(err, fault.NotFound) {
		return u, fault.NotFoundf("user %q not found", name)
	}
	return u, err
}

// memberRole finds a user and their role in o ("" when not a member).
func memberRole(ctx context.Context, q store.Queries, o store.Org, userName string) (store.User, store.Role, error) {
	u, err := userByName(ctx, q, userName)
	if err != nil {
		return u, "", err
	}
	role, err := q.RoleIn(ctx, o.ID, u.ID)
	return u, role, err
}

// Membership is the answer to npm org set.
type Membership struct {
	Org  string
	Size int
	User string
	Role store.Role
}

// SetMember adds a user to the organization or changes their role (npm org
// set); an empty role means developer. Policy decides who may give which
// role (policy.DecideRoleChange).
func (s *Service) SetMember(ctx context.Context, p *auth.Principal, orgName, userName string, role store.Role) (Membership, error) {
	if role == "" {
		role = store.RoleDeveloper
	}
	if !role.Valid() {
		return Membership{}, fault.Invalidf("role must be one of owner, admin or developer")
	}
	var out Membership
	err := s.change(ctx, p, orgName, policy.OrgManageMembers, audit.OrgMemberSet, audit.Target{User: userName}, func(q store.Queries, o store.Org, facts policy.Org) error {
		u, current, err := memberRole(ctx, q, o, userName)
		if err != nil {
			return err
		}
		others, err := otherOwners(ctx, q, o, u.ID)
		if err != nil {
			return err
		}
		if err := policy.DecideRoleChange(p, facts, policy.RoleChange{Current: current, Next: role, OtherOwners: others}); err != nil {
			return err
		}
		if err := q.SetMember(ctx, o.ID, u.ID, role); err != nil {
			return err
		}
		detail := string(role)
		if current != "" {
			detail = string(current) + " to " + string(role)
		}
		if err := s.record(ctx, q, p, audit.OrgMemberSet, audit.Target{Org: o.Name, UserID: u.ID, User: u.Name}, detail); err != nil {
			return err
		}
		if current == "" {
			if team, err := q.TeamByName(ctx, o.ID, registry.DevelopersTeam); err == nil {
				if err := q.AddTeamMember(ctx, team.ID, u.ID); err != nil {
					return err
				}
			} else if !fault.Is(err, fault.NotFound) {
				return err
			}
		}
		members, err := q.Members(ctx, o.ID)
		if err != nil {
			return err
		}
		out = Membership{Org: o.Name, Size: len(members), User: u.Name, Role: role}
		return nil
	})
	if err == nil {
		s.log.InfoContext(ctx, "organization member set", slog.String("org", out.Org), slog.String("user", out.User),
			slog.String("role", string(role)), slog.String("by", p.UserName))
	}
	return out, err
}

// otherOwners reports whether o has an owner besides the user userID.
func otherOwners(ctx context.Context, q store.Queries, o store.Org, userID int64) (bool, error) {
	members, err := q.Members(ctx, o.ID)
	if err != nil {
		return false, err
	}
	for _, m := range members {
		if m.Role == store.RoleOwner && m.UserID != userID {
			return true, nil
		}
	}
	return false, nil
}

// RemoveMember takes a user out of the organization and all its teams (npm org rm).
func (s *Service) RemoveMember(ctx context.Context, p *auth.Principal, orgName, userName string) error {
	err := s.change(ctx, p, orgName, policy.OrgManageMembers, audit.OrgMemberRemove, audit.Target{User: userName}, func(q store.Queries, o store.Org, facts policy.Org) error {
		u, current, err := memberRole(ctx, q, o, userName)
		if err != nil {
			return err
		}
		if current == "" {
			return fault.NotFoundf("%s is not a member of %s", u.Name, o.Name)
		}
		others, err := otherOwners(ctx, q, o, u.ID)
		if err != nil {
			return err
		}
		if err := policy.DecideRoleChange(p, facts, policy.RoleChange{Current: current, OtherOwners: others}); err != nil {
			return err
		}
		if err := q.RemoveMember(ctx, o.ID, u.ID); err != nil {
			return err
		}
		return s.record(ctx, q, p, audit.OrgMemberRemove, audit.Target{Org: o.Name, UserID: u.ID, User: u.Name}, string(current))
	})
	if err == nil {
		s.log.InfoContext(ctx, "organization member removed", slog.String("org", orgName), slog.String("user", userName),
			slog.String("by", p.UserName))
	}
	return err
}

// Members lists the organization's members and roles (npm org ls).
func (s *Service) Members(ctx context.Context, p *auth.Principal, orgName string) (map[string]store.Role, error) {
	q := s.store.Q()
	o, _, err := s.load(ctx, q, p, orgName, policy.OrgRead)
	if err != nil {
		return nil, err
	}
	members, err := q.Members(ctx, o.ID)
	if err != nil {
		return nil, err
	}
	out := make(map[string]store.Role, len(members))
	for _, m := range members {
		out[m.Name] = m.Role
	}
	return out, nil
}

// validTeam checks a team name (npm's rules for names apply).
func validTeam(name string) error {
	if err := account.ValidateUserName(name); err != nil {
		return fault.Invalidf("Invalid team name %q", name)
	}
	return nil
}

// CreateTeam makes a team (npm team create org:team).
func (s *Service) CreateTeam(ctx context.Context, p *auth.Principal, orgName, team, description string) error {
	if err := validTeam(team); err != nil {
		return err
	}
	return s.change(ctx, p, orgName, policy.OrgManageTeams, audit.TeamCreate, audit.Target{Team: team}, func(q store.Queries, o store.Org, _ policy.Org) error {
		_, err := q.CreateTeam(ctx, o.ID, team, description)
		if fault.Is(err, fault.Conflict) {
			return fault.Conflictf("Team %s:%s already exists", o.Name, team)
		}
		if err != nil {
			return err
		}
		return s.record(ctx, q, p, audit.TeamCreate, audit.Target{Org: o.Name, Team: team}, "")
	})
}

// DestroyTeam removes a team and its grants (npm team destroy); the
// developers team stays.
func (s *Service) DestroyTeam(ctx context.Context, p *auth.Principal, orgName, team string) error {
	return s.change(ctx, p, orgName, policy.OrgManageTeams, audit.TeamDelete, audit.Target{Team: team}, func(q store.Queries, o store.Org, _ policy.Org) error {
		if team == registry.DevelopersTeam {
			return fault.Invalidf("The developers team cannot be removed")
		}
		t, err := q.TeamByName(ctx, o.ID, team)
		if err != nil {
			return err
		}
		if err := q.DeleteTeam(ctx, t.ID); err != nil {
			return err
		}
		return s.record(ctx, q, p, audit.TeamDelete, audit.Target{Org: o.Name, Team: team}, "")
	})
}

// AddTeamMember puts a member of the organization in a team (npm team add).
func (s *Service) AddTeamMember(ctx context.Context, p *auth.Principal, orgName, team, userName string) error {
	return s.change(ctx, p, orgName, policy.OrgManageTeams, audit.TeamMemberAdd, audit.Target{Team: team, User: userName}, func(q store.Queries, o store.Org, _ policy.Org) error {
		t, err := q.TeamByName(ctx, o.ID, team)
		if err != nil {
			return err
		}
		u, role, err := memberRole(ctx, q, o, userName)
		if err != nil {
			return err
		}
		if role == "" {
			return fault.Invalidf("%s is not a member of %s; add them with npm org set first", u.Name, o.Name)
		}
		if err := q.AddTeamMember(ctx, t.ID, u.ID); err != nil {
			return err
		}
		return s.record(ctx, q, p, audit.TeamMemberAdd, audit.Target{Org: o.Name, Team: team, UserID: u.ID, User: u.Name}, "")
	})
}

// RemoveTeamMember takes a user out of a team (npm team rm).
func (s *Service) RemoveTeamMember(ctx context.Context, p *auth.Principal, orgName, team, userName string) error {
	return s.change(ctx, p, orgName, policy.OrgManageTeams, audit.TeamMemberRemove, audit.Target{Team: team, User: userName}, func(q store.Queries, o store.Org, _ policy.Org) error {
		t, err := q.TeamByName(ctx, o.ID, team)
		if err != nil {
			return err
		}
		u, err := userByName(ctx, q, userName)
		if err != nil {
			return err
		}
		if err := q.RemoveTeamMember(ctx, t.ID, u.ID); err != nil {
			return err
		}
		return s.record(ctx, q, p, audit.TeamMemberRemove, audit.Target{Org: o.Name, Team: team, UserID: u.ID, User: u.Name}, "")
	})
}

// Teams lists the organization's teams as "org:team" (npm team ls org).
func (s *Service) Teams(ctx context.Context, p *auth.Principal, orgName string) ([]string, error) {
	q := s.store.Q()
	o, _, err := s.load(ctx, q, p, orgName, policy.OrgRead)
	if err != nil {
		return nil, err
	}
	teams, err := q.Teams(ctx, o.ID)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(teams))
	for i, t := range teams {
		out[i] = o.Name + ":" + t.Name
	}
	return out, nil
}

// readTeam loads an organization p may read and one of its teams.
func (s *Service) readTeam(ctx context.Context, q store.Queries, p *auth.Principal, orgName, team string) (store.Org, store.Team, error) {
	o, _, err := s.load(ctx, q, p, orgName, policy.OrgRead)
	if err != nil {
		return o, store.Team{}, err
	}
	t, err := q.TeamByName(ctx, o.ID, team)
	return o, t, err
}

// TeamMembers lists a team's members (npm team ls org:team).
func (s *Service) TeamMembers(ctx context.Context, p *auth.Principal, orgName, team string) ([]string, error) {
	q := s.store.Q()
	_, t, err := s.readTeam(ctx, q, p, orgName, team)
	if err != nil {
		return nil, err
	}
	members, err := q.TeamMembers(ctx, t.ID)
	if members == nil {
		members = []string{}
	}
	return members, err
}

// GrantPackage gives a team read-only or read-write on one of the
// organization's packages (npm access grant).
func (s *Service) GrantPackage(ctx context.Context, p *auth.Principal, orgName, team, pkgName string, permission store.TeamPermission) error {
	if !permission.Valid() {
		return fault.Invalidf("permissions must be read-only or read-write")
	}
	return s.change(ctx, p, orgName, policy.OrgManageTeams, audit.TeamPackageGrant, audit.Target{Team: team, Package: pkgName}, func(q store.Queries, o store.Org, _ policy.Org) error {
		t, pkg, err := s.teamAndPackage(ctx, q, o, team, pkgName)
		if err != nil {
			return err
		}
		if err := q.GrantTeam(ctx, t.ID, pkg.ID, permission); err != nil {
			return err
		}
		return s.record(ctx, q, p, audit.TeamPackageGrant, audit.Target{Org: o.Name, Team: team, Package: pkg.Name}, string(permission))
	})
}

// RevokePackage takes a team's access to a package away (npm access revoke).
func (s *Service) RevokePackage(ctx context.Context, p *auth.Principal, orgName, team, pkgName string) error {
	return s.change(ctx, p, orgName, policy.OrgManageTeams, audit.TeamPackageRevoke, audit.Target{Team: team, Package: pkgName}, func(q store.Queries, o store.Org, _ policy.Org) error {
		t, pkg, err := s.teamAndPackage(ctx, q, o, team, pkgName)
		if err != nil {
			return err
		}
		if err := q.RevokeTeam(ctx, t.ID, pkg.ID); err != nil {
			return err
		}
		return s.record(ctx, q, p, audit.TeamPackageRevoke, audit.Target{Org: o.Name, Team: team, Package: pkg.Name}, "")
	})
}

// teamAndPackage finds a team of o and a package of o's scope. The scope is
// checked from the name before the package is looked up, so that a name of
// another scope gets the same 404 whether or not such a package exists: a
// grant does not tell an organization's admin which private packages of
// other scopes exist.
func (s *Service) teamAndPackage(ctx context.Context, q store.Queries, o store.Org, team, pkgName string) (store.Team, store.Package, error) {
	t, err := q.TeamByName(ctx, o.ID, team)
	if err != nil {
		return t, store.Package{}, err
	}
	if scope, _ := registry.SplitName(pkgName); scope != o.Name {
		return t, store.Package{}, fault.NotFoundf("%s is not a package of @%s; teams are granted their organization's packages", pkgName, o.Name)
	}
	pkg, err := q.PackageByName(ctx, pkgName)
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			return t, pkg, fault.NotFoundf("package %s not found", pkgName)
		}
		return t, pkg, err
	}
	if pkg.Scope != o.Name { // a row of the scope, under another spelling
		return t, pkg, fault.NotFoundf("%s is not a package of @%s; teams are granted their organization's packages", pkgName, o.Name)
	}
	return t, pkg, nil
}

// TeamPackages lists a team's packages, each with the permission the team
// was granted on it (npm access list packages org:team). A member sees only
// the packages p may read (policy.Listed, the credential included), as in
// OrgPackages: a team's list does not name a restricted package to a
// member whose own teams cannot read it.
func (s *Service) TeamPackages(ctx context.Context, p *auth.Principal, orgName, team string) (map[string]string, error) {
	q := s.store.Q()
	o, t, err := s.readTeam(ctx, q, p, orgName, team)
	if err != nil {
		return nil, err
	}
	granted, err := q.TeamPackages(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	list, err := q.PackagesInScope(ctx, o.Name, p.UserID)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, l := range list {
		if perm, ok := granted[l.Name]; ok && policy.Listed(p, s.listingFacts(l)) {
			out[l.Name] = perm
		}
	}
	return out, nil
}

// OrgPackages lists the packages of the organization's scope that p may
// read (policy.Listed), each with the permission p's user holds on it
// (policy.Held).
func (s *Service) OrgPackages(ctx context.Context, p *auth.Principal, orgName string) (map[string]string, error) {
	q := s.store.Q()
	o, _, err := s.load(ctx, q, p, orgName, policy.OrgRead)
	if err != nil {
		return nil, err
	}
	list, err := q.PackagesInScope(ctx, o.Name, p.UserID)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, l := range list {
		if f := s.listingFacts(l); policy.Listed(p, f) {
			out[l.Name] = string(policy.Held(f))
		}
	}
	return out, nil
}

// UserPackages lists the packages a user maintains or reaches through teams
// (npm access list packages [user]), with that user's permission on each;
// p sees only those it may read (policy.Listed).
func (s *Service) UserPackages(ctx context.Context, p *auth.Principal, userName string) (map[string]string, error) {
	if !p.Authenticated() {
		return nil, auth.ErrAuthRequired()
	}
	q := s.store.Q()
	u, err := userByName(ctx, q, userName)
	if err != nil {
		return nil, err
	}
	list, err := q.PackagesOf(ctx, u.ID, p.UserID)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, l := range list {
		if policy.Listed(p, s.listingFacts(l)) {
			out[l.Name] = string(l.Permission)
		}
	}
	return out, nil
}

// listingFacts is what policy knows of a listed package for its viewer, as
// the registry gathers it for a read.
func (s *Service) listingFacts(l store.ListedPackage) policy.Package {
	return policy.Package{Name: l.Name, Scope: l.Scope, Exists: true, Restricted: l.Access == store.Restricted,
		UserIsOwner: l.Viewer.Owner, OrgRole: l.Viewer.OrgRole, TeamPermission: l.Viewer.TeamPermission,
		ReadAccess: s.readAccess}
}
