package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
	"github.com/oauth2-proxy/mockoidc"
)

// Single sign-on (docs/sso.md) with a test OpenID provider on loopback
// (oauth2-proxy's mockoidc, behind a sign-in page): headless Chromium signs
// in on the website through it; the real npm's web login completes through
// it with the browser driving the provider's page; the provider's domain
// rule refuses an outsider; a first sign-in never takes over a local
// account with the same email; SSO-only turns passwords off for everyone
// but administrators; the audit log names the provider's subjects.
func TestSSO(t *testing.T) {
	t.Parallel()
	op := testkit.NewProvider(t)
	user := func(sub, login, email string, groups ...string) {
		op.AddUser(login, &mockoidc.MockUser{Subject: sub, Email: email, EmailVerified: true,
			PreferredUsername: login, Groups: groups})
	}
	user("sub-alice", "alice", "alice@corp.test", "eng")
	user("sub-mallory", "mallory", "mallory@evil.test", "eng")
	user("sub-imposter", "imposter", "bob@corp.test", "eng") // bob's email, another person
	providers, _ := json.Marshal([]map[string]any{{
		"name": "corp", "title": "Corp", "issuer": op.Issuer(), "client_id": op.ClientID,
		"client_secret_env": "CORP_SSO_SECRET", "scopes": []string{"email", "profile", "groups"},
		"allowed_domains": []string{"corp.test"}, "create_users": true,
	}})
	srv := startServerWith(t, serverSetup{
		env:  []string{"CORP_SSO_SECRET=" + op.ClientSecret},
		args: []string{"--url", "http://127.0.0.1:{port}/", "--sso-only", "true", "--sso-providers", string(providers)},
	})
	base := strings.TrimSuffix(srv.URL(), "/")
	// Local accounts: bob (email bob@corp.test) and an administrator.
	for _, u := range []struct {
		name  string
		extra []string
	}{{"bob", nil}, {"root", []string{"--admin"}}} {
		args := append([]string{"user", "add", u.name, "--email", u.name + "@corp.test", "--data", srv.DataDir()}, u.extra...)
		if out, code := runGatehouse(t, passwordOf(u.name)+"\n", args...); code != 0 {
			t.Fatalf("gatehouse user add %s exited %d:\n%s", u.name, code, out)
		}
	}

	signIn := func(b *browser, login string) {
		t.Helper()
		b.run("open sign-in", chromedp.Navigate(base+"/login?next=/settings"), chromedp.WaitVisible(`#sso-corp`, chromedp.ByQuery))
		if got := b.text("#sso-corp"); got != "Sign in with Corp" {
			t.Fatalf("the sign-in button says %q", got)
		}
		b.run("go to the provider", chromedp.Click(`#sso-corp`, chromedp.ByQuery),
			chromedp.WaitVisible(`#provider-login`, chromedp.ByQuery))
		if loc := b.location(); !strings.HasPrefix(loc, op.Issuer()) {
			t.Fatalf("the button led to %s, not the provider", loc)
		}
		b.run("sign in at the provider", chromedp.SendKeys(`#provider-login`, login, chromedp.ByQuery),
			chromedp.Click(`#provider-submit`, chromedp.ByQuery), chromedp.WaitVisible(`main`, chromedp.ByQuery))
	}

	t.Run("website", func(t *testing.T) {
		b := newBrowser(t)
		signIn(b, "alice")
		b.run("signed in", chromedp.WaitVisible(`details.menu summary`, chromedp.ByQuery))
		if who := b.text("details.menu summary"); !strings.Contains(who, "alice") {
			t.Fatalf("signed in as %q", who)
		}
		if loc := b.location(); !strings.HasSuffix(loc, "/settings/alice/tokens") {
			t.Fatalf("after the sign-in the browser is at %s, want next (/settings, then the tokens page)", loc)
		}
		var cookies string
		b.run("read document.cookie", chromedp.Evaluate(`document.cookie`, &cookies))
		if strings.Contains(cookies, "gatehouse_sso") || strings.Contains(cookies, "gatehouse_session") {
			t.Fatalf("a sign-in cookie is visible to scripts: %q", cookies)
		}
		b.run("profile", chromedp.Navigate(base+"/settings/alice/profile"), chromedp.WaitVisible(`#sso-links`, chromedp.ByQuery))
		if got := b.text("#sso-links"); !strings.Contains(got, "Corp: linked (alice@corp.test)") {
			t.Fatalf("the profile shows %q", got)
		}
		// A classic token on the website: the fresh sign-in stands in for
		// the password alice does not have.
		b.run("open the classic token form", chromedp.Navigate(base+"/settings/alice/tokens/new/classic"),
			chromedp.WaitVisible(`#type-read-only`, chromedp.ByQuery))
		if strings.Contains(b.html(), `id="password"`) {
			t.Fatal("the token form asks alice for a password")
		}
		b.run("generate a read-only token", chromedp.Click(`#type-read-only`, chromedp.ByQuery),
			chromedp.Click(`//button[normalize-space()="Generate Token"]`, chromedp.BySearch),
			chromedp.WaitVisible(`#new-token`, chromedp.ByQuery))
		if tok := strings.TrimSpace(b.text("#new-token")); !wholeToken.MatchString(tok) {
			t.Fatalf("no token on the page: %q", tok)
		}
	})

	t.Run("outsider refused", func(t *testing.T) {
		b := newBrowser(t)
		signIn(b, "mallory")
		if got := b.text("main"); !strings.Contains(got, "not in a domain this registry admits") {
			t.Fatalf("mallory's sign-in shows %q", got)
		}
		if strings.Contains(b.html(), `details class="menu"`) {
			t.Fatal("mallory is signed in")
		}
	})

	t.Run("no take-over by email", func(t *testing.T) {
		b := newBrowser(t)
		signIn(b, "imposter")
		if got := b.text("main"); !strings.Contains(got, "never takes an account over") {
			t.Fatalf("the imposter's sign-in shows %q", got)
		}
	})

	t.Run("a callback this browser did not start", func(t *testing.T) {
		res := browse(t, base+"/-/web/sso/corp/callback?state=forged&code=forged", nil)
		assertPage(t, "forged callback", res, http.StatusUnauthorized, "no sign-in in progress")
	})

	t.Run("passwords off", func(t *testing.T) {
		res := srv.couchLogin(t, "bob", passwordOf("bob"))
		if res.Status != http.StatusForbidden || !strings.Contains(string(res.Body), "single sign-on") {
			t.Fatalf("bob's couch login under SSO-only: %s", res)
		}
		if res := srv.couchLogin(t, "newbie", passwordOf("newbie")); res.Status != http.StatusForbidden {
			t.Fatalf("npm adduser under SSO-only: %s", res)
		}
		if res := srv.couchLogin(t, "root", passwordOf("root")); res.Status != http.StatusCreated {
			t.Fatalf("the administrator's couch login: %s", res)
		}
	})

	t.Run("npm login", func(t *testing.T) {
		b := newBrowser(t)
		c := newClient(t, srv, npm11(t))
		out, code := c.drive("", false, []step{onOutput(loginURLPattern, func(m []string) {
			assertConfirmURL(t, srv, m[1])
			b.run("open the confirmation", chromedp.Navigate(m[1]), chromedp.WaitVisible(`#sso-corp`, chromedp.ByQuery))
			b.run("go to the provider", chromedp.Click(`#sso-corp`, chromedp.ByQuery),
				chromedp.WaitVisible(`#provider-login`, chromedp.ByQuery))
			b.run("sign in at the provider", chromedp.SendKeys(`#provider-login`, "alice", chromedp.ByQuery),
				chromedp.Click(`#provider-submit`, chromedp.ByQuery),
				chromedp.WaitVisible(`//*[contains(., "You are signed in")]`, chromedp.BySearch))
		})}, "login", "--auth-type=web", "--browser=false")
		if code != 0 {
			t.Fatalf("npm login --auth-type=web exited %d:\n%s", code, out)
		}
		if got := strings.TrimSpace(c.mustRun("", "whoami").Stdout); got != "alice" {
			t.Fatalf("npm whoami after the web login = %q, want alice", got)
		}
		// A token from the fresh session, with no password: alice has none.
		res := srv.do(t, http.MethodPost, "-/npm/v1/tokens", c.savedToken(), map[string]any{"password": "", "readonly": false,
			"cidr_whitelist": []string{}})
		if res.Status/100 != 2 || !wholeToken.Match(res.Body) {
			t.Fatalf("token from a fresh SSO session: %s", res)
		}
	})

	// The audit log names the provider's subjects, for successes and
	// refusals (written when the server stops, at the latest).
	srv.stopAndCheck(t)
	out, code := runGatehouse(t, "", "audit", "export", "--data", srv.DataDir())
	if code != 0 {
		t.Fatalf("gatehouse audit export exited %d:\n%s", code, out)
	}
	var signups, signins, refusedMallory, refusedImposter int
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var e struct {
			Action  string `json:"action"`
			Outcome string `json:"outcome"`
			Actor   struct {
				OIDCSubject string `json:"oidc_subject"`
			} `json:"actor"`
			Detail string `json:"detail"`
		}
		if json.Unmarshal([]byte(line), &e) != nil || !strings.Contains(e.Detail, "corp ("+op.Issuer()+")") {
			continue
		}
		switch {
		case e.Action == "user.signup" && e.Outcome == "success" && e.Actor.OIDCSubject == "sub-alice":
			signups++
		case e.Action == "user.signin" && e.Outcome == "success" && e.Actor.OIDCSubject == "sub-alice":
			signins++
		case e.Action == "user.signin" && e.Outcome == "failure" && e.Actor.OIDCSubject == "sub-mallory":
			refusedMallory++
		case e.Action == "user.signin" && e.Outcome == "failure" && e.Actor.OIDCSubject == "sub-imposter":
			refusedImposter++
		}
	}
	if signups != 1 || signins != 2 || refusedMallory != 1 || refusedImposter != 1 {
		t.Fatalf("audit log: %d sign-ups, %d sign-ins of alice's subject, %d and %d refusals of mallory's and the imposter's, "+
			"want 1, 2, 1, 1:\n%s", signups, signins, refusedMallory, refusedImposter, out)
	}
}
