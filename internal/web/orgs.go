package web

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/registry"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// orgNotices are the messages shown after a change, by the done parameter
// of the redirect.
var orgNotices = map[string]string{
	"created":      "Organization created. You are its owner.",
	"member":       "Member saved.",
	"removed":      "Member removed.",
	"team":         "Team created.",
	"team-member":  "Added to the team.",
	"granted":      "Package access saved.",
	"revoked":      "Package access revoked.",
	"team-deleted": "Team deleted.",
}

// orgsView is the list of a person's organizations with the create form.
type orgsView struct {
	Memberships []store.Membership
	Name        string // the create form's value
	NeedOTP     bool
	Error       string
}

// myOrgs sends a signed-in person to their organizations.
func (s *Site) myOrgs(w http.ResponseWriter, r *http.Request) {
	p, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	http.Redirect(w, r, "/settings/"+url.PathEscape(p.UserName)+"/orgs", http.StatusSeeOther)
}

// renderOrgs shows p's organizations with v's form state.
func (s *Site) renderOrgs(w http.ResponseWriter, r *http.Request, p *auth.Principal, status int, v orgsView) {
	var err error
	if v.Memberships, err = s.orgs.Memberships(r.Context(), p); err != nil {
		s.renderError(w, r, err)
		return
	}
	if v.NeedOTP, err = s.accounts.NeedsOTP(r.Context(), p, policy.OTPGovernance); err != nil {
		s.renderError(w, r, err)
		return
	}
	s.render(w, r, status, "orgs.html", "Organizations", v)
}

func (s *Site) orgsPage(w http.ResponseWriter, r *http.Request) {
	p, ok := s.ownSettingsUser(w, r)
	if !ok {
		return
	}
	s.renderOrgs(w, r, p, http.StatusOK, orgsView{})
}

// createOrg makes an organization with the signed-in person as its owner.
func (s *Site) createOrg(w http.ResponseWriter, r *http.Request) {
	p, ok := s.ownSettingsUser(w, r)
	if !ok {
		return
	}
	name := strings.TrimSpace(r.PostForm.Get("name"))
	o, err := s.orgs.CreateFor(ctxWithFormOTP(r, "otp"), p, name)
	if err != nil {
		msg, status, ok := s.faultForForm(w, r, err)
		if ok {
			s.renderOrgs(w, r, p, status, orgsView{Name: name, Error: msg})
		}
		return
	}
	http.Redirect(w, r, "/org/"+url.PathEscape(o.Name)+"?done=created", http.StatusSeeOther)
}

// orgView is an organization's page.
type orgView struct {
	Name        string
	Role        store.Role // the viewer's role
	Manage      bool       // the viewer may change members
	ManageTeams bool       // the viewer may change teams: members, packages, deletion
	Owner       bool       // the viewer may grant the owner role
	NeedOTP     bool
	// Packages are the organization's packages the viewer may read, which
	// its teams may be granted.
	Packages []string
	Members  []orgMember
	Teams    []orgTeam
	Notice   string
	Error    string
	Form     orgForm
}

// orgMember is a member and their role.
type orgMember struct {
	Name string
	Role store.Role
}

// orgTeam is a team, its members and its package grants.
type orgTeam struct {
	Name     string
	Members  []string
	Packages []orgGrant
	// Fixed: the team cannot be deleted (developers, every member's team).
	Fixed bool
}

// orgGrant is one package a team may read or write.
type orgGrant struct{ Package, Permission string }

// orgForm holds what was typed in the organization page's forms, shown again
// after an error; Team names the team whose form it was, for per-team forms.
type orgForm struct {
	Username        string
	Role            store.Role
	TeamName, About string
	Remove          string
	Team, TeamUser  string
	// The package grant form of the team named GrantTeam.
	GrantTeam, GrantPackage, GrantPerm string
}

// orgData gathers an organization's page for p: members, and teams with
// their members and grants. Non-members get NotFound from the service.
func (s *Site) orgData(ctx context.Context, p *auth.Principal, name string) (orgView, error) {
	members, err := s.orgs.Members(ctx, p, name)
	if err != nil {
		return orgView{}, err
	}
	v := orgView{Name: strings.TrimPrefix(name, "@"), Role: members[p.UserName], Form: orgForm{Role: store.RoleDeveloper}}
	// What the page offers is what policy allows: managing members,
	// managing teams, and making someone an owner.
	facts := policy.Org{Name: v.Name, Role: v.Role}
	v.Manage = policy.DecideOrg(p, policy.OrgManageMembers, facts) == nil
	v.ManageTeams = policy.DecideOrg(p, policy.OrgManageTeams, facts) == nil
	v.Owner = policy.DecideRoleChange(p, facts, policy.RoleChange{Next: store.RoleOwner}) == nil
	for n, role := range members {
		v.Members = append(v.Members, orgMember{Name: n, Role: role})
	}
	sort.Slice(v.Members, func(i, j int) bool { return v.Members[i].Name < v.Members[j].Name })
	teams, err := s.orgs.Teams(ctx, p, name)
	if err != nil {
		return orgView{}, err
	}
	for _, full := range teams {
		_, team, _ := strings.Cut(full, ":")
		t := orgTeam{Name: team, Fixed: team == registry.DevelopersTeam}
		if t.Members, err = s.orgs.TeamMembers(ctx, p, name, team); err != nil {
			return orgView{}, err
		}
		grants, err := s.orgs.TeamPackages(ctx, p, name, team)
		if err != nil {
			return orgView{}, err
		}
		for pkg, perm := range grants {
			t.Packages = append(t.Packages, orgGrant{Package: pkg, Permission: perm})
		}
		sort.Slice(t.Packages, func(i, j int) bool { return t.Packages[i].Package < t.Packages[j].Package })
		v.Teams = append(v.Teams, t)
	}
	if v.Manage || v.ManageTeams {
		if v.NeedOTP, err = s.accounts.NeedsOTP(ctx, p, policy.OTPGovernance); err != nil {
			return orgView{}, err
		}
	}
	if v.ManageTeams {
		pkgs, err := s.orgs.OrgPackages(ctx, p, name)
		if err != nil {
			return orgView{}, err
		}
		for n := range pkgs {
			v.Packages = append(v.Packages, n)
		}
		sort.Strings(v.Packages)
		v.Packages = v.Packages[:min(len(v.Packages), tokenPickerMax)]
	}
	return v, nil
}

// orgPage shows an organization to its members.
func (s *Site) orgPage(w http.ResponseWriter, r *http.Request) {
	p, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	v, err := s.orgData(r.Context(), p, r.PathValue("org"))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v.Notice = orgNotices[r.URL.Query().Get("done")]
	s.render(w, r, http.StatusOK, "org.html", v.Name, v)
}

// orgChange runs change for the signed-in person with the form's OTP, then
// sends them back to the organization's page, or shows it with the error and
// what they typed.
func (s *Site) orgChange(w http.ResponseWriter, r *http.Request, done string, form orgForm,
	change func(ctx context.Context, p *auth.Principal, orgName string) error) {
	p, ok := s.signedInForForm(w, r)
	if !ok {
		return
	}
	name := r.PathValue("org")
	err := change(ctxWithFormOTP(r, "otp"), p, name)
	if err == nil {
		http.Redirect(w, r, "/org/"+url.PathEscape(strings.TrimPrefix(name, "@"))+"?done="+done, http.StatusSeeOther)
		return
	}
	msg, status, ok := s.faultForForm(w, r, err)
	if !ok {
		return
	}
	v, lerr := s.orgData(r.Context(), p, name)
	if lerr != nil {
		s.renderError(w, r, lerr)
		return
	}
	v.Error, v.Form = msg, form
	if v.Form.Role == "" {
		v.Form.Role = store.RoleDeveloper
	}
	s.render(w, r, status, "org.html", v.Name, v)
}

// orgSetMember adds a member, or changes a member's role.
func (s *Site) orgSetMember(w http.ResponseWriter, r *http.Request) {
	user, role := strings.TrimSpace(r.PostForm.Get("username")), store.Role(r.PostForm.Get("role"))
	s.orgChange(w, r, "member", orgForm{Username: user, Role: role},
		func(ctx context.Context, p *auth.Principal, o string) error {
			if user == "" {
				return fault.Invalidf("Enter the username of the person to add")
			}
			_, err := s.orgs.SetMember(ctx, p, o, user, role)
			return err
		})
}

// orgRemoveMember takes a member out of the organization and its teams.
func (s *Site) orgRemoveMember(w http.ResponseWriter, r *http.Request) {
	user := strings.TrimSpace(r.PostForm.Get("username"))
	s.orgChange(w, r, "removed", orgForm{Remove: user},
		func(ctx context.Context, p *auth.Principal, o string) error {
			if user == "" {
				return fault.Invalidf("Enter the username of the member to remove")
			}
			return s.orgs.RemoveMember(ctx, p, o, user)
		})
}

// orgCreateTeam makes a team.
func (s *Site) orgCreateTeam(w http.ResponseWriter, r *http.Request) {
	team, about := strings.TrimSpace(r.PostForm.Get("team")), strings.TrimSpace(r.PostForm.Get("description"))
	s.orgChange(w, r, "team", orgForm{TeamName: team, About: about},
		func(ctx context.Context, p *auth.Principal, o string) error {
			return s.orgs.CreateTeam(ctx, p, o, team, about)
		})
}

// orgAddTeamMember puts a member of the organization in one of its teams.
func (s *Site) orgAddTeamMember(w http.ResponseWriter, r *http.Request) {
	team, user := r.PathValue("team"), strings.TrimSpace(r.PostForm.Get("username"))
	s.orgChange(w, r, "team-member", orgForm{Team: team, TeamUser: user},
		func(ctx context.Context, p *auth.Principal, o string) error {
			if user == "" {
				return fault.Invalidf("Enter the username of the member to add to %s", team)
			}
			return s.orgs.AddTeamMember(ctx, p, o, team, user)
		})
}
