package npmapi

import (
	"net/http"
	"strings"
)

// Route names the endpoint r is for, for metrics and logs. The answer is one
// of a small fixed set, never anything taken from the path (package names
// would make metrics unbounded and could reveal private names):
//
//	ping, whoami, login (couch login, web login and its polling), logout,
//	user (a user document), search, tokens, profile, audit, dist_tags,
//	access (package access, collaborators, visibility; a user's packages),
//	orgs (organizations and teams), packument, manifest, tarball,
//	publish (PUT of a package: publish or deprecate), package_change
//	(unpublish, owners), other (anything else, including unknown paths).
func Route(r *http.Request) string {
	p := r.URL.EscapedPath()
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	if rest, ok := strings.CutPrefix(p, "/-/"); ok {
		switch {
		case rest == "ping":
			return "ping"
		case rest == "whoami":
			return "whoami"
		case strings.HasPrefix(rest, "user/token/"):
			return "logout"
		case strings.HasPrefix(rest, "user/") && strings.HasSuffix(rest, "/package"):
			return "access"
		case strings.HasPrefix(rest, "user/") && r.Method == http.MethodPut:
			return "login"
		case strings.HasPrefix(rest, "user/"):
			return "user"
		case rest == "v1/login" || strings.HasPrefix(rest, "v1/login/"):
			return "login"
		case rest == "v1/search":
			return "search"
		case rest == "npm/v1/tokens" || strings.HasPrefix(rest, "npm/v1/tokens/"):
			return "tokens"
		case rest == "npm/v1/user":
			return "profile"
		case strings.HasPrefix(rest, "npm/v1/security/"):
			return "audit"
		case strings.HasPrefix(rest, "package/"):
			if _, sub, ok := splitPackagePath(strings.TrimPrefix(p, "/-/package")); ok && len(sub) > 0 && sub[0] == "dist-tags" {
				return "dist_tags"
			}
			return "access"
		case strings.HasPrefix(rest, "org/") || strings.HasPrefix(rest, "team/"):
			return "orgs"
		}
		return "other"
	}
	_, rest, ok := splitPackagePath(p)
	switch {
	case !ok:
		return "other"
	case len(rest) == 0 && get:
		return "packument"
	case len(rest) == 0 && r.Method == http.MethodPut:
		return "publish"
	case len(rest) == 1 && get:
		return "manifest"
	case len(rest) == 2 && rest[0] == "-" && get:
		return "tarball"
	case len(rest) == 2 && rest[0] == "-rev" && (r.Method == http.MethodPut || r.Method == http.MethodDelete),
		len(rest) == 4 && rest[0] == "-" && rest[2] == "-rev" && r.Method == http.MethodDelete:
		return "package_change"
	}
	return "other"
}
