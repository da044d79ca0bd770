package server

import (
	"database/sql"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/admin"
	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/idtoken"
	"github.com/gatehouse-registry/gatehouse/internal/sso"
	"github.com/gatehouse-registry/gatehouse/internal/store/pgtest"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

// TestAuditEveryEventNoSecret performs every kind of event the audit log
// records, through the registry's API where it has one (and the services
// the website and the command line call for the rest: organization
// creation, administration, the reset link), then reads the log back: every
// action is there, and no column of any row holds a secret used on the way
// (tokens of every kind, passwords right and wrong, one-time passwords,
// recovery codes, the TOTP secret, the reset link's secret, a CI job's ID
// token).
func TestAuditEveryEventNoSecret(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testAuditEveryEvent(t, "") })
	t.Run("postgres", func(t *testing.T) {
		u, _ := pgtest.NewDatabase(t, pgtest.AdminURL(t, "the audit log's secret scan on PostgreSQL"), "gatehouse_audit")
		testAuditEveryEvent(t, u)
	})
}

func testAuditEveryEvent(t *testing.T, database string) {
	is := testkit.NewIssuer(t)
	tr := newTestRegistry(t, func(c *config.Config) {
		c.Database = database
		c.URL = "http://127.0.0.1/"
		c.TrustedIssuers = []idtoken.Issuer{{URL: is.URL, Kind: idtoken.GitHub}}
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	ctx := t.Context()
	var secrets []string
	secret := func(s ...string) { secrets = append(secrets, s...) }
	must := func(what string, res response, status ...int) response {
		t.Helper()
		for _, s := range status {
			if res.status == s {
				return res
			}
		}
		t.Fatalf("%s: %d %s, want %v", what, res.status, res.body, status)
		return res
	}
	otp := func(h ...string) []string { return append([]string{"npm-otp"}, h...) }

	// Sign-ups, sign-ins (right and wrong), logout.
	users := map[string]string{}
	for _, name := range []string{"alice", "bob", "carol", "tess", "dave"} {
		users[name] = tr.user(name)
		secret(users[name], "password-"+name)
	}
	alice, bob, carol, tess := users["alice"], users["bob"], users["carol"], users["tess"]
	signIn := must("sign in", tr.do("PUT", "/-/user/org.couchdb.user:alice", "", map[string]string{"name": "alice", "password": "password-alice"}), 201)
	second := signIn.json(t)["token"].(string)
	secret(second)
	const wrongPassword = "wrong-password-typed-by-someone"
	secret(wrongPassword)
	must("wrong password", tr.do("PUT", "/-/user/org.couchdb.user:alice", "", map[string]string{"name": "alice", "password": wrongPassword}), 401)
	must("logout", tr.do("DELETE", "/-/user/token/"+second, second, nil), 200)

	// Tokens: legacy and granular, made with the password; one used from a
	// new address; one revoked.
	readOnly := tr.mustToken(alice, map[string]any{"password": "password-alice", "readonly": true})
	granular := tr.mustToken(alice, map[string]any{"password": "password-alice", "name": "ci", "packages_all": true,
		"packages_and_scopes_permission": "read-write"})
	secret(readOnly, granular)
	must("whoami from a new address", tr.do("GET", "/-/whoami", granular, nil, "X-Forwarded-For", "198.51.100.9"), 200)
	must("revoke", tr.do("DELETE", "/-/npm/v1/tokens/token/"+readOnly, alice, nil), 204, 200)

	// Two-factor authentication, with OTPs and recovery codes, trusted
	// publishing (which needs it), password and email changes.
	tfaSecret, codes := tr.enable2FA(tess, "password-tess", "auth-only")
	secret(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(tfaSecret), hex.EncodeToString(tfaSecret))
	secret(codes...)
	code0 := otpAt(tfaSecret, 0)
	secret(otpAt(tfaSecret, -1), code0)
	tessAgain := must("sign in with an OTP", tr.do("PUT", "/-/user/org.couchdb.user:tess", "",
		map[string]string{"name": "tess", "password": "password-tess"}, otp(code0)...), 201).json(t)["token"].(string)
	secret(tessAgain)
	must("sign in with a recovery code", tr.do("PUT", "/-/user/org.couchdb.user:tess", "",
		map[string]string{"name": "tess", "password": "password-tess"}, otp(codes[9])...), 201)
	must("publish tlib", tr.do("PUT", "/tlib", tess, publishBody(t, "tlib", "1.0.0")), 201)
	trust := []map[string]any{{"type": "github", "claims": map[string]any{"repository": "o/r",
		"workflow_ref": map[string]string{"file": "publish.yml"}}, "permissions": []string{"createPackage"}}}
	made := must("trust", tr.do("POST", "/-/package/tlib/trust", tess, trust, otp(codes[0])...), 200)
	trustID := strings.Split(strings.Split(string(made.body), `"id":"`)[1], `"`)[0]
	idToken := is.Sign(is.Claims("npm:127.0.0.1", map[string]any{"sub": "repo:o/r:ref:refs/heads/main", "repository": "o/r",
		"workflow_ref": "o/r/.github/workflows/publish.yml@refs/heads/main"}))
	exchanged := must("exchange", tr.do("POST", exchangePath+"tlib", idToken, nil), 201).json(t)["token"].(string)
	secret(idToken, exchanged)
	must("publish with the exchanged token", tr.do("PUT", "/tlib", exchanged, publishBody(t, "tlib", "1.1.0")), 201)
	must("trust revoke", tr.do("DELETE", "/-/package/tlib/trust/"+trustID, tess, nil, otp(codes[1])...), 204)
	must("2FA mode", tr.do("POST", "/-/npm/v1/user", tess, map[string]any{"tfa": map[string]string{"password": "password-tess",
		"mode": "auth-and-writes"}}, otp(codes[2])...), 200)
	const newPassword = "tess-new-password-0123"
	secret(newPassword)
	must("password change", tr.do("POST", "/-/npm/v1/user", tess, map[string]any{"password": map[string]string{
		"old": "password-tess", "new": newPassword}}, otp(codes[3])...), 200)
	must("email change", tr.do("POST", "/-/npm/v1/user", tess, map[string]any{"email": "tess@example.org"}, otp(codes[4])...), 200)
	must("2FA off", tr.do("POST", "/-/npm/v1/user", tess, map[string]any{"tfa": map[string]string{"password": newPassword,
		"mode": "disable"}}, otp(codes[5])...), 200)

	// Packages: publish, dist-tags, deprecate, owners, access, unpublish,
	// and a change refused.
	for _, v := range []string{"1.0.0", "1.1.0"} {
		must("publish lib "+v, tr.do("PUT", "/lib", alice, publishBody(t, "lib", v)), 201)
	}
	must("dist-tag", tr.do("PUT", "/-/package/lib/dist-tags/beta", alice, `"1.0.0"`, "Content-Type", "application/json"), 200, 201)
	must("dist-tag rm", tr.do("DELETE", "/-/package/lib/dist-tags/beta", alice, nil), 200)
	doc := func(name string) map[string]any {
		return must("read "+name, tr.do("GET", "/"+escape(name), alice, nil, "Accept", "application/json"), 200).json(t)
	}
	pk := doc("lib")
	pk["versions"].(map[string]any)["1.0.0"].(map[string]any)["deprecated"] = "use 1.1.0"
	must("deprecate", tr.do("PUT", "/lib/-rev/"+pk["_rev"].(string), alice, pk), 200, 201)
	for _, owners := range [][]string{{"alice", "bob"}, {"alice"}} {
		pk := doc("lib")
		var m []map[string]string
		for _, o := range owners {
			m = append(m, map[string]string{"name": o})
		}
		must(fmt.Sprint("owners ", owners), tr.do("PUT", "/lib/-rev/"+pk["_rev"].(string), alice,
			map[string]any{"_id": "lib", "_rev": pk["_rev"], "maintainers": m}), 200, 201)
	}
	pk = doc("lib")
	pk["versions"].(map[string]any)["1.1.0"].(map[string]any)["deprecated"] = "carol says so"
	must("carol's refused deprecation", tr.do("PUT", "/lib/-rev/"+pk["_rev"].(string), carol, pk), 403)
	must("carol's refused publish", tr.do("PUT", "/lib", carol, publishBody(t, "lib", "9.9.9")), 403)
	must("publish @alice/app", tr.do("PUT", "/@alice%2fapp", alice, publishBody(t, "@alice/app", "1.0.0")), 201)
	must("access", tr.do("POST", "/-/package/@alice%2fapp/access", alice, map[string]string{"access": "public"}), 200)
	must("publish gone", tr.do("PUT", "/gone", alice, publishBody(t, "gone", "1.0.0")), 201)
	must("unpublish", tr.do("DELETE", "/gone/-rev/"+doc("gone")["_rev"].(string), alice, nil), 200)

	// Webhooks: made, changed, removed; neither their secrets nor the
	// credential in an endpoint's query is written to the log.
	const hookSecret, hookSecret2, receiverKey = "hook-secret-shared-with-a-receiver", "hook-secret-changed-later-on", "receiver-credential-in-the-query"
	secret(hookSecret, hookSecret2, receiverKey)
	hookID := must("hook add", tr.do("POST", "/-/npm/v1/hooks/hook", alice, map[string]string{"type": "package", "name": "lib",
		"endpoint": "https://93.184.215.14/hook?key=" + receiverKey, "secret": hookSecret}), 201).json(t)["id"].(string)
	must("hook update", tr.do("PUT", "/-/npm/v1/hooks/hook/"+hookID, alice, map[string]string{
		"endpoint": "https://93.184.215.14/other?key=" + receiverKey, "secret": hookSecret2}), 200)
	must("hook rm", tr.do("DELETE", "/-/npm/v1/hooks/hook/"+hookID, alice, nil), 200)

	// Staged publishing.
	must("publish blib", tr.do("PUT", "/blib", bob, publishBody(t, "blib", "1.0.0")), 201)
	stage := func(v string) string {
		return must("stage "+v, tr.do("POST", "/-/stage/package/blib", bob, publishBody(t, "blib", v)), 200, 201).json(t)["stageId"].(string)
	}
	must("approve", tr.do("POST", "/-/stage/"+stage("2.0.0")+"/approve", bob, nil), 201)
	must("reject", tr.do("DELETE", "/-/stage/"+stage("2.1.0"), bob, nil), 200, 204)

	// Organizations and teams.
	if _, err := tr.srv.Orgs.Create(ctx, audit.Operator(), "acme", "alice"); err != nil {
		t.Fatal(err)
	}
	must("publish @acme/x", tr.do("PUT", "/@acme%2fx", alice, publishBody(t, "@acme/x", "1.0.0")), 201)
	for _, s := range []struct {
		name, method, path string
		body               any
	}{
		{"member set", "PUT", "/-/org/acme/user", map[string]string{"user": "bob"}},
		{"team create", "PUT", "/-/org/acme/team", map[string]string{"name": "readers"}},
		{"team member add", "PUT", "/-/team/acme/readers/user", map[string]string{"user": "bob"}},
		{"team grant", "PUT", "/-/team/acme/readers/package", map[string]string{"package": "@acme/x", "permissions": "read-only"}},
		{"team revoke", "DELETE", "/-/team/acme/readers/package", map[string]string{"package": "@acme/x"}},
		{"team member remove", "DELETE", "/-/team/acme/readers/user", map[string]string{"user": "bob"}},
		{"team delete", "DELETE", "/-/team/acme/readers", nil},
		{"member remove", "DELETE", "/-/org/acme/user", map[string]string{"user": "bob"}},
	} {
		must(s.name, tr.do(s.method, s.path, alice, s.body), 200, 201, 204)
	}

	// Site administration: alice, promoted by the operator, confirms with
	// her password.
	bobTFA, bobCodes := tr.enable2FA(bob, "password-bob", "auth-only")
	secret(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(bobTFA), otpAt(bobTFA, -1))
	secret(bobCodes...)
	if err := tr.srv.Admin.SetAdmin(ctx, audit.Operator(), admin.Confirm{}, "alice", true); err != nil {
		t.Fatal(err)
	}
	a, c := tr.principal(alice), admin.Confirm{Password: "password-alice"}
	const evePassword = "eve-password-set-by-an-admin"
	secret(evePassword)
	if _, err := tr.srv.Admin.CreateUser(ctx, a, c, "eve", "eve@example.com", evePassword, false); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		do   func() error
	}{
		{"promote", func() error { return tr.srv.Admin.SetAdmin(ctx, a, c, "carol", true) }},
		{"demote", func() error { return tr.srv.Admin.SetAdmin(ctx, a, c, "carol", false) }},
		{"disable", func() error { return tr.srv.Admin.SetDisabled(ctx, a, c, "dave", true) }},
		{"enable", func() error { return tr.srv.Admin.SetDisabled(ctx, a, c, "dave", false) }},
		{"password reset", func() error {
			r, err := tr.srv.Admin.ResetPassword(ctx, a, c, "carol")
			if err != nil {
				return err
			}
			const carolNew = "carol-password-after-the-reset"
			secret(r.Secret, carolNew)
			_, err = tr.srv.Accounts.CompletePasswordReset(ctx, r.Secret, carolNew, "")
			return err
		}},
		{"2FA reset", func() error { return tr.srv.Admin.ResetTFA(ctx, a, c, "bob") }},
		{"revoke tokens", func() error { _, err := tr.srv.Admin.RevokeTokens(ctx, a, c, "bob"); return err }},
		{"add owner", func() error { return tr.srv.Admin.AddOwner(ctx, a, c, "blib", "alice") }},
		{"delete", func() error { _, err := tr.srv.Admin.DeleteUser(ctx, a, c, "dave", ""); return err }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	// A refusal of an administrator's action: a wrong confirmation.
	secret("not-alices-password-at-all")
	if err := tr.srv.Admin.SetDisabled(ctx, a, admin.Confirm{Password: "not-alices-password-at-all"}, "bob", true); err == nil {
		t.Fatal("a wrong password disabled bob")
	}

	// Single sign-on (docs/sso.md): a first sign-in through a provider,
	// which makes the account, and alice's account linked to a provider
	// from her fresh session.
	corp := sso.Provider{Name: "corp", Issuer: "https://id.corp.test", ClientID: "c", ClientSecretEnv: "X", CreateUsers: true}
	first, err := tr.srv.Accounts.SignInSSO(ctx, corp, sso.Identity{Provider: "corp", Issuer: corp.Issuer, Subject: "sub-sso",
		UserName: "sso-user", Email: "sso-user@corp.test", EmailVerified: true}, "website")
	if err != nil {
		t.Fatal(err)
	}
	secret(first.Token)
	if err := tr.srv.Accounts.LinkSSO(ctx, a, corp, sso.Identity{Provider: "corp", Issuer: corp.Issuer, Subject: "sub-alice"}); err != nil {
		t.Fatalf("link: %v", err)
	}

	// Read back: every action is in the log.
	if err := tr.srv.authn.FlushLastUse(ctx); err != nil {
		t.Fatal(err)
	}
	seen := map[audit.Action]int{}
	carolRefused := map[audit.Action]bool{}
	if _, err := tr.srv.Audit.Export(ctx, audit.Operator(), audit.Filter{}, 0, 0, func(e audit.Event) error {
		seen[e.Action]++
		if e.Outcome == audit.Failure && e.Actor.User == "carol" && e.Target.Package == "lib" {
			carolRefused[e.Action] = true
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, a := range audit.Actions() {
		if seen[a] == 0 {
			t.Errorf("no %s event in the log", a)
		}
	}
	if !carolRefused[audit.PackagePublish] || !carolRefused[audit.PackageChange] {
		t.Errorf("carol's refused publish and deprecation of lib: %v, want both refusals", carolRefused)
	}

	// No secret in any column of any row. A one-time password is six digits,
	// which a millisecond timestamp holds by chance about once in a thousand
	// runs: a secret of digits only counts where no digit stands beside it.
	found := make([]func(string) bool, len(secrets))
	for i, s := range secrets {
		if len(s) < 6 {
			t.Fatalf("a secret too short to scan for: %q", s)
		}
		found[i] = func(v string) bool { return strings.Contains(v, s) }
		if strings.Trim(s, "0123456789") == "" {
			re := regexp.MustCompile(`(^|[^0-9])` + s + `([^0-9]|$)`)
			found[i] = re.MatchString
		}
	}
	rows, err := tr.srv.store.DB().QueryContext(ctx, `SELECT * FROM audit_events`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		n++
		for i, v := range vals {
			for j, s := range secrets {
				if found[j](string(v)) {
					t.Errorf("column %s of an audit row holds a secret (%.6s…): %s", cols[i], s, v)
				}
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n < len(audit.Actions()) {
		t.Errorf("scanned %d rows, fewer than the %d actions", n, len(audit.Actions()))
	}
	t.Logf("scanned %d columns of %d rows for %d secrets", len(cols), n, len(secrets))
}
