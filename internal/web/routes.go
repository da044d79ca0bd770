package web

import (
	"net/http"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/route"
)

// Routes are the website's rows of the route table (internal/route): every
// page, each named web in metrics and logs, and served only to what a
// browser sends (see route.Route.Page). A new page is one row here and its
// handler. Each handler runs after what every page does first (see page).
func (s *Site) Routes() []route.Route {
	// The pages anyone may open even on a private registry (read_access
	// authenticated): what signing in needs. Every other row asks policy
	// first (see reads), so a new page is closed until it is put here.
	open := []route.Route{
		{Method: "GET", Path: staticPrefix, Handler: http.StripPrefix(staticPrefix, http.HandlerFunc(s.assets.serve)).ServeHTTP},
		// Where npm sends a person to confirm a web login or a one-time
		// password: the unguessable id in the path is the capability, and
		// the page signs them in.
		{Method: "GET", Path: "/-/web/login/{secret}", Secret: true, Handler: s.confirmPage},
		{Method: "POST", Path: "/-/web/login/{secret}", Secret: true, Handler: s.confirm},
		// The password reset link an administrator hands over: the
		// unguessable secret in the path lets its holder set a password, once.
		{Method: "GET", Path: "/-/web/reset/{secret}", Secret: true, Handler: s.resetPage},
		{Method: "POST", Path: "/-/web/reset/{secret}", Secret: true, Handler: s.resetPassword},
		// Single sign-on (docs/sso.md): a provider's sign-in started for the
		// website, for an npm web login, or to link the signed-in account;
		// and the provider's callback.
		{Method: "GET", Path: "/-/web/login/{secret}/sso/{provider}", Secret: true, Handler: s.ssoWebLogin},
		{Method: "GET", Path: "/-/web/sso/{provider}/start", Handler: s.ssoSignIn},
		{Method: "GET", Path: "/-/web/sso/{provider}/link", Handler: s.ssoLink},
		{Method: "GET", Path: "/-/web/sso/{provider}/callback", Handler: s.ssoCallback},

		{Method: "GET", Path: "/login", Handler: s.loginPage},
		{Method: "POST", Path: "/login", Handler: s.login},
		// The account service refuses sign-up while registration is closed.
		{Method: "GET", Path: "/signup", Handler: s.signupPage},
		{Method: "POST", Path: "/signup", Handler: s.signup},
		{Method: "POST", Path: "/logout", Handler: s.logout},
	}
	rows := []route.Route{
		{Method: "GET", Path: "/{$}", Handler: s.home},
		{Method: "GET", Path: "/settings", Handler: s.settings},

		// Packages: what a visitor sees is what the registry's policy lets them read.
		{Method: "GET", Path: "/search", Handler: s.searchPage},
		{Method: "GET", Path: "/package/{name...}", Handler: s.packagePage},

		// A person's own settings, which nobody else can see: Access Tokens,
		// profile and two-factor authentication, organizations.
		{Method: "GET", Path: "/settings/{user}/tokens", Handler: s.tokensPage},
		{Method: "GET", Path: "/settings/{user}/tokens/new/classic", Handler: s.classicTokenPage},
		{Method: "POST", Path: "/settings/{user}/tokens/new/classic", Handler: s.createClassicToken},
		{Method: "GET", Path: "/settings/{user}/tokens/new/granular", Handler: s.granularTokenPage},
		{Method: "POST", Path: "/settings/{user}/tokens/new/granular", Handler: s.granularTokenStep},
		{Method: "GET", Path: "/settings/{user}/tokens/{key}/delete", Handler: s.deleteTokenPage},
		{Method: "POST", Path: "/settings/{user}/tokens/{key}/delete", Handler: s.deleteToken},
		{Method: "POST", Path: "/settings/{user}/tokens/sessions/{key}/revoke", Handler: s.revokeTokenSession},
		{Method: "GET", Path: "/settings/{user}/profile", Handler: s.profilePage},
		{Method: "POST", Path: "/settings/{user}/profile/email", Handler: s.changeEmail},
		{Method: "POST", Path: "/settings/{user}/profile/password", Handler: s.changePassword},
		{Method: "GET", Path: "/settings/{user}/2fa", Handler: s.twoFactorPage},
		{Method: "POST", Path: "/settings/{user}/2fa/enable", Handler: s.enableTwoFactor},
		{Method: "POST", Path: "/settings/{user}/2fa/confirm", Handler: s.confirmTwoFactor},
		{Method: "POST", Path: "/settings/{user}/2fa/mode", Handler: s.changeTwoFactorMode},
		{Method: "POST", Path: "/settings/{user}/2fa/disable", Handler: s.disableTwoFactor},
		{Method: "GET", Path: "/settings/{user}/staged", Handler: s.stagedPage},
		{Method: "POST", Path: "/settings/{user}/staged/{id}/approve", Handler: s.approveStaged},
		{Method: "POST", Path: "/settings/{user}/staged/{id}/reject", Handler: s.rejectStaged},
		{Method: "GET", Path: "/settings/{user}/security", Handler: s.securityLogPage},
		{Method: "GET", Path: "/settings/{user}/hooks", Handler: s.hooksPage},
		{Method: "POST", Path: "/settings/{user}/hooks", Handler: s.addHook},
		{Method: "POST", Path: "/settings/{user}/hooks/{id}/delete", Handler: s.removeHook},
		{Method: "POST", Path: "/settings/{user}/hooks/{id}/deliveries/{delivery}/redeliver", Handler: s.redeliverHook},
		{Method: "GET", Path: "/settings/{user}/orgs", Handler: s.orgsPage},
		{Method: "POST", Path: "/settings/{user}/orgs", Handler: s.createOrg},

		// Organizations: the organization service decides who may see and change what.
		{Method: "GET", Path: "/orgs", Handler: s.myOrgs},
		{Method: "GET", Path: "/org/{org}", Handler: s.orgPage},
		{Method: "POST", Path: "/org/{org}/members", Handler: s.orgSetMember},
		{Method: "POST", Path: "/org/{org}/members/remove", Handler: s.orgRemoveMember},
		{Method: "POST", Path: "/org/{org}/teams", Handler: s.orgCreateTeam},
		{Method: "POST", Path: "/org/{org}/teams/{team}/members", Handler: s.orgAddTeamMember},
		{Method: "POST", Path: "/org/{org}/teams/{team}/packages", Handler: s.orgGrantPackage},
		{Method: "POST", Path: "/org/{org}/teams/{team}/packages/revoke", Handler: s.orgRevokePackage},
		{Method: "POST", Path: "/org/{org}/teams/{team}/delete", Handler: s.orgDeleteTeam},

		// Site administration, for administrators alone: to everyone else
		// these are pages that do not exist (see adminPrincipal).
		{Method: "GET", Path: "/admin/users", Handler: s.adminUsersPage},
		{Method: "GET", Path: "/admin/users/{user}", Handler: s.adminUserPage},
		{Method: "POST", Path: "/admin/users/{user}/{action}", Handler: s.adminUserAction},
		{Method: "GET", Path: "/admin/audit", Handler: s.adminAuditPage},
		{Method: "GET", Path: "/admin/hooks", Handler: s.adminHooksPage},
		{Method: "POST", Path: "/admin/owners", Handler: s.adminAddOwner},

		// The rest of the website's paths, for any method a browser sends:
		// pages that do not exist. (A browser's GET /logout is not the npm
		// package logout; /org and /package, without a slash, are packages.)
		{Path: "/-/web/", Handler: s.notFound},
		{Path: "/{$}", Handler: s.notFound},
		{Path: "/logout", Handler: s.notFound},
		{Path: "/search", Handler: s.notFound},
		{Path: "/orgs", Handler: s.notFound},
		{Path: "/settings", Handler: s.notFound},
		{Path: "/settings/", Handler: s.notFound},
		{Path: "/package/", Handler: s.notFound},
		{Path: "/org/", Handler: s.notFound},
		{Path: "/admin/", Handler: s.notFound},
	}
	for i := range rows {
		rows[i].Handler = s.reads(rows[i].Handler)
	}
	rows = append(open, rows...)
	for i := range rows {
		rows[i].Name, rows[i].Page = "web", true
		rows[i].Handler = s.page(rows[i].Handler)
	}
	return rows
}

// reads sends a visitor who may not read the registry (anyone not signed
// in, on a private registry: registry.Service.MayRead, policy's rule) to
// the sign-in page, which brings them back.
func (s *Site) reads(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.registry.MayRead(auth.FromContext(r.Context())) != nil {
			s.toSignIn(w, r)
			return
		}
		next(w, r)
	}
}
