package web

import (
	"context"
	"net/http"
	"strings"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// The organization page's team forms beyond creating a team and adding a
// member: granting a team one of the organization's packages, taking it
// away, and deleting a team (npm access grant, npm access revoke, npm team
// destroy). The organization service asks policy, and for the one-time
// password the user's two-factor mode wants.

// orgGrantPackage gives a team read-only or read-write on a package of the
// organization, or changes what it has.
func (s *Site) orgGrantPackage(w http.ResponseWriter, r *http.Request) {
	team := r.PathValue("team")
	pkg, perm := strings.TrimSpace(r.PostForm.Get("package")), r.PostForm.Get("permission")
	s.orgChange(w, r, "granted", orgForm{GrantTeam: team, GrantPackage: pkg, GrantPerm: perm},
		func(ctx context.Context, p *auth.Principal, o string) error {
			if pkg == "" {
				return fault.Invalidf("Enter the package to grant %s", team)
			}
			return s.orgs.GrantPackage(ctx, p, o, team, pkg, store.TeamPermission(perm))
		})
}

// orgRevokePackage takes a package away from a team.
func (s *Site) orgRevokePackage(w http.ResponseWriter, r *http.Request) {
	team, pkg := r.PathValue("team"), strings.TrimSpace(r.PostForm.Get("package"))
	s.orgChange(w, r, "revoked", orgForm{},
		func(ctx context.Context, p *auth.Principal, o string) error {
			if pkg == "" {
				return fault.Invalidf("Choose the package to take away from %s", team)
			}
			return s.orgs.RevokePackage(ctx, p, o, team, pkg)
		})
}

// orgDeleteTeam deletes a team and its grants; its members stay in the
// organization.
func (s *Site) orgDeleteTeam(w http.ResponseWriter, r *http.Request) {
	team := r.PathValue("team")
	s.orgChange(w, r, "team-deleted", orgForm{},
		func(ctx context.Context, p *auth.Principal, o string) error {
			return s.orgs.DestroyTeam(ctx, p, o, team)
		})
}
