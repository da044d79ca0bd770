package web_test

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
	"github.com/gatehouse-registry/gatehouse/internal/totp"
)

// webLogin starts an npm login in the browser as npm login does, from the
// address in xff ("" for the test's own, 127.0.0.1), and returns the
// confirmation page's path and the done URL.
func (s *site) webLogin(xff string) (loginPath, doneURL string) {
	s.t.Helper()
	header := []string{"npm-command", "login"}
	if xff != "" {
		header = append(header, "X-Forwarded-For", xff)
	}
	res := testkit.Do(s.t, "POST", s.url+"/-/v1/login", "", map[string]any{}, header...)
	var out struct{ LoginURL, DoneURL string }
	if res.Status != http.StatusOK || json.Unmarshal(res.Body, &out) != nil || !strings.HasPrefix(out.LoginURL, s.url) {
		s.t.Fatalf("start a web login: %d %s", res.Status, res.Body)
	}
	return strings.TrimPrefix(out.LoginURL, s.url), out.DoneURL
}

// poll is one poll of the CLI on doneURL: the status and the token, if any.
func (s *site) poll(doneURL string) (int, string) {
	s.t.Helper()
	res := testkit.Do(s.t, "GET", doneURL, "", nil)
	var out struct{ Token string }
	_ = json.Unmarshal(res.Body, &out)
	return res.Status, out.Token
}

var csrfOnPage = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// continueForm is the "Continue as NAME" form as the browser sends it, with
// the CSRF token of the page p.
func continueForm(t *testing.T, p page, otp string) url.Values {
	t.Helper()
	m := csrfOnPage.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no CSRF field on the confirmation page:\n%s", p.body)
	}
	f := url.Values{"csrf": {m[1]}, "action": {"continue"}}
	if otp != "" {
		f.Set("otp", otp)
	}
	return f
}

// TestWebLoginContinue: a browser signed in as alice confirms an npm login
// with "Continue as alice", on a page that says what it confirms (the
// command, when and from where it was started), and the CLI gets a session
// of hers. What a hostile page could try is refused: a form without the
// page's CSRF token or from another site, a login started from another
// address (the password is asked instead), confirming twice. With 2FA the
// one-time password goes with the click.
func TestWebLoginContinue(t *testing.T) {
	s := newSiteWith(t, func(c *config.Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	s.apiUser("alice")
	bobTok := s.apiUser("bob")
	alice := s.browser()
	if p := alice.signIn("alice", ""); p.status != http.StatusSeeOther {
		t.Fatalf("alice signs in: %d", p.status)
	}

	loginPath, done := s.webLogin("")
	stranger := s.browser()
	anon := stranger.get(loginPath)
	wantIn(t, "the page signed out", anon, http.StatusOK, `name="username"`, `name="password"`, "<code>npm login</code>", "127.0.0.1")
	wantNotIn(t, "the page signed out", anon, "Continue as")
	p := alice.get(loginPath)
	wantIn(t, "the page signed in", p, http.StatusOK, "<code>npm login</code>", "<code>127.0.0.1</code>", "<time datetime=",
		`value="continue">Continue as alice</button>`, "Or sign in as someone else", `name="password"`)
	wantNotIn(t, "the page for alice without 2FA", p, `name="otp"`)

	// A hostile page's form: no CSRF token, another browser's, or a
	// cross-site request with the right one. None confirms anything.
	wantIn(t, "continue without the CSRF token", alice.post(loginPath, url.Values{"action": {"continue"}}), http.StatusForbidden,
		"came from another site")
	other := stranger.get("/login") // the stranger's own page, with the stranger's CSRF token
	wantIn(t, "continue with another browser's CSRF token", alice.post(loginPath, continueForm(t, other, "")), http.StatusForbidden)
	req, err := http.NewRequest("POST", s.url+loginPath, strings.NewReader(continueForm(t, p, "").Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	wantIn(t, "continue from another site", alice.do(req), http.StatusForbidden)
	wantIn(t, "continue signed out", stranger.post(loginPath, continueForm(t, other, "")), http.StatusUnauthorized)
	if status, _ := s.poll(done); status != http.StatusAccepted {
		t.Fatalf("the CLI's poll after refused attempts: %d, want 202", status)
	}

	wantIn(t, "continue as alice", alice.post(loginPath, continueForm(t, p, "")), http.StatusOK, "You are signed in")
	status, tok := s.poll(done)
	if status != http.StatusOK || tok == "" {
		t.Fatalf("the CLI's poll after continuing: %d %q", status, tok)
	}
	if status, b := s.api("GET", "/-/whoami", tok, nil); status != http.StatusOK || !strings.Contains(string(b), `"alice"`) {
		t.Fatalf("whoami with the CLI's session: %d %s", status, b)
	}
	wantIn(t, "continue again", alice.post(loginPath, continueForm(t, p, "")), http.StatusOK, "Return to your terminal")
	if status, _ := s.poll(done); status != http.StatusNotFound {
		t.Fatalf("the CLI's poll after the hand-over: %d, want 404", status)
	}

	// Started from another address (a link someone sent): no Continue, a
	// warning, and continuing anyway is refused.
	elsewhere, done2 := s.webLogin("198.51.100.9")
	p = alice.get(elsewhere)
	wantIn(t, "a login started elsewhere", p, http.StatusOK, `id="started-elsewhere"`, "<code>198.51.100.9</code>", `name="password"`)
	wantNotIn(t, "a login started elsewhere", p, "Continue as")
	wantIn(t, "continue a login started elsewhere", alice.post(elsewhere, continueForm(t, p, "")), http.StatusForbidden,
		"started from another address")
	if status, _ := s.poll(done2); status != http.StatusAccepted {
		t.Fatalf("the CLI's poll after a refused continue: %d, want 202", status)
	}

	// bob has 2FA: his one-time password goes with the click.
	secret := s.enable2FASecret(bobTok, "bob", "auth-only")
	bob := s.browser()
	step := totp.Step(time.Now())
	if p := bob.signIn("bob", totp.Code(secret, step)); p.status != http.StatusSeeOther {
		t.Fatalf("bob signs in: %d %s", p.status, p.body)
	}
	loginPath, done = s.webLogin("")
	p = bob.get(loginPath)
	wantIn(t, "the page for bob with 2FA", p, http.StatusOK, `id="continue-otp" name="otp"`, "Continue as bob")
	wantIn(t, "continue without the OTP", bob.post(loginPath, continueForm(t, p, "")), http.StatusUnauthorized,
		"one-time password", `id="continue-otp"`)
	wantIn(t, "continue with a wrong OTP", bob.post(loginPath, continueForm(t, p, "000000")), http.StatusUnauthorized)
	if status, _ := s.poll(done); status != http.StatusAccepted {
		t.Fatalf("the CLI's poll before the OTP: %d, want 202", status)
	}
	wantIn(t, "continue with the OTP", bob.post(loginPath, continueForm(t, p, totp.Code(secret, step+1))), http.StatusOK,
		"You are signed in")
	if status, tok := s.poll(done); status != http.StatusOK || tok == "" {
		t.Fatalf("the CLI's poll after bob continued: %d", status)
	}
}
