package main

import (
	"bytes"
	"encoding/base32"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/server/servertest"
	"github.com/gatehouse-registry/gatehouse/internal/store/pgtest"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
	"github.com/gatehouse-registry/gatehouse/internal/totp"
)

// TestUserLifecycleCommands: gatehouse user list, reset-password,
// reset-2fa, revoke-tokens, delete and package add-owner, run against the
// database of a running registry (SQLite, and PostgreSQL), change what the
// registry does at once, refuse what they must, and are in the audit log
// with no secret in it.
func TestUserLifecycleCommands(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testUserLifecycle(t, "") })
	t.Run("postgres", func(t *testing.T) {
		db, _ := pgtest.NewDatabase(t, pgtest.AdminURL(t, "the admin commands on PostgreSQL"), "gatehouse_cmd")
		testUserLifecycle(t, db)
	})
}

func testUserLifecycle(t *testing.T, database string) {
	cfg := servertest.Config(t)
	cfg.Database = database
	storage := []string{"--data", cfg.DataDir}
	if database != "" {
		storage = append(storage, "--database", database)
	}
	gatehouse := func(stdin string, args ...string) (string, int) {
		t.Helper()
		var out, errs bytes.Buffer
		code := run(append(args, storage...), strings.NewReader(stdin), &out, &errs)
		return out.String() + errs.String(), code
	}
	for _, u := range []string{"root", "bob", "carol"} {
		args := []string{"user", "add", u, "--email", u + "@example.com"}
		if u == "root" {
			args = append(args, "--admin")
		}
		if out, code := gatehouse("password-of-"+u+"\n", args...); code != 0 {
			t.Fatalf("user add %s: %d %s", u, code, out)
		}
	}
	_, base := servertest.Start(t, cfg)
	do := func(method, path, tok string, body any, headers ...string) testkit.Response {
		t.Helper()
		return testkit.Do(t, method, base+path, tok, body, headers...)
	}
	signIn := func(name, password string) testkit.Response {
		t.Helper()
		return do("PUT", "/-/user/org.couchdb.user:"+name, "", map[string]string{"name": name, "password": password})
	}
	session := func(name string) string {
		t.Helper()
		res := signIn(name, "password-of-"+name)
		var body struct{ Token string }
		if res.Status != http.StatusCreated || json.Unmarshal(res.Body, &body) != nil {
			t.Fatalf("sign in %s: %s", name, res)
		}
		return body.Token
	}
	bob, carol := session("bob"), session("carol")
	// eventually waits for the registry to see what a command changed in
	// the database (the change feed: within a second).
	eventually := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !ok(); {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 5s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	whoami := func(tok string) int { return do("GET", "/-/whoami", tok, nil).Status }

	// bob owns a package alone, and has 2FA.
	pj := `{"name":"bobs-lib","version":"1.0.0"}`
	if res := do("PUT", "/bobs-lib", bob, testkit.PublishBody(nil, "bobs-lib", "1.0.0", testkit.PackageTarball(t, pj))); res.Status != http.StatusCreated {
		t.Fatalf("publish: %s", res)
	}
	res := do("POST", "/-/npm/v1/user", bob, map[string]any{"tfa": map[string]string{"password": "password-of-bob", "mode": "auth-only"}})
	var otpauth string
	_ = json.Unmarshal(jsonField(t, res.Body, "tfa"), &otpauth)
	u, err := url.Parse(otpauth)
	if res.Status != http.StatusOK || err != nil || u.Scheme != "otpauth" {
		t.Fatalf("enable 2FA: %s", res)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(u.Query().Get("secret"))
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitOutStepEnd(totp.Period, 5*time.Second)
	if res := do("POST", "/-/npm/v1/user", bob, map[string]any{"tfa": []string{totp.Code(secret, totp.Step(time.Now())-1)}}); res.Status != http.StatusOK {
		t.Fatalf("confirm 2FA: %s", res)
	}

	resetLink := regexp.MustCompile(`/-/web/reset/([A-Za-z0-9_-]{20,})`)
	var resetSecrets []string
	steps := []struct {
		name  string
		args  []string
		code  int
		says  []string
		after func(t *testing.T, out string)
	}{
		{"list", []string{"user", "list"}, 0,
			[]string{"NAME", "LAST SIGN-IN", "2FA", "ADMIN", "DISABLED", "bob@example.com", "3 of 3 account(s)"},
			func(t *testing.T, out string) {
				rows := map[string]string{}
				for _, l := range strings.Split(out, "\n") {
					if f := strings.Fields(l); len(f) == 7 {
						rows[f[0]] = strings.Join(f[4:], " ")
					}
				}
				// 2FA, admin, disabled; root never signed in.
				if rows["bob"] != "yes no no" || rows["root"] != "no yes no" || rows["carol"] != "no no no" {
					t.Errorf("rows %q", rows)
				}
				if !regexp.MustCompile(`root\s+root@example.com\s+\S+\s+never`).MatchString(out) {
					t.Errorf("root's last sign-in is not never:\n%s", out)
				}
			}},
		{"list, searched", []string{"user", "list", "--search", "CAR"}, 0, []string{"carol", "1 of 1 account(s)"},
			func(t *testing.T, out string) {
				if strings.Contains(out, "bob") {
					t.Errorf("the search for CAR lists bob:\n%s", out)
				}
			}},
		{"list, paged", []string{"user", "list", "--per-page", "2"}, 0, []string{"2 of 3 account(s); next page: --after carol"}, nil},
		{"list, next page", []string{"user", "list", "--per-page", "2", "--after", "carol"}, 0, []string{"root", "1 of 3"},
			func(t *testing.T, out string) {
				if strings.Contains(out, "bob") {
					t.Errorf("the second page lists bob:\n%s", out)
				}
			}},
		{"list, bad page size", []string{"user", "list", "--per-page", "0"}, 1, []string{"perPage"}, nil},
		{"list as JSON", []string{"user", "list", "--json", "--search", "bob"}, 0, []string{`"name": "bob"`, `"tfa": true`, `"last_signin": "`}, nil},

		{"reset-password without --url", []string{"user", "reset-password", "bob"}, 0,
			[]string{"reset the password of bob", "\n  /-/web/reset/", "no --url is set"},
			func(t *testing.T, out string) {
				m := resetLink.FindStringSubmatch(out)
				if m == nil {
					t.Fatalf("no reset link in %q", out)
				}
				resetSecrets = append(resetSecrets, m[1])
				eventually("bob's session refused after the reset", func() bool { return whoami(bob) == http.StatusUnauthorized })
				if res := signIn("bob", "password-of-bob"); res.Status/100 == 2 {
					t.Errorf("bob's old password still signs in: %s", res)
				}
			}},
		{"reset-password with --url", []string{"user", "reset-password", "bob", "--url", "https://npm.example.com/"}, 0,
			[]string{"https://npm.example.com/-/web/reset/"},
			func(t *testing.T, out string) {
				if strings.Contains(out, "no --url") {
					t.Errorf("says no --url with one:\n%s", out)
				}
				if m := resetLink.FindStringSubmatch(out); m != nil {
					resetSecrets = append(resetSecrets, m[1])
				}
			}},
		{"reset-password of nobody", []string{"user", "reset-password", "nobody"}, 1, []string{"not found"}, nil},
		{"reset-2fa", []string{"user", "reset-2fa", "bob"}, 0, []string{"reset the two-factor authentication of bob", "enable it again"},
			func(t *testing.T, _ string) {
				list, _ := gatehouse("", "user", "list", "--search", "bob", "--json")
				if !strings.Contains(list, `"tfa": false`) {
					t.Errorf("bob's 2FA after the reset:\n%s", list)
				}
			}},
		{"reset-2fa again", []string{"user", "reset-2fa", "bob"}, 1, []string{"no two-factor authentication to reset"}, nil},
		{"revoke-tokens", []string{"user", "revoke-tokens", "carol"}, 0, []string{"revoked 1 token(s) and session(s) of carol"},
			func(t *testing.T, out string) {
				eventually("carol's session refused after revoke-tokens", func() bool { return whoami(carol) == http.StatusUnauthorized })
			}},
		{"delete the only owner of a package, no heir", []string{"user", "delete", "bob"}, 1, []string{"only owner of 1 package(s)", "bobs-lib"},
			func(t *testing.T, out string) {
				if out, _ := gatehouse("", "user", "list", "--search", "bob"); !strings.Contains(out, "bob@example.com") {
					t.Errorf("a refused delete deleted bob:\n%s", out)
				}
			}},
		{"delete, heir is nobody", []string{"user", "delete", "bob", "--heir", "nobody"}, 1, []string{"neither a user nor an organization"}, nil},
		{"disable the heir", []string{"user", "disable", "carol"}, 0, []string{"disabled carol"}, nil},
		{"delete, heir is disabled", []string{"user", "delete", "bob", "--heir", "carol"}, 1, []string{"the heir carol is disabled"}, nil},
		{"enable the heir", []string{"user", "enable", "carol"}, 0, []string{"enabled carol"}, nil},
		{"delete with an heir", []string{"user", "delete", "bob", "--heir", "carol"}, 0, []string{"deleted bob; bobs-lib handed to carol"},
			func(t *testing.T, out string) {
				eventually("carol owns bobs-lib", func() bool {
					res := do("GET", "/-/package/bobs-lib/collaborators", "", nil)
					return res.Status == http.StatusOK && string(res.Body) == `{"carol":"read-write"}`
				})
				if res := signIn("bob", "password-of-bob"); res.Status/100 == 2 {
					t.Errorf("deleted bob signs in: %s", res)
				}
			}},
		{"delete nobody", []string{"user", "delete", "nobody"}, 1, []string{"not found"}, nil},
		{"package add-owner", []string{"package", "add-owner", "bobs-lib", "root"}, 0, []string{"added root as an owner of bobs-lib"},
			func(t *testing.T, out string) {
				eventually("root owns bobs-lib", func() bool {
					res := do("GET", "/-/package/bobs-lib/collaborators", "", nil)
					return strings.Contains(string(res.Body), `"root":"read-write"`)
				})
			}},
		{"package add-owner of nothing", []string{"package", "add-owner", "no-such-lib", "root"}, 1, []string{"not found"}, nil},
		{"package add-owner, no user", []string{"package", "add-owner", "bobs-lib"}, 1, []string{"usage"}, nil},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			out, code := gatehouse("", s.args...)
			if code != s.code {
				t.Fatalf("%v: exit %d, want %d\n%s", s.args, code, s.code, out)
			}
			for _, w := range s.says {
				if !strings.Contains(out, w) {
					t.Errorf("%v does not say %q:\n%s", s.args, w, out)
				}
			}
			if s.after != nil {
				s.after(t, out)
			}
		})
	}

	// Each change is in the audit log, by the operator; no secret is.
	out, code := gatehouse("", "audit", "export", "--action", "admin.")
	if code != 0 {
		t.Fatalf("audit export: %d %s", code, out)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var e struct {
			Action  string `json:"action"`
			Outcome string `json:"outcome"`
			Actor   struct {
				TokenKind string `json:"token_kind"`
			} `json:"actor"`
			Target struct {
				User    string `json:"user"`
				Package string `json:"package"`
			} `json:"target"`
		}
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		if e.Outcome == "success" && e.Actor.TokenKind == "operator" {
			got = append(got, strings.TrimSpace(e.Action+" "+e.Target.User+" "+e.Target.Package))
		}
	}
	for _, want := range []string{"admin.password_reset bob", "admin.tfa_reset bob", "admin.tokens_revoke carol",
		"admin.user_delete bob", "admin.owner_add root bobs-lib"} {
		found := false
		for _, g := range got {
			found = found || g == want
		}
		if !found {
			t.Errorf("no %q in the audit log: %q", want, got)
		}
	}
	all, _ := gatehouse("", "audit", "export")
	if len(resetSecrets) != 2 {
		t.Fatalf("reset secrets: %q", resetSecrets)
	}
	for _, s := range append(resetSecrets, bob, carol, "password-of-bob", "password-of-carol", "password-of-root",
		base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)) {
		if strings.Contains(all, s) {
			t.Errorf("the audit log holds a secret (%.8s…)", s)
		}
	}
}

// jsonField is the raw value of field in the JSON object b.
func jsonField(t *testing.T, b []byte, field string) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %s", b)
	}
	return m[field]
}
