package npmapi

import (
	"net/http"
	"strings"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// The organization, team and access endpoints of npm org, npm team and npm
// access (libnpmorg, libnpmteam, libnpmaccess); their routes are in routes.go.

func principalOf(r *http.Request) *auth.Principal { return auth.FromContext(r.Context()) }

// noContent answers a change with 204, or the error.
func (a *API) noContent(w http.ResponseWriter, r *http.Request, err error) {
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) answer(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (a *API) orgMembers(w http.ResponseWriter, r *http.Request) {
	v, err := a.orgs.Members(r.Context(), principalOf(r), r.PathValue("org"))
	a.answer(w, r, v, err)
}

type userBody struct {
	User string     `json:"user"`
	Role store.Role `json:"role"`
}

func (a *API) readUser(r *http.Request) (userBody, error) {
	var b userBody
	if err := decodeJSON(r, &b); err != nil {
		return b, err
	}
	b.User = strings.TrimPrefix(b.User, "@")
	if b.User == "" {
		return b, fault.Invalidf("user is required")
	}
	return b, nil
}

func (a *API) orgSetMember(w http.ResponseWriter, r *http.Request) {
	b, err := a.readUser(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	m, err := a.orgs.SetMember(r.Context(), principalOf(r), r.PathValue("org"), b.User, b.Role)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"org": map[string]any{"name": m.Org, "size": m.Size}, "user": m.User, "role": m.Role,
	})
}

func (a *API) orgRemoveMember(w http.ResponseWriter, r *http.Request) {
	b, err := a.readUser(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.noContent(w, r, a.orgs.RemoveMember(r.Context(), principalOf(r), r.PathValue("org"), b.User))
}

func (a *API) orgTeams(w http.ResponseWriter, r *http.Request) {
	v, err := a.orgs.Teams(r.Context(), principalOf(r), r.PathValue("org"))
	a.answer(w, r, v, err)
}

func (a *API) orgCreateTeam(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	}
	if err := decodeJSON(r, &b); err != nil {
		a.writeError(w, r, err)
		return
	}
	org := r.PathValue("org")
	if err := a.orgs.CreateTeam(r.Context(), principalOf(r), org, b.Name, b.Description); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"name": b.Name, "description": b.Description})
}

func (a *API) orgPackages(w http.ResponseWriter, r *http.Request) {
	v, err := a.orgs.OrgPackages(r.Context(), principalOf(r), r.PathValue("org"))
	a.answer(w, r, v, err)
}

func (a *API) teamDestroy(w http.ResponseWriter, r *http.Request) {
	a.noContent(w, r, a.orgs.DestroyTeam(r.Context(), principalOf(r), r.PathValue("org"), r.PathValue("team")))
}

func (a *API) teamMembers(w http.ResponseWriter, r *http.Request) {
	v, err := a.orgs.TeamMembers(r.Context(), principalOf(r), r.PathValue("org"), r.PathValue("team"))
	a.answer(w, r, v, err)
}

func (a *API) teamAddMember(w http.ResponseWriter, r *http.Request) {
	b, err := a.readUser(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	err = a.orgs.AddTeamMember(r.Context(), principalOf(r), r.PathValue("org"), r.PathValue("team"), b.User)
	a.answer(w, r, map[string]any{}, err)
}

func (a *API) teamRemoveMember(w http.ResponseWriter, r *http.Request) {
	b, err := a.readUser(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.noContent(w, r, a.orgs.RemoveTeamMember(r.Context(), principalOf(r), r.PathValue("org"), r.PathValue("team"), b.User))
}

func (a *API) teamPackages(w http.ResponseWriter, r *http.Request) {
	v, err := a.orgs.TeamPackages(r.Context(), principalOf(r), r.PathValue("org"), r.PathValue("team"))
	a.answer(w, r, v, err)
}

type grantBody struct {
	Package     string               `json:"package"`
	Permissions store.TeamPermission `json:"permissions"`
}

func (a *API) teamGrant(w http.ResponseWriter, r *http.Request) {
	var b grantBody
	if err := decodeJSON(r, &b); err != nil {
		a.writeError(w, r, err)
		return
	}
	err := a.orgs.GrantPackage(r.Context(), principalOf(r), r.PathValue("org"), r.PathValue("team"), b.Package, b.Permissions)
	a.answer(w, r, map[string]any{}, err)
}

func (a *API) teamRevoke(w http.ResponseWriter, r *http.Request) {
	var b grantBody
	if err := decodeJSON(r, &b); err != nil {
		a.writeError(w, r, err)
		return
	}
	a.noContent(w, r, a.orgs.RevokePackage(r.Context(), principalOf(r), r.PathValue("org"), r.PathValue("team"), b.Package))
}

func (a *API) userPackages(w http.ResponseWriter, r *http.Request) {
	v, err := a.orgs.UserPackages(r.Context(), principalOf(r), r.PathValue("user"))
	a.answer(w, r, v, err)
}

// collaborators serves GET /-/package/:pkg/collaborators.
func (a *API) collaborators(w http.ResponseWriter, r *http.Request) {
	v, err := a.registry.Collaborators(r.Context(), principalOf(r), r.PathValue("pkg"))
	a.answer(w, r, v, err)
}
