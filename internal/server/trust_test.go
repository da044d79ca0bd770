package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/admin"
	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/idtoken"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

const exchangePath = "/-/npm/v1/oidc/token/exchange/package/"

// TestTrustDisabled: with no trusted issuer (the default), every exchange is
// refused with npm's message and npm trust is told it is not offered.
func TestTrustDisabled(t *testing.T) {
	tr := newTestRegistry(t)
	alice := tr.user("alice")
	if res := tr.do("PUT", "/lib", alice, publishBody(t, "lib", "1.0.0")); res.status != http.StatusCreated {
		t.Fatalf("publish: %d %s", res.status, res.body)
	}
	is := testkit.NewIssuer(t)
	res := tr.do("POST", exchangePath+"lib", is.Sign(is.Claims("npm:127.0.0.1", nil)), nil)
	if res.status != http.StatusUnauthorized || !strings.Contains(string(res.body), `"message":"OIDC token exchange error - unauthorized"`) {
		t.Fatalf("exchange without trusted issuers: %d %s, want 401 and npm's message", res.status, res.body)
	}
	// Refusals count against the address: after the burst, 429.
	limited := 0
	for range 25 {
		res := tr.do("POST", exchangePath+"lib", is.Sign(is.Claims("npm:127.0.0.1", nil)), nil)
		if res.status == http.StatusTooManyRequests {
			limited++
			if res.header.Get("Retry-After") == "" || !strings.Contains(string(res.body), "too many refused exchanges") {
				t.Fatalf("a limited exchange: %d %v %s, want 429 with Retry-After and a message", res.status, res.header, res.body)
			}
		}
	}
	if limited < 4 {
		t.Fatalf("%d of 25 more refused exchanges were limited, want at least 4 (a burst of 20)", limited)
	}
	if res := tr.do("POST", exchangePath+"lib", "", nil); res.status != http.StatusBadRequest ||
		!strings.Contains(string(res.body), "OIDC token exchange error - bad request") {
		t.Fatalf("exchange without a token: %d %s, want 400", res.status, res.body)
	}
	config := []map[string]any{{"type": "github", "claims": map[string]any{"repository": "o/r",
		"workflow_ref": map[string]string{"file": "publish.yml"}}}}
	if res := tr.do("POST", "/-/package/lib/trust", alice, config); res.status != http.StatusForbidden ||
		!strings.Contains(string(res.body), "not enabled") {
		t.Fatalf("npm trust github without trusted issuers: %d %s, want 403", res.status, res.body)
	}
	if res := tr.do("GET", "/-/package/lib/trust", alice, nil); res.status != http.StatusOK || string(res.body) != "[]" {
		t.Fatalf("npm trust list without trusted issuers: %d %s, want 200 []", res.status, res.body)
	}
	if res := tr.do("PUT", "/-/package/lib/trust", alice, []any{}); res.status != http.StatusMethodNotAllowed || res.header.Get("Allow") != "GET, POST" {
		t.Fatalf("PUT trust: %d %s (Allow %q), want 405 with GET, POST", res.status, res.body, res.header.Get("Allow"))
	}
}

// TestTrustedToken: what a token exchanged for a CI identity may do: publish
// its one package, and nothing else. And who may bind a package.
func TestTrustedToken(t *testing.T) {
	is := testkit.NewIssuer(t)
	tr := newTestRegistry(t, func(c *config.Config) {
		c.URL = "http://127.0.0.1/"
		c.TrustedIssuers = []idtoken.Issuer{{URL: is.URL, Kind: idtoken.GitHub}}
	})
	alice, bob := tr.user("alice"), tr.user("bob")
	for _, name := range []string{"lib", "other", "@alice/secret"} {
		if res := tr.do("PUT", "/"+escape(name), alice, publishBody(t, name, "1.0.0")); res.status != http.StatusCreated {
			t.Fatalf("publish %s: %d %s", name, res.status, res.body)
		}
	}
	config := []map[string]any{{"type": "github", "claims": map[string]any{"repository": "o/r",
		"workflow_ref": map[string]string{"file": "publish.yml"}}, "permissions": []string{"createPackage"}}}
	// Without 2FA, no configuration (npm's rule).
	if res := tr.do("POST", "/-/package/lib/trust", alice, config); res.status != http.StatusForbidden ||
		!strings.Contains(string(res.body), "Two-factor authentication is required") {
		t.Fatalf("trust without 2FA: %d %s, want 403", res.status, res.body)
	}
	secret, _ := tr.enable2FA(alice, "password-alice", "auth-only")
	// With 2FA: a one-time password every time, even in auth-only mode.
	wantOTPChallenge(t, tr.do("POST", "/-/package/lib/trust", alice, config))
	// Not an owner: as if the package did not exist.
	if res := tr.do("POST", "/-/package/lib/trust", bob, config, "npm-otp", "000000"); res.status != http.StatusForbidden && res.status != http.StatusNotFound {
		t.Fatalf("trust by a stranger: %d %s, want 403 or 404", res.status, res.body)
	}
	res := tr.do("POST", "/-/package/lib/trust", alice, config, "npm-otp", otpAt(secret, 0))
	if res.status != http.StatusOK {
		t.Fatalf("trust: %d %s", res.status, res.body)
	}
	var made []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(res.body, &made); err != nil || len(made) != 1 || made[0].ID == "" {
		t.Fatalf("trust answered %s, want a list of one configuration with its id", res.body)
	}
	id := made[0].ID

	claims := map[string]any{"sub": "repo:o/r:ref:refs/heads/main", "repository": "o/r",
		"workflow_ref": "o/r/.github/workflows/publish.yml@refs/heads/main"}
	res = tr.do("POST", exchangePath+"lib", is.Sign(is.Claims("npm:127.0.0.1", claims)), nil)
	if res.status != http.StatusCreated {
		t.Fatalf("exchange: %d %s", res.status, res.body)
	}
	tok := res.json(t)["token"].(string)
	if res.header.Get("Cache-Control") != "no-store" {
		t.Errorf("the exchange's answer may be cached: Cache-Control %q", res.header.Get("Cache-Control"))
	}

	steps := []struct {
		what, method, path string
		body               any
		status             int
	}{
		{"publish its package", "PUT", "/lib", publishBody(t, "lib", "1.1.0"), http.StatusCreated},
		{"publish another package", "PUT", "/other", publishBody(t, "other", "1.1.0"), http.StatusForbidden},
		{"create a package", "PUT", "/new-one", publishBody(t, "new-one", "1.0.0"), http.StatusForbidden},
		{"read its package", "GET", "/lib", nil, http.StatusOK},
		{"read another private package", "GET", "/@alice%2fsecret", nil, http.StatusNotFound},
		{"change its package's access", "POST", "/-/package/lib/access", map[string]bool{"publish_requires_tfa": true}, http.StatusForbidden},
		{"list its package's trust", "GET", "/-/package/lib/trust", nil, http.StatusForbidden},
		{"revoke its package's trust", "DELETE", "/-/package/lib/trust/" + id, nil, http.StatusForbidden},
		{"create a token", "POST", "/-/npm/v1/tokens", map[string]any{"password": "password-alice", "name": "x",
			"packages_all": true, "packages_and_scopes_permission": "read-write"}, http.StatusForbidden},
		{"change the profile", "POST", "/-/npm/v1/user", map[string]any{"email": "evil@example.com"}, http.StatusForbidden},
	}
	for _, s := range steps {
		res := tr.do(s.method, s.path, tok, s.body)
		if res.status != s.status && !(s.status == http.StatusForbidden && res.status == http.StatusUnauthorized) {
			t.Errorf("%s with the exchanged token: %d %s, want %d", s.what, res.status, res.body, s.status)
		}
	}
	// A disabled owner's configuration mints nothing (the token would be
	// refused at its first use; the log must not record an exchange).
	op := audit.Operator()
	if err := tr.srv.Admin.SetDisabled(t.Context(), op, admin.Confirm{}, "alice", true); err != nil {
		t.Fatal(err)
	}
	if res := tr.do("POST", exchangePath+"lib", is.Sign(is.Claims("npm:127.0.0.1", claims)), nil); res.status == http.StatusCreated {
		t.Errorf("exchange for a disabled owner's configuration: %d %s, want a refusal", res.status, res.body)
	}
	if err := tr.srv.Admin.SetDisabled(t.Context(), op, admin.Confirm{}, "alice", false); err != nil {
		t.Fatal(err)
	}
	// Revoked with its configuration (which needs an OTP too).
	wantOTPChallenge(t, tr.do("DELETE", "/-/package/lib/trust/"+id, alice, nil))
	if res := tr.do("DELETE", "/-/package/lib/trust/"+id, alice, nil, "npm-otp", otpAt(secret, 1)); res.status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", res.status, res.body)
	}
	if res := tr.do("GET", "/-/whoami", tok, nil); res.status != http.StatusUnauthorized {
		t.Fatalf("whoami with the token of a revoked configuration: %d %s, want 401", res.status, res.body)
	}
}
