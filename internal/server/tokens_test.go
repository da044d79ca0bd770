package server

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
	"github.com/gatehouse-registry/gatehouse/internal/token"
)

// createToken posts body to the token API with alice's session and returns the answer.
func (tr *testRegistry) createToken(session string, body map[string]any) response {
	tr.t.Helper()
	return tr.do("POST", "/-/npm/v1/tokens", session, body)
}

func (tr *testRegistry) mustToken(session string, body map[string]any) string {
	tr.t.Helper()
	res := tr.createToken(session, body)
	if res.status != http.StatusCreated {
		tr.t.Fatalf("create token %v: %d %s", body, res.status, res.body)
	}
	return res.json(tr.t)["token"].(string)
}

func TestTokenCreateValidation(t *testing.T) {
	tr := newTestRegistry(t)
	alice := tr.user("alice")
	pw := "password-alice"
	fifty := make([]string, 51)
	for i := range fifty {
		fifty[i] = fmt.Sprintf("pkg-%d", i)
	}
	past := time.Now().Add(-48 * time.Hour).UTC().Format(time.RFC3339)
	tests := []struct {
		name   string
		body   map[string]any
		status int
		want   string
	}{
		{"no name, no kind", map[string]any{"password": pw}, 400, "Token name is required"},
		{"empty name", map[string]any{"password": pw, "name": "", "packages_all": true}, 400, "Token name is required"},
		{"unknown field", map[string]any{"password": pw, "name": "x", "packages_all": true, "colour": "red"}, 400, "Unknown field: colour"},
		{"packages not an array", map[string]any{"password": pw, "name": "x", "packages": "a"}, 400, "Packages must be an array"},
		{"scopes not an array", map[string]any{"password": pw, "name": "x", "scopes": 3}, 400, "Scopes must be an array"},
		{"orgs not an array", map[string]any{"password": pw, "name": "x", "orgs": map[string]any{}}, 400, "Organizations must be an array"},
		{"bad package permission", map[string]any{"password": pw, "name": "x", "packages_all": true, "packages_and_scopes_permission": "admin"}, 400,
			"Invalid packages_and_scopes_permission. Must be one of: no-access, read-only, read-write, read-write-stage-only"},
		{"bad org permission", map[string]any{"password": pw, "name": "x", "orgs": []string{"acme"}, "orgs_permission": "owner"}, 400,
			"Invalid orgs_permission. Must be one of: no-access, read-only, read-write"},
		{"nothing selected", map[string]any{"password": pw, "name": "x"}, 400, "Please select at least one: package, scope or organization."},
		{"package permission without packages", map[string]any{"password": pw, "name": "x", "packages_and_scopes_permission": "read-only", "orgs": []string{"acme"}}, 400,
			"You must select at least one package or scope if granting package/scopes permissions to this token."},
		{"org permission without orgs", map[string]any{"password": pw, "name": "x", "packages_all": true, "orgs_permission": "read-write"}, 400,
			"You must select at least one organization if granting organization permissions to this token."},
		{"selection with no access", map[string]any{"password": pw, "name": "x", "packages": []string{"a"}, "packages_and_scopes_permission": "no-access"}, 400,
			"You must have at least one package / scope or organization added to this token."},
		{"51 packages", map[string]any{"password": pw, "name": "x", "packages": fifty}, 400, "at most 50"},
		{"invalid CIDR", map[string]any{"password": pw, "name": "x", "packages_all": true, "cidr_whitelist": []string{"10.0.0.0/33"}}, 400,
			"CIDR whitelist contains invalid CIDR entry: 10.0.0.0/33"},
		{"invalid legacy CIDR", map[string]any{"password": pw, "readonly": true, "cidr_whitelist": []string{"X.X.X.X./YY"}}, 400,
			"CIDR whitelist contains invalid CIDR entry: X.X.X.X./YY"},
		{"write token beyond 90 days", map[string]any{"password": pw, "name": "x", "packages_all": true, "packages_and_scopes_permission": "read-write", "expires": 120}, 400,
			"Read-write tokens cannot have expiration longer than 90 days"},
		{"bypass token beyond 90 days", map[string]any{"password": pw, "name": "x", "packages_all": true, "bypass_2fa": true, "expires": 91}, 400,
			"Read-write tokens cannot have expiration longer than 90 days"},
		{"expiry in the past", map[string]any{"password": pw, "name": "x", "packages_all": true, "expiry": past}, 400, "at least 1 day in the future"},
		{"zero days", map[string]any{"password": pw, "name": "x", "packages_all": true, "expires": 0}, 400, "at least 1 day in the future"},
		{"expires of the wrong type", map[string]any{"password": pw, "name": "x", "packages_all": true, "expires": true}, 400, "expires must be"},
		{"name too long", map[string]any{"password": pw, "name": strings.Repeat("n", 129), "packages_all": true}, 400, "at most 128"},
		{"name of the wrong type", map[string]any{"password": pw, "name": 5, "packages_all": true}, 400, "Token name must be a string"},
		{"wrong password", map[string]any{"password": "nope", "name": "x", "packages_all": true}, 401, "Incorrect password"},
		{"wrong password, legacy", map[string]any{"password": "nope", "readonly": true}, 401, "Incorrect password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tr.createToken(alice, tt.body)
			if res.status != tt.status || !strings.Contains(res.errorText(t), tt.want) {
				t.Fatalf("got %d %s; want %d containing %q", res.status, res.body, tt.status, tt.want)
			}
		})
	}
	if list := tr.do("GET", "/-/npm/v1/tokens", alice, nil).json(t); list["total"].(float64) != 0 {
		t.Fatalf("refused requests created tokens: %v", list)
	}
}

func TestTokenDefaultsAndShapes(t *testing.T) {
	tr := newTestRegistry(t)
	alice := tr.user("alice")
	day := 24 * time.Hour
	tests := []struct {
		name       string
		body       map[string]any
		kind       string
		readonly   bool
		expiresIn  time.Duration // 0: never
		pkgPerm    string
		packages   []any
		scopes     []any
		cidrWanted []any
	}{
		{"legacy read-only", map[string]any{"readonly": true, "cidr_whitelist": []string{"192.0.2.0/24"}}, "read-only", true, 0, "", []any{}, []any{}, []any{"192.0.2.0/24"}},
		{"legacy publish", map[string]any{"readonly": false}, "publish", false, 0, "", []any{}, []any{}, nil},
		{"legacy automation", map[string]any{"automation": true}, "automation", false, 0, "", []any{}, []any{}, nil},
		{"granular read default 30 days", map[string]any{"name": "ci", "packages": []string{"demo"}}, "granular", true, 30 * day, "read-only", []any{"demo"}, []any{}, nil},
		{"granular write default 7 days", map[string]any{"name": "w", "packages_all": true, "packages_and_scopes_permission": "read-write"}, "granular", false, 7 * day, "read-write", []any{"*"}, []any{}, nil},
		{"packages [*] is all", map[string]any{"name": "all", "packages": []string{"*"}}, "granular", true, 30 * day, "read-only", []any{"*"}, []any{}, nil},
		{"scope with and without @", map[string]any{"name": "s", "scopes": []string{"@alice", "bob"}, "expires": 60}, "granular", true, 60 * day, "read-only", []any{}, []any{"alice", "bob"}, nil},
		{"aliases", map[string]any{"name": "a", "token_description": "d", "cidr": []string{"2001:db8::/32"}, "packages_all": true}, "granular", true, 30 * day, "read-only", []any{"*"}, []any{}, []any{"2001:db8::/32"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.body["password"] = "password-alice"
			res := tr.createToken(alice, tt.body)
			if res.status != 201 {
				t.Fatalf("%d %s", res.status, res.body)
			}
			obj := res.json(t)
			tok := obj["token"].(string)
			if !token.NewFormat("").Valid(tok) {
				t.Fatalf("token %q is not well formed", tok)
			}
			if obj["type"] != tt.kind || obj["readonly"] != tt.readonly {
				t.Fatalf("type %v readonly %v", obj["type"], obj["readonly"])
			}
			if tt.expiresIn == 0 {
				if obj["expires"] != nil || obj["expiry"] != nil {
					t.Fatalf("legacy token expires: %v", obj["expires"])
				}
			} else {
				exp, err := time.Parse(time.RFC3339, obj["expires"].(string))
				if err != nil || time.Until(exp) < tt.expiresIn-time.Minute || time.Until(exp) > tt.expiresIn+time.Minute {
					t.Fatalf("expires %v, want in %v", obj["expires"], tt.expiresIn)
				}
				if obj["expiry"] != obj["expires"] {
					t.Fatal("expiry and expires differ")
				}
			}
			if obj["packages_and_scopes_permission"] != tt.pkgPerm {
				t.Fatalf("permission %v, want %q", obj["packages_and_scopes_permission"], tt.pkgPerm)
			}
			if fmt.Sprint(obj["packages"]) != fmt.Sprint(tt.packages) || fmt.Sprint(obj["scopes"]) != fmt.Sprint(tt.scopes) {
				t.Fatalf("packages %v scopes %v", obj["packages"], obj["scopes"])
			}
			if tt.cidrWanted == nil {
				if obj["cidr_whitelist"] != nil || obj["cidr"] != nil {
					t.Fatalf("cidr %v / %v, want null", obj["cidr_whitelist"], obj["cidr"])
				}
			} else if fmt.Sprint(obj["cidr_whitelist"]) != fmt.Sprint(tt.cidrWanted) || fmt.Sprint(obj["cidr"]) != fmt.Sprint(tt.cidrWanted) {
				t.Fatalf("cidr %v / %v", obj["cidr_whitelist"], obj["cidr"])
			}
			if key, _ := obj["key"].(string); len(key) != 36 {
				t.Fatalf("key %q is not a UUID", key)
			}
		})
	}
}

func TestTokenListPaginationAndRevoke(t *testing.T) {
	tr := newTestRegistry(t)
	alice := tr.user("alice")
	var made []string
	for i := 0; i < 12; i++ {
		made = append(made, tr.mustToken(alice, map[string]any{"password": "password-alice", "readonly": true}))
	}
	first := tr.do("GET", "/-/npm/v1/tokens?page=0&perPage=10", alice, nil).json(t)
	if first["total"].(float64) != 12 || len(first["objects"].([]any)) != 10 {
		t.Fatalf("first page: %v", first["total"])
	}
	next := first["urls"].(map[string]any)["next"].(string)
	if next != "/-/npm/v1/tokens?page=1&perPage=10" {
		t.Fatalf("next = %q", next)
	}
	second := tr.do("GET", next, alice, nil).json(t)
	if len(second["objects"].([]any)) != 2 {
		t.Fatalf("second page has %d", len(second["objects"].([]any)))
	}
	if _, ok := second["urls"].(map[string]any)["next"]; ok {
		t.Fatal("last page must have no next")
	}
	// Lists never hold a whole token; "token" is a prefix and "masked" the display form.
	listBytes := tr.do("GET", "/-/npm/v1/tokens?perPage=100", alice, nil).body
	for _, tok := range made {
		if bytes.Contains(listBytes, []byte(tok)) {
			t.Fatal("a whole token appears in the list")
		}
	}
	obj := first["objects"].([]any)[0].(map[string]any)
	if tokPrefix := obj["token"].(string); len(tokPrefix) != 8 || !strings.HasPrefix(made[11], tokPrefix) {
		t.Fatalf("list token %q is not the first 8 characters of the newest token", tokPrefix)
	}
	if obj["masked"] != token.Mask(made[11]) {
		t.Fatalf("masked = %v", obj["masked"])
	}
	// The session itself is not listed.
	for _, o := range first["objects"].([]any) {
		if o.(map[string]any)["type"] == "session" {
			t.Fatal("a session is listed")
		}
	}

	// Revoke by key prefix, by whole token; the revoked token stops at once.
	key := obj["key"].(string)
	if res := tr.do("GET", "/-/whoami", made[11], nil); res.status != 200 {
		t.Fatalf("token works before revoke: %d", res.status)
	}
	if res := tr.do("DELETE", "/-/npm/v1/tokens/token/"+key[:8], alice, nil); res.status != 204 {
		t.Fatalf("revoke by key prefix: %d %s", res.status, res.body)
	}
	if res := tr.do("GET", "/-/whoami", made[11], nil); res.status != 401 {
		t.Fatalf("revoked token still works: %d", res.status)
	}
	if res := tr.do("DELETE", "/-/npm/v1/tokens/token/"+made[0], alice, nil); res.status != 204 {
		t.Fatalf("revoke by token: %d %s", res.status, res.body)
	}
	if res := tr.do("DELETE", "/-/npm/v1/tokens/token/"+made[0], alice, nil); res.status != 404 || res.errorText(t) != "token not found" {
		t.Fatalf("second revoke: %d %s", res.status, res.body)
	}
	bob := tr.user("bob")
	if res := tr.do("DELETE", "/-/npm/v1/tokens/token/"+made[1], bob, nil); res.status != 404 {
		t.Fatalf("bob revoking alice's token: %d", res.status)
	}
	if got := tr.do("GET", "/-/npm/v1/tokens", alice, nil).json(t)["total"].(float64); got != 10 {
		t.Fatalf("after two revocations total = %v", got)
	}
}

func TestTokenEnforcement(t *testing.T) {
	tr := newTestRegistry(t)
	alice := tr.user("alice")
	bob := tr.user("bob")
	pub := func(tok, name, version string) int {
		body := publishBody(t, name, version)
		return tr.do("PUT", "/"+escape(name), tok, body).status
	}
	if s := pub(alice, "demo", "1.0.0"); s != 201 {
		t.Fatal(s)
	}
	if s := pub(alice, "other", "1.0.0"); s != 201 {
		t.Fatal(s)
	}
	if s := pub(alice, "@alice/secret", "1.0.0"); s != 201 {
		t.Fatal(s)
	}
	mk := func(body map[string]any) string {
		body["password"] = "password-alice"
		return tr.mustToken(alice, body)
	}
	readOnly := mk(map[string]any{"readonly": true})
	automation := mk(map[string]any{"automation": true})
	legacyPublish := mk(map[string]any{"readonly": false})
	demoRW := mk(map[string]any{"name": "demo rw", "packages": []string{"demo"}, "packages_and_scopes_permission": "read-write"})
	scopeRO := mk(map[string]any{"name": "scope ro", "scopes": []string{"alice"}})
	scopeRW := mk(map[string]any{"name": "scope rw", "scopes": []string{"@alice"}, "packages_and_scopes_permission": "read-write"})
	allRW := mk(map[string]any{"name": "all rw", "packages_all": true, "packages_and_scopes_permission": "read-write"})
	orgOnly := mk(map[string]any{"name": "org", "orgs": []string{"acme"}, "orgs_permission": "read-write"})

	type cell struct {
		tok    string
		method string
		path   string
		body   any
		status int
		msg    string
	}
	v := 1
	next := func(name string) map[string]any {
		v++
		return publishBody(t, name, fmt.Sprintf("1.0.%d", v))
	}
	cells := []cell{
		{readOnly, "GET", "/@alice%2fsecret", nil, 200, ""},
		{readOnly, "PUT", "/demo", next("demo"), 403, "This token is read-only"},
		{readOnly, "GET", "/-/npm/v1/tokens", nil, 403, "cannot manage tokens"},
		{automation, "PUT", "/demo", next("demo"), 201, ""},
		{automation, "GET", "/-/npm/v1/tokens", nil, 403, "cannot manage tokens"},
		{legacyPublish, "PUT", "/demo", next("demo"), 201, ""},
		{legacyPublish, "GET", "/-/npm/v1/tokens", nil, 200, ""},
		{demoRW, "PUT", "/demo", next("demo"), 201, ""},
		{demoRW, "PUT", "/other", next("other"), 403, "This token has no write access to other"},
		{demoRW, "PUT", "/brand-new", next("brand-new"), 403, "This token has no write access to brand-new"},
		{demoRW, "GET", "/@alice%2fsecret", nil, 404, "Not found"},
		{demoRW, "GET", "/-/npm/v1/tokens", nil, 403, "cannot manage tokens"},
		{demoRW, "GET", "/other", nil, 200, ""},
		{scopeRO, "GET", "/@alice%2fsecret", nil, 200, ""},
		{scopeRO, "PUT", "/@alice%2fsecret", next("@alice/secret"), 403, "no write access"},
		{scopeRW, "PUT", "/@alice%2fsecret", next("@alice/secret"), 201, ""},
		{scopeRW, "PUT", "/@alice%2fnew-one", next("@alice/new-one"), 201, ""},
		{scopeRW, "PUT", "/demo", next("demo"), 403, "no write access"},
		{allRW, "PUT", "/fresh-package", next("fresh-package"), 201, ""},
		{orgOnly, "GET", "/@alice%2fsecret", nil, 404, "Not found"},
		{orgOnly, "PUT", "/demo", next("demo"), 403, "no write access"},
		{orgOnly, "GET", "/-/whoami", nil, 200, ""},
	}
	for i, c := range cells {
		res := tr.do(c.method, c.path, c.tok, c.body)
		if res.status != c.status {
			t.Errorf("cell %d %s %s: %d %s, want %d", i, c.method, c.path, res.status, res.body, c.status)
			continue
		}
		if c.msg != "" && !strings.Contains(res.errorText(t), c.msg) {
			t.Errorf("cell %d %s %s: error %q, want %q", i, c.method, c.path, res.errorText(t), c.msg)
		}
	}

	// Losing ownership takes the package away from every token at once.
	pk := tr.do("GET", "/demo", alice, nil, "Accept", "application/json").json(t)
	res := tr.do("PUT", "/demo/-rev/"+pk["_rev"].(string), alice, map[string]any{
		"_id": "demo", "_rev": pk["_rev"], "maintainers": []map[string]string{{"name": "bob"}}})
	if res.status != 200 {
		t.Fatalf("hand demo to bob: %d %s", res.status, res.body)
	}
	for _, tok := range []string{demoRW, allRW, automation, legacyPublish} {
		if res := tr.do("PUT", "/demo", tok, next("demo")); res.status != 403 {
			t.Errorf("token still publishes after its user lost the package: %d", res.status)
		}
	}
	if res := tr.do("PUT", "/demo", bob, next("demo")); res.status != 201 {
		t.Fatalf("new owner publishes: %d %s", res.status, res.body)
	}
}

func TestTokenIPRangesAndExpiry(t *testing.T) {
	tr := newTestRegistry(t)
	alice := tr.user("alice")
	outside := tr.mustToken(alice, map[string]any{"password": "password-alice", "readonly": true, "cidr_whitelist": []string{"10.0.0.0/8"}})
	inside := tr.mustToken(alice, map[string]any{"password": "password-alice", "readonly": true, "cidr_whitelist": []string{"127.0.0.0/8"}})
	v6only := tr.mustToken(alice, map[string]any{"password": "password-alice", "name": "v6", "packages_all": true, "cidr": []string{"::1/128"}})
	res := tr.do("GET", "/-/whoami", outside, nil)
	if res.status != 401 || res.header.Get("WWW-Authenticate") != "ipaddress" || res.errorText(t) != "Login is not allowed from your IP address" {
		t.Fatalf("outside its range: %d %v %s", res.status, res.header, res.body)
	}
	if res := tr.do("GET", "/-/whoami", inside, nil); res.status != 200 {
		t.Fatalf("inside its range: %d %s", res.status, res.body)
	}
	if res := tr.do("GET", "/-/whoami", v6only, nil); res.status != 401 {
		t.Fatalf("IPv6-only token from 127.0.0.1: %d", res.status)
	}

	// An expired token is refused like an unknown one.
	exp := tr.mustToken(alice, map[string]any{"password": "password-alice", "name": "short", "packages_all": true, "expires": 1})
	h := token.Hash(exp)
	st := tr.srv.store
	rec, err := st.Q().TokenByHash(context.Background(), h[:])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().Exec(`UPDATE tokens SET expires_at = ? WHERE id = ?`, store.Now()-1000, rec.ID); err != nil {
		t.Fatal(err)
	}
	tr.srv.authn.ForgetAll()
	if res := tr.do("GET", "/-/whoami", exp, nil); res.status != 401 || res.errorText(t) != "Authentication required" {
		t.Fatalf("expired token: %d %s", res.status, res.body)
	}
	// It stays listed, marked expired, until 30 days after its expiry.
	listed := func() map[string]any {
		for _, o := range tr.do("GET", "/-/npm/v1/tokens?perPage=100", alice, nil).json(t)["objects"].([]any) {
			if o.(map[string]any)["key"] == rec.Key {
				return o.(map[string]any)
			}
		}
		return nil
	}
	if o := listed(); o == nil || o["expired"] != true {
		t.Fatalf("expired token in the list: %v", o)
	}
	if _, err := st.DB().Exec(`UPDATE tokens SET expires_at = ? WHERE id = ?`, store.Now()-31*24*3600*1000, rec.ID); err != nil {
		t.Fatal(err)
	}
	if o := listed(); o != nil {
		t.Fatalf("a token expired 31 days ago is still listed: %v", o)
	}
}

func TestLegacyTokensDisabled(t *testing.T) {
	dir := t.TempDir()
	tr := newTestRegistry(t, func(c *config.Config) { c.DataDir = dir })
	alice := tr.user("alice")
	legacy := tr.mustToken(alice, map[string]any{"password": "password-alice", "readonly": true})
	granular := tr.mustToken(alice, map[string]any{"password": "password-alice", "name": "g", "packages_all": true})
	tr.srv.Close()

	off := newTestRegistry(t, func(c *config.Config) { c.DataDir = dir; c.LegacyTokens = "disabled" })
	res := off.createToken(alice, map[string]any{"password": "password-alice", "readonly": true})
	if res.status != 403 || res.errorText(t) != "Legacy tokens are disabled on this registry; create a granular access token." {
		t.Fatalf("legacy create when disabled: %d %s", res.status, res.body)
	}
	if res := off.do("GET", "/-/whoami", legacy, nil); res.status != 401 {
		t.Fatalf("legacy token still works when disabled: %d", res.status)
	}
	if res := off.do("GET", "/-/whoami", granular, nil); res.status != 200 {
		t.Fatalf("granular token must keep working: %d", res.status)
	}
}

func TestTokenLimit(t *testing.T) {
	tr := newTestRegistry(t)
	alice := tr.user("alice")
	ctx := context.Background()
	u, _ := tr.srv.store.Q().UserByName(ctx, "alice")
	// Seed 1,000 tokens straight into the store (through the API each costs a password hash).
	err := tr.srv.store.InTx(ctx, func(q store.Queries) error {
		for i := 0; i < 1000; i++ {
			if _, _, err := tr.srv.Accounts.IssueToken(ctx, q, store.Token{UserID: u.ID, Kind: "read-only"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	res := tr.createToken(alice, map[string]any{"password": "password-alice", "readonly": true})
	if res.status != 400 || res.errorText(t) != "You have reached the maximum number of tokens" {
		t.Fatalf("token 1,001: %d %s", res.status, res.body)
	}
	if total := tr.do("GET", "/-/npm/v1/tokens", alice, nil).json(t)["total"].(float64); total != 1000 {
		t.Fatalf("total %v after the refused create", total)
	}
}

func TestNoPlaintextTokenAtRest(t *testing.T) {
	var logs bytes.Buffer
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	srv, err := Open(context.Background(), cfg, NewLogger(&logs, "debug", false))
	if err != nil {
		t.Fatal(err)
	}
	tr := &testRegistry{t: t, srv: srv, dir: cfg.DataDir}
	tr.url = testkit.Serve(t, srv.Handler())
	alice := tr.user("alice")
	secrets := []string{alice, "password-alice"}
	secrets = append(secrets, tr.mustToken(alice, map[string]any{"password": "password-alice", "readonly": true}))
	g := tr.mustToken(alice, map[string]any{"password": "password-alice", "name": "g", "packages_all": true})
	secrets = append(secrets, g)
	tr.do("GET", "/-/whoami", g, nil)
	tr.do("DELETE", "/-/npm/v1/tokens/token/"+g, alice, nil)
	tr.do("GET", "/-/whoami", g, nil)
	srv.Close()
	err = filepath.Walk(cfg.DataDir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds a secret in the clear", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if bytes.Contains(logs.Bytes(), []byte(s)) {
			t.Errorf("the log holds a secret in the clear")
		}
	}
	if logs.Len() == 0 {
		t.Fatal("nothing was logged; the check proves nothing")
	}
}

// A token's use is written in the background, but a list made right after
// it already shows it: listing writes the uses still waiting.
func TestTokenListShowsLastUseAtOnce(t *testing.T) {
	tr := newTestRegistry(t)
	alice := tr.user("alice")
	tok := tr.mustToken(alice, map[string]any{"password": "password-alice", "readonly": true})
	if res := tr.do("GET", "/-/whoami", tok, nil); res.status != http.StatusOK {
		t.Fatalf("whoami with the new token: %d %s", res.status, res.body)
	}
	list := tr.do("GET", "/-/npm/v1/tokens", alice, nil).json(t)
	for _, o := range list["objects"].([]any) {
		obj := o.(map[string]any)
		if !strings.HasPrefix(tok, obj["token"].(string)) {
			continue
		}
		used, ok := obj["last_used"].(map[string]any)
		if !ok || used["time"] == "" || used["ip"] == "" {
			t.Fatalf("the token's use is not in the list made right after it: %v", obj["last_used"])
		}
		return
	}
	t.Fatal("the new token is not listed")
}
