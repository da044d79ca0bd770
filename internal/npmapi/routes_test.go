package npmapi

import (
	"net/http/httptest"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/route"
)

// TestRoute checks the route names the API's rows of the route table give
// requests, for metrics and logs.
func TestRoute(t *testing.T) {
	a := new(API)
	table, err := route.New(a.Routes(), a.NotFound())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, target, want string
	}{
		{"GET", "/-/ping", "ping"},
		{"GET", "/-/whoami", "whoami"},
		{"PUT", "/-/user/org.couchdb.user:alice", "login"},
		{"PUT", "/-/user/org.couchdb.user:alice/-rev/1-abc", "login"},
		{"GET", "/-/user/org.couchdb.user:alice", "user"},
		{"DELETE", "/-/user/token/npm_secretsecretsecret", "logout"},
		{"GET", "/-/user/alice/package", "access"},
		{"POST", "/-/v1/login", "login"},
		{"GET", "/-/v1/login/done/0123abcd", "login"},
		{"GET", "/-/v1/search?text=secret-pkg", "search"},
		{"GET", "/-/npm/v1/tokens", "tokens"},
		{"POST", "/-/npm/v1/tokens", "tokens"},
		{"DELETE", "/-/npm/v1/tokens/token/1a2b3c", "tokens"},
		{"GET", "/-/npm/v1/user", "profile"},
		{"POST", "/-/npm/v1/security/advisories/bulk", "audit"},
		{"POST", "/-/npm/v1/security/audits/quick", "audit"},
		{"GET", "/-/package/demo/dist-tags", "dist_tags"},
		{"PUT", "/-/package/@acme%2fdemo/dist-tags/beta", "dist_tags"},
		{"DELETE", "/-/package/@acme/demo/dist-tags/beta", "dist_tags"},
		{"GET", "/-/package/@acme%2fdemo/access", "access"},
		{"GET", "/-/package/demo/collaborators", "access"},
		{"GET", "/-/org/acme/user", "orgs"},
		{"PUT", "/-/team/acme/devs/package", "orgs"},
		{"GET", "/-/nothing-here", "other"},
		{"GET", "/demo", "packument"},
		{"HEAD", "/demo", "packument"},
		{"GET", "/@acme%2fdemo", "packument"},
		{"GET", "/@acme%2Fdemo", "packument"},
		{"GET", "/@acme/demo", "packument"},
		{"PUT", "/demo", "publish"},
		{"PUT", "/@acme%2fdemo", "publish"},
		{"GET", "/demo/1.0.0", "manifest"},
		{"GET", "/@acme/demo/latest", "manifest"},
		{"GET", "/demo/-/demo-1.0.0.tgz", "tarball"},
		{"GET", "/@acme/demo/-/demo-1.0.0.tgz", "tarball"},
		{"PUT", "/demo/-rev/3-abc", "package_change"},
		{"DELETE", "/demo/-rev/3-abc", "package_change"},
		{"DELETE", "/demo/-/demo-1.0.0.tgz/-rev/3-abc", "package_change"},
		{"POST", "/demo", "other"},
		{"GET", "/demo/a/b/c/d/e", "other"},
		{"GET", "/", "other"},
		{"GET", "/@acme", "other"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.target, nil)
			if got := table.Name(r); got != tt.want {
				t.Errorf("Name(%s %s) = %q, want %q", tt.method, tt.target, got, tt.want)
			}
		})
	}
}
