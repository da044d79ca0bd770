package npmapi

import (
	"net/http"
	"strings"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/route"
)

// Routes are the npm API's rows of the route table (internal/route): one per
// endpoint, its handler below it in this package. A new endpoint is one row
// here and its handler. Each handler runs after the caller's token is
// resolved (see caller).
//
// The route names are the metrics' and logs' route label (docs/operations.md
// lists them): a new endpoint takes an existing name when it belongs to that
// area, or a new word added to the list.
func (a *API) Routes() []route.Route {
	rows := []route.Route{
		{Method: "GET", Path: "/-/ping", Name: "ping", Handler: a.ping},
		{Method: "GET", Path: "/-/whoami", Name: "whoami", Handler: a.whoami},

		// Accounts: couch login and adduser, the user document, logout, web login.
		{Method: "PUT", Path: "/-/user/{id}", Name: "login", MaxBody: smallBody, Handler: a.couchLogin},
		{Method: "PUT", Path: "/-/user/{id}/-rev/{rev}", Name: "login", MaxBody: smallBody, Handler: a.couchLogin},
		{Method: "GET", Path: "/-/user/{id}", Name: "user", Handler: a.reader(a.userDocument)},
		{Method: "DELETE", Path: "/-/user/token/{token}", Name: "logout", Secret: true, MaxBody: smallBody, Handler: a.logout},
		{Method: "POST", Path: "/-/v1/login", Name: "login", MaxBody: smallBody, Handler: a.webLogin},
		{Method: "GET", Path: "/-/v1/login/done/{secret}", Name: "login", Secret: true, Handler: a.webLoginDone},

		{Method: "GET", Path: "/-/v1/search", Name: "search", Handler: a.search},

		// Tokens; {token} is a token's key, a unique prefix of it, or the whole token.
		{Method: "POST", Path: "/-/npm/v1/tokens", Name: "tokens", MaxBody: smallBody, Handler: a.signedIn(a.createToken)},
		{Method: "GET", Path: "/-/npm/v1/tokens", Name: "tokens", Handler: a.signedIn(a.listTokens)},
		{Method: "DELETE", Path: "/-/npm/v1/tokens/token/{token}", Name: "tokens", Secret: true, MaxBody: smallBody, Handler: a.signedIn(a.revokeToken)},

		{Method: "GET", Path: "/-/npm/v1/user", Name: "profile", Handler: a.signedIn(a.getProfile)},
		{Method: "POST", Path: "/-/npm/v1/user", Name: "profile", MaxBody: smallBody, Handler: a.signedIn(a.setProfile)},
		// The caller's own security log (the audit log's events of their account).
		{Method: "GET", Path: "/-/npm/v1/user/events", Name: "security_log", Handler: a.signedIn(a.userEvents)},

		// The whole audit log for log collectors, as JSON lines; administrators only.
		{Method: "GET", Path: "/-/admin/audit", Name: "admin_audit", Handler: a.adminAudit},

		// Webhooks (npm hook; libnpmhook), and their deliveries.
		{Method: "POST", Path: "/-/npm/v1/hooks/hook", Name: "hooks", MaxBody: smallBody, Handler: a.signedIn(a.createHook)},
		{Method: "GET", Path: "/-/npm/v1/hooks", Name: "hooks", Handler: a.signedIn(a.listHooks)},
		{Method: "GET", Path: "/-/npm/v1/hooks/hook/{id}", Name: "hooks", Handler: a.signedIn(a.getHook)},
		{Method: "PUT", Path: "/-/npm/v1/hooks/hook/{id}", Name: "hooks", MaxBody: smallBody, Handler: a.signedIn(a.updateHook)},
		{Method: "DELETE", Path: "/-/npm/v1/hooks/hook/{id}", Name: "hooks", MaxBody: smallBody, Handler: a.signedIn(a.deleteHook)},
		{Method: "GET", Path: "/-/npm/v1/hooks/hook/{id}/deliveries", Name: "hooks", Handler: a.signedIn(a.hookDeliveries)},
		{Method: "POST", Path: "/-/npm/v1/hooks/hook/{id}/deliveries/{delivery}/redeliver", Name: "hooks", MaxBody: smallBody,
			Handler: a.signedIn(a.redeliver)},

		// Registry signatures: the public keys that verify dist.signatures.
		{Method: "GET", Path: "/-/npm/v1/keys", Name: "keys", Handler: a.reader(a.registryKeys)},

		{Method: "POST", Path: "/-/npm/v1/security/advisories/bulk", Name: "audit", MaxBody: auditBody, Handler: a.advisories},
		{Method: "POST", Path: "/-/npm/v1/security/audits/quick", Name: "audit", MaxBody: auditBody, Handler: a.reader(a.emptyAudit)},

		// Organizations and teams (npm org, npm team; libnpmorg, libnpmteam).
		{Method: "GET", Path: "/-/org/{org}/user", Name: "orgs", Handler: a.signedIn(a.orgMembers)},
		{Method: "PUT", Path: "/-/org/{org}/user", Name: "orgs", MaxBody: smallBody, Handler: a.signedIn(a.orgSetMember)},
		{Method: "DELETE", Path: "/-/org/{org}/user", Name: "orgs", MaxBody: smallBody, Handler: a.signedIn(a.orgRemoveMember)},
		{Method: "GET", Path: "/-/org/{org}/team", Name: "orgs", Handler: a.signedIn(a.orgTeams)},
		{Method: "PUT", Path: "/-/org/{org}/team", Name: "orgs", MaxBody: smallBody, Handler: a.signedIn(a.orgCreateTeam)},
		{Method: "GET", Path: "/-/org/{org}/package", Name: "orgs", Handler: a.signedIn(a.orgPackages)},
		{Method: "DELETE", Path: "/-/team/{org}/{team}", Name: "orgs", MaxBody: smallBody, Handler: a.signedIn(a.teamDestroy)},
		{Method: "GET", Path: "/-/team/{org}/{team}/user", Name: "orgs", Handler: a.signedIn(a.teamMembers)},
		{Method: "PUT", Path: "/-/team/{org}/{team}/user", Name: "orgs", MaxBody: smallBody, Handler: a.signedIn(a.teamAddMember)},
		{Method: "DELETE", Path: "/-/team/{org}/{team}/user", Name: "orgs", MaxBody: smallBody, Handler: a.signedIn(a.teamRemoveMember)},
		{Method: "GET", Path: "/-/team/{org}/{team}/package", Name: "orgs", Handler: a.signedIn(a.teamPackages)},
		{Method: "PUT", Path: "/-/team/{org}/{team}/package", Name: "orgs", MaxBody: smallBody, Handler: a.signedIn(a.teamGrant)},
		{Method: "DELETE", Path: "/-/team/{org}/{team}/package", Name: "orgs", MaxBody: smallBody, Handler: a.signedIn(a.teamRevoke)},

		// Access (npm access; libnpmaccess).
		{Method: "GET", Path: "/-/user/{user}/package", Name: "access", Handler: a.signedIn(a.userPackages)},
		{Method: "GET", Path: "/-/package/{pkg}/access", Name: "access", Handler: a.getAccess},
		{Method: "POST", Path: "/-/package/{pkg}/access", Name: "access", MaxBody: smallBody, Handler: a.signedIn(a.setAccess)},
		{Method: "GET", Path: "/-/package/{pkg}/collaborators", Name: "access", Handler: a.collaborators},
		{Method: "GET", Path: "/-/package/{pkg}/visibility", Name: "access", Handler: a.packageVisibility},

		// Trusted publishing (npm trust); the exchange is below, outside caller.
		{Method: "GET", Path: "/-/package/{pkg}/trust", Name: "trust", Handler: a.signedIn(a.listTrust)},
		{Method: "POST", Path: "/-/package/{pkg}/trust", Name: "trust", MaxBody: smallBody, Handler: a.signedIn(a.createTrust)},
		{Method: "DELETE", Path: "/-/package/{pkg}/trust/{id}", Name: "trust", MaxBody: smallBody, Handler: a.signedIn(a.revokeTrust)},

		// Dist-tags (npm dist-tag).
		{Method: "GET", Path: "/-/package/{pkg}/dist-tags", Name: "dist_tags", Handler: a.distTags},
		{Method: "PUT", Path: "/-/package/{pkg}/dist-tags/{tag}", Name: "dist_tags", MaxBody: smallBody, Handler: a.signedIn(a.setDistTag)},
		{Method: "POST", Path: "/-/package/{pkg}/dist-tags/{tag}", Name: "dist_tags", MaxBody: smallBody, Handler: a.signedIn(a.setDistTag)},
		{Method: "DELETE", Path: "/-/package/{pkg}/dist-tags/{tag}", Name: "dist_tags", MaxBody: smallBody, Handler: a.signedIn(a.deleteDistTag)},

		// Staged publishing (npm stage) and provenance.
		{Method: "POST", Path: "/-/stage/package/{pkg}", Name: "stage", Handler: a.stagePublish},
		{Method: "GET", Path: "/-/stage", Name: "stage", Handler: a.signedIn(a.stageList)},
		{Method: "GET", Path: "/-/stage/{id}", Name: "stage", Handler: a.signedIn(a.stageView)},
		{Method: "GET", Path: "/-/stage/{id}/tarball", Name: "stage", Handler: a.signedIn(a.stageTarball)},
		{Method: "POST", Path: "/-/stage/{id}/approve", Name: "stage", MaxBody: smallBody, Handler: a.signedIn(a.stageApprove)},
		{Method: "DELETE", Path: "/-/stage/{id}", Name: "stage", MaxBody: smallBody, Handler: a.signedIn(a.stageReject)},
		{Method: "GET", Path: "/-/npm/v1/attestations/{spec}", Name: "attestations", Handler: a.attestations},

		// Packages: reads, publish, and the writes of unpublish and npm owner.
		{Method: "GET", Path: "/{pkg}", Name: "packument", Handler: a.getPackument},
		{Method: "GET", Path: "/{pkg}/{version}", Name: "manifest", Handler: a.getManifest},
		{Method: "GET", Path: "/{pkg}/-/{file}", Name: "tarball", Handler: a.getTarball},
		{Method: "PUT", Path: "/{pkg}", Name: "publish", Handler: a.putPackage},
		{Method: "PUT", Path: "/{pkg}/-rev/{rev}", Name: "package_change", Handler: a.putPackage},
		{Method: "DELETE", Path: "/{pkg}/-rev/{rev}", Name: "package_change", Handler: a.unpublishPackage},
		{Method: "DELETE", Path: "/{pkg}/-/{file}/-rev/{rev}", Name: "package_change", Handler: a.deleteTarball},
	}
	for i := range rows {
		rows[i].Handler = a.caller(rows[i].Handler)
	}
	// A CI job's OIDC ID token for a short-lived token (npm publish in CI).
	// npm sends it to this path at the registry's origin, whatever path the
	// registry URL has. Its bearer is an ID token, which caller would count
	// as a bad gatehouse token: the handler reads it itself.
	rows = append(rows, route.Route{Method: "POST", Path: "/-/npm/v1/oidc/token/exchange/package/{pkg}", Name: "trust",
		MaxBody: smallBody, Handler: a.exchangeOIDC})
	return rows
}

// Bounds on request bodies (route.Route.MaxBody) below the server's own,
// which only a publish needs: logins, tokens, profiles, organizations,
// access and dist-tags send a few hundred bytes; an audit sends the names
// and versions of a project's dependencies, which gatehouse reads past.
const (
	smallBody = 64 << 10
	auditBody = 16 << 20
)

// signedIn answers 401 before next reads a byte of the body when the
// caller has no usable login, for the endpoints that need one whatever
// they are asked (the services would refuse the same way, later).
func (a *API) signedIn(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !principalOf(r).Authenticated() {
			a.writeError(w, r, auth.ErrAuthRequired())
			return
		}
		next(w, r)
	}
}

// reader answers 401 before next when the registry is private and the
// caller anonymous (registry.Service.MayRead, policy's rule), for the reads
// that are not the registry service's: the user document, the registry's
// keys, the empty quick audit. The registry's own reads ask it themselves.
func (a *API) reader(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := a.registry.MayRead(principalOf(r)); err != nil {
			a.writeError(w, r, err)
			return
		}
		next(w, r)
	}
}

// NotFound answers the API requests no route answers, after resolving the
// caller like any other: 404 for an unknown path, and 405 for a method the
// path's routes do not take: a package path (GET, HEAD, PUT, DELETE), a
// package's dist-tags (GET, PUT, DELETE) or access (GET, POST).
func (a *API) NotFound() http.HandlerFunc {
	return a.caller(func(w http.ResponseWriter, r *http.Request) {
		allow := a.allowed(r)
		if allow == "" {
			a.writeError(w, r, fault.NotFoundf("Not found"))
			return
		}
		w.Header().Set("Allow", allow)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
	})
}

// allowed is the Allow header of a 405 for r, or "" when the answer is 404.
func (a *API) allowed(r *http.Request) string {
	p := r.URL.EscapedPath()
	if sub, ok := strings.CutPrefix(p, "/-/package/"); ok {
		_, rest, ok := route.PackagePath(sub)
		switch {
		case ok && len(rest) == 1 && (rest[0] == "access" || rest[0] == "trust"):
			return "GET, POST"
		case ok && len(rest) == 2 && rest[0] == "trust":
			return "DELETE"
		case ok && (len(rest) == 1 || len(rest) == 2) && rest[0] == "dist-tags":
			return "GET, PUT, DELETE"
		}
		return ""
	}
	if strings.HasPrefix(p, "/-/") {
		return ""
	}
	_, rest, ok := route.PackagePath(p)
	if !ok {
		return ""
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete:
		if len(rest) <= 4 {
			return ""
		}
	}
	return "GET, HEAD, PUT, DELETE"
}

// caller resolves the caller's token, then calls next with the principal
// and the npm-otp header's one-time password in the request's context.
func (a *API) caller(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := a.principal(r)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		ctx := r.Context()
		if p != nil {
			ctx = auth.WithPrincipal(ctx, p)
		}
		// The canonical form of npm-otp, so that the look-up does not
		// canonicalise (and allocate) on every request.
		if otp := r.Header.Get("Npm-Otp"); otp != "" {
			ctx = auth.WithOTP(ctx, otp)
		}
		next(w, r.WithContext(ctx))
	}
}
