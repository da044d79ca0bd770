package web_test

import (
	"encoding/base32"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/server/servertest"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
	"github.com/gatehouse-registry/gatehouse/internal/totp"
)

// site is a whole gatehouse (website and npm API) on a loopback port.
type site struct {
	t   *testing.T
	url string
}

func newSite(t *testing.T) *site {
	t.Helper()
	cfg := servertest.Config(t)
	cfg.MaxBodySize = 4 << 20
	_, url := servertest.Start(t, cfg)
	return &site{t: t, url: url}
}

// api calls the npm API as the npm CLI would: JSON, and a bearer token.
func (s *site) api(method, path, tok string, body any) (int, []byte) {
	s.t.Helper()
	res := testkit.Do(s.t, method, s.url+path, tok, body)
	return res.Status, res.Body
}

// apiUser creates an account through the npm API and returns its token; the
// password is "password-" + name.
func (s *site) apiUser(name string) string {
	s.t.Helper()
	status, b := s.api("PUT", "/-/user/org.couchdb.user:"+name, "", map[string]string{
		"name": name, "password": "password-" + name, "email": name + "@example.com"})
	var out struct{ Token string }
	if status != http.StatusCreated || json.Unmarshal(b, &out) != nil || out.Token == "" {
		s.t.Fatalf("create user %s: %d %s", name, status, b)
	}
	return out.Token
}

// publish publishes name@version with readme, as npm publish does.
func (s *site) publish(tok, name, version, readme string) {
	s.t.Helper()
	if status, b := s.tryPublish(tok, name, version, readme, nil); status != http.StatusCreated {
		s.t.Fatalf("publish %s@%s: %d %s", name, version, status, b)
	}
}

// tryPublish sends what npm publish sends for name@version, with more of
// the version document (dependencies, say) in extra, and returns the answer.
func (s *site) tryPublish(tok, name, version, readme string, extra map[string]any) (int, []byte) {
	s.t.Helper()
	pkgJSON := fmt.Sprintf(`{"name":%q,"version":%q,"description":"the %s package"}`, name, version, name)
	doc := map[string]any{"description": "the " + name + " package", "readme": readme, "license": "MIT", "keywords": []string{"pages"}}
	for k, v := range extra {
		doc[k] = v
	}
	body := testkit.PublishBody(map[string]any{"versions": map[string]any{version: doc}}, name, version,
		testkit.PackageTarball(s.t, pkgJSON))
	return s.api("PUT", "/"+strings.Replace(name, "/", "%2f", 1), tok, body)
}

// deprecate sets a version's deprecation message, as npm deprecate does.
func (s *site) deprecate(tok, name, version, message string) {
	s.t.Helper()
	status, b := s.api("GET", "/"+name, tok, nil)
	var doc map[string]any
	if status != http.StatusOK || json.Unmarshal(b, &doc) != nil {
		s.t.Fatalf("packument of %s: %d %s", name, status, b)
	}
	doc["versions"].(map[string]any)[version].(map[string]any)["deprecated"] = message
	if status, b := s.api("PUT", "/"+name, tok, doc); status != http.StatusOK && status != http.StatusCreated {
		s.t.Fatalf("deprecate %s@%s: %d %s", name, version, status, b)
	}
}

// browser is one person's web browser: its own cookies, HTML accepted,
// redirects left to the test to follow.
type browser struct {
	t    *testing.T
	site *site
	c    *http.Client
}

// page is a response as a browser gets it.
type page struct {
	status   int
	location string
	body     string
}

func (s *site) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		s.t.Fatal(err)
	}
	return &browser{t: s.t, site: s, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return page{status: res.StatusCode, location: res.Header.Get("Location"), body: string(body)}
}

func (b *browser) get(path string) page {
	b.t.Helper()
	req, err := http.NewRequest("GET", b.site.url+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// submit loads the form's page, as a person would, and posts the form with
// the CSRF field that page carries.
func (b *browser) submit(pagePath, action string, form url.Values) page {
	b.t.Helper()
	p := b.get(pagePath)
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(p.body)
	if m == nil {
		b.t.Fatalf("no CSRF field on %s (%d): %s", pagePath, p.status, p.body)
	}
	form.Set("csrf", m[1])
	return b.post(action, form)
}

// post sends a form as it is (no CSRF field added).
func (b *browser) post(action string, form url.Values) page {
	b.t.Helper()
	req, err := http.NewRequest("POST", b.site.url+action, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// signUp creates an account on the sign-up page, signed in.
func (b *browser) signUp(name string) {
	b.t.Helper()
	p := b.submit("/signup", "/signup", url.Values{"username": {name}, "email": {name + "@example.com"},
		"password": {"password-" + name}})
	if p.status != http.StatusSeeOther {
		b.t.Fatalf("sign up %s: %d %s", name, p.status, p.body)
	}
}

// signIn signs in on the sign-in page; otp may be "".
func (b *browser) signIn(name, otp string) page {
	b.t.Helper()
	f := url.Values{"username": {name}, "password": {"password-" + name}}
	if otp != "" {
		f.Set("otp", otp)
	}
	return b.submit("/login", "/login", f)
}

// wantIn fails t unless the page has the status and holds every one of parts.
func wantIn(t *testing.T, what string, p page, status int, parts ...string) {
	t.Helper()
	if p.status != status {
		t.Fatalf("%s: status %d, want %d\n%s", what, p.status, status, p.body)
	}
	for _, s := range parts {
		if !strings.Contains(p.body, s) {
			t.Fatalf("%s: page lacks %q\n%s", what, s, p.body)
		}
	}
}

// wantNotIn fails t when the page holds any of parts but "".
func wantNotIn(t *testing.T, what string, p page, parts ...string) {
	t.Helper()
	for _, s := range parts {
		if s != "" && strings.Contains(p.body, s) {
			t.Fatalf("%s: page has %q\n%s", what, s, p.body)
		}
	}
}

var (
	secretOnPage = regexp.MustCompile(`id="tfa-secret" class="secret">([A-Z2-7 ]+)</code>`)
	codeOnPage   = regexp.MustCompile(`<li><code>([0-9a-f]{20})</code></li>`)
)

func TestTwoFactorPages(t *testing.T) {
	s := newSite(t)
	if p := s.browser().get("/settings/alice/2fa"); p.status != http.StatusSeeOther ||
		!strings.HasPrefix(p.location, "/login?next=") {
		t.Fatalf("signed out: %d %q", p.status, p.location)
	}
	alice := s.browser()
	alice.signUp("alice")
	bob := s.browser()
	bob.signUp("bob")
	for _, path := range []string{"/settings/alice/2fa", "/settings/alice/profile", "/settings/alice/orgs"} {
		wantIn(t, "someone else's "+path, bob.get(path), http.StatusNotFound)
	}

	profile := alice.get("/settings/alice/profile")
	wantIn(t, "profile", profile, http.StatusOK, "alice@example.com", `<label for="email">Email</label>`,
		`<label for="current-password">Current password</label>`, `<label for="new-password">New password</label>`,
		`href="/settings/alice/2fa"`)
	wantNotIn(t, "profile without 2FA", profile, "One-time password")

	const tfa = "/settings/alice/2fa"
	wantIn(t, "2FA off", alice.get(tfa), http.StatusOK, "Enable two-factor authentication",
		`<label for="password">Password</label>`, "Authorization only", "Authorization and writes")
	p := alice.submit(tfa, tfa+"/enable", url.Values{"mode": {"auth-only"}, "password": {"wrong password"}})
	wantIn(t, "wrong password", p, http.StatusUnauthorized, "Incorrect password",
		`value="auth-only" required checked`)
	p = alice.submit(tfa, tfa+"/enable", url.Values{"mode": {"auth-only"}, "password": {"password-alice"}})
	wantIn(t, "setup", p, http.StatusOK, "<svg", `<path fill="#000" d="M`, `<label for="otp">One-time password</label>`,
		`name="otpauth" value="otpauth://totp/`)
	m := secretOnPage.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no secret on the setup page: %s", p.body)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(m[1], " ", ""))
	if err != nil {
		t.Fatalf("secret %q: %v", m[1], err)
	}
	step := totp.Step(time.Now())
	code := func(offset int64) string { return totp.Code(secret, step+offset) }
	wrong := ""
	for d := 0; wrong == ""; d++ {
		c := strings.Repeat(fmt.Sprint(d), totp.Digits)
		if c != code(-1) && c != code(0) && c != code(1) && c != code(2) {
			wrong = c
		}
	}

	// A wrong code keeps the QR code on the page to try again.
	confirm := func(otp string, setupPage page) page {
		f := url.Values{"otp": {otp}}
		f.Set("otpauth", html.UnescapeString(regexp.MustCompile(`name="otpauth" value="([^"]+)"`).FindStringSubmatch(setupPage.body)[1]))
		return alice.submit(tfa, tfa+"/confirm", f)
	}
	p = confirm(wrong, p)
	wantIn(t, "wrong confirmation code", p, http.StatusUnauthorized, "This operation requires a one-time password.",
		"<svg", m[0])
	p = confirm(code(0), p)
	wantIn(t, "confirmed", p, http.StatusOK, "Save your recovery codes", "Authorization only")
	var codes []string
	for _, c := range codeOnPage.FindAllStringSubmatch(p.body, -1) {
		codes = append(codes, c[1])
	}
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes on the page: %s", len(codes), p.body)
	}

	// The codes are shown once: never again on any page.
	on := alice.get(tfa)
	wantIn(t, "2FA on", on, http.StatusOK, `<strong id="tfa-mode">Authorization only</strong>`,
		"Disable two-factor authentication", `<label for="mode-otp">One-time password</label>`)
	wantNotIn(t, "2FA on", on, codes...)
	profile = alice.get("/settings/alice/profile")
	wantIn(t, "profile with 2FA", profile, http.StatusOK, "On: Authorization only",
		`<label for="email-otp">One-time password</label>`, `<label for="password-otp">One-time password</label>`)
	wantNotIn(t, "profile with 2FA", profile, codes...)

	// Profile changes now need a one-time password; what was typed stays.
	const prof = "/settings/alice/profile"
	p = alice.submit(prof, prof+"/email", url.Values{"email": {"alice@example.org"}})
	wantIn(t, "email without OTP", p, http.StatusUnauthorized, "This operation requires a one-time password.",
		`value="alice@example.org"`)
	p = alice.submit(prof, prof+"/email", url.Values{"email": {"alice@example.org"}, "otp": {codes[0]}})
	wantIn(t, "email with a recovery code", p, http.StatusOK, "Your email is now alice@example.org.")
	p = alice.submit(prof, prof+"/email", url.Values{"email": {"alice@example.net"}, "otp": {codes[0]}})
	wantIn(t, "a recovery code is used once", p, http.StatusUnauthorized, "This operation requires a one-time password.")
	p = alice.submit(prof, prof+"/password", url.Values{"current_password": {"password-alice"}, "new_password": {"short"}})
	wantIn(t, "short password", p, http.StatusBadRequest, "Use a password of at least 10 characters")

	// Signing in now asks for a one-time password.
	if p := alice.submit(prof, "/logout", url.Values{}); p.status != http.StatusSeeOther {
		t.Fatalf("sign out: %d", p.status)
	}
	p = alice.signIn("alice", "")
	wantIn(t, "sign in without OTP", p, http.StatusUnauthorized, `<label for="otp">One-time password</label>`)
	if p := alice.signIn("alice", code(1)); p.status != http.StatusSeeOther {
		t.Fatalf("sign in with OTP: %d %s", p.status, p.body)
	}

	// Mode change and disable, each with the password and an OTP.
	p = alice.submit(tfa, tfa+"/mode", url.Values{"mode": {"auth-and-writes"}, "password": {"password-alice"}})
	wantIn(t, "mode without OTP", p, http.StatusUnauthorized, "This operation requires a one-time password.",
		`value="auth-and-writes" checked`)
	p = alice.submit(tfa, tfa+"/mode", url.Values{"mode": {"auth-and-writes"}, "password": {"password-alice"},
		"otp": {codes[1]}})
	wantIn(t, "mode changed", p, http.StatusOK, `<strong id="tfa-mode">Authorization and writes</strong>`)
	p = alice.submit(tfa, tfa+"/disable", url.Values{"password": {"password-alice"}, "otp": {codes[2]}})
	wantIn(t, "disabled", p, http.StatusOK, "Two-factor authentication is off.", "Enable two-factor authentication")
	if p := alice.submit(prof, "/logout", url.Values{}); p.status != http.StatusSeeOther {
		t.Fatalf("sign out: %d", p.status)
	}
	if p := alice.signIn("alice", ""); p.status != http.StatusSeeOther {
		t.Fatalf("sign in after disabling: %d %s", p.status, p.body)
	}

	// Every form checks its CSRF field.
	wantIn(t, "no CSRF field", alice.post(tfa+"/enable", url.Values{"mode": {"auth-only"}, "password": {"password-alice"}}),
		http.StatusForbidden, "The form expired")
}

func TestPackagePages(t *testing.T) {
	s := newSite(t)
	aliceTok := s.apiUser("alice")
	s.apiUser("bob")
	readme := "# Demo heading\n\nSome **bold** text.\n\n<script>alert('xss')</script>\n\n" +
		`<img src="x.png" onerror="alert('img')">` + "\n\n[click](javascript:alert('link'))\n"
	s.publish(aliceTok, "demo", "1.0.0", readme)
	s.publish(aliceTok, "demo", "1.1.0", readme)
	s.deprecate(aliceTok, "demo", "1.0.0", "use 1.1.0")
	s.publish(aliceTok, "@alice/secret", "1.0.0", "# Secret")

	anon := s.browser()
	p := anon.get("/package/demo")
	wantIn(t, "package page", p, http.StatusOK, "<h1>Demo heading</h1>", "<strong>bold</strong>",
		"npm install demo", "1.1.0", "1.0.0", "Deprecated: use 1.1.0", "<td>latest</td><td>1.1.0</td>", "MIT", " UTC</time>")
	wantNotIn(t, "package page", p, "alert(", "onerror", "javascript:")
	if versions := p.body[strings.Index(p.body, `id="versions"`):]; strings.Index(versions, "<td>1.1.0") > strings.Index(versions, "<td>1.0.0") {
		t.Fatal("versions are not newest first")
	}
	wantNotIn(t, "latest not deprecated", p, "<strong>Deprecated:</strong>")
	s.deprecate(aliceTok, "demo", "1.1.0", "no longer maintained")
	wantIn(t, "latest deprecated", anon.get("/package/demo"), http.StatusOK,
		"<strong>Deprecated:</strong> no longer maintained")

	// A private package is a missing page to all but those who may read it.
	bob := s.browser()
	if p := bob.signIn("bob", ""); p.status != http.StatusSeeOther {
		t.Fatalf("bob signs in: %d", p.status)
	}
	alice := s.browser()
	if p := alice.signIn("alice", ""); p.status != http.StatusSeeOther {
		t.Fatalf("alice signs in: %d", p.status)
	}
	missing := anon.get("/package/nothing-here")
	wantIn(t, "no such package", missing, http.StatusNotFound, "There is no package named nothing-here here.")
	for who, b := range map[string]*browser{"anonymous": anon, "bob": bob} {
		p := b.get("/package/@alice/secret")
		wantIn(t, who+" on a private package", p, http.StatusNotFound, "There is no package named @alice/secret here.")
		wantNotIn(t, who+" on a private package", p, "npm install")
		wantNotIn(t, who+" searching", b.get("/search?q=secret"), "@alice/secret")
		wantNotIn(t, who+" listing", b.get("/search"), "@alice/secret")
	}
	wantIn(t, "owner on a private package", alice.get("/package/@alice/secret"), http.StatusOK,
		"npm install @alice/secret", `<span class="badge">private</span>`, "<h1>Secret</h1>")
	wantIn(t, "owner searching", alice.get("/search?q=secret"), http.StatusOK, `href="/package/@alice/secret"`)

	p = anon.get("/search?q=demo")
	wantIn(t, "search", p, http.StatusOK, `<label for="search-q">Search</label>`, `href="/package/demo"`,
		"the demo package", ">1.1.0<")
	wantIn(t, "search without a match", anon.get("/search?q=zzzz"), http.StatusOK, "No package you can see matches")
}

func TestOrganizationPages(t *testing.T) {
	s := newSite(t)
	aliceTok := s.apiUser("alice")
	s.apiUser("bob")
	s.apiUser("carol")
	alice, bob, carol := s.browser(), s.browser(), s.browser()
	for name, b := range map[string]*browser{"alice": alice, "bob": bob, "carol": carol} {
		if p := b.signIn(name, ""); p.status != http.StatusSeeOther {
			t.Fatalf("%s signs in: %d", name, p.status)
		}
	}
	if p := alice.get("/orgs"); p.location != "/settings/alice/orgs" {
		t.Fatalf("/orgs goes to %q", p.location)
	}
	const orgs = "/settings/alice/orgs"
	wantIn(t, "no organizations", alice.get(orgs), http.StatusOK, "You are not in any organization yet.",
		`<label for="org-name">Organization name</label>`, "Create organization")
	p := alice.submit(orgs, orgs, url.Values{"name": {"Bad Name"}})
	wantIn(t, "bad name", p, http.StatusBadRequest, "Invalid organization name", `value="Bad Name"`)
	p = alice.submit(orgs, orgs, url.Values{"name": {"acme"}})
	if p.status != http.StatusSeeOther || p.location != "/org/acme?done=created" {
		t.Fatalf("create: %d %q %s", p.status, p.location, p.body)
	}
	wantIn(t, "created", alice.get(p.location), http.StatusOK, "Organization created",
		"<td>alice</td><td>owner</td>", `<h3 id="team-developers">developers</h3>`,
		`<label for="member-username">Username</label>`, `<label for="member-role">Role</label>`,
		`<label for="team-name">Team name</label>`)
	wantIn(t, "listed", alice.get(orgs), http.StatusOK, `<a href="/org/acme">acme</a></td><td>owner</td>`)
	wantIn(t, "taken", alice.submit(orgs, orgs, url.Values{"name": {"acme"}}), http.StatusConflict,
		"Organization acme already exists")

	const org = "/org/acme"
	if p := alice.submit(org, org+"/members", url.Values{"username": {"bob"}, "role": {"developer"}}); p.status != http.StatusSeeOther {
		t.Fatalf("add bob: %d %s", p.status, p.body)
	}
	p = alice.submit(org, org+"/members", url.Values{"username": {"nobody"}, "role": {"admin"}})
	wantIn(t, "unknown user", p, http.StatusNotFound, "nobody", `value="nobody"`, `<option value="admin" selected>`)
	if p := alice.submit(org, org+"/teams", url.Values{"team": {"readers"}, "description": {"read only"}}); p.status != http.StatusSeeOther {
		t.Fatalf("create team: %d %s", p.status, p.body)
	}
	if p := alice.submit(org, org+"/teams/readers/members", url.Values{"username": {"bob"}}); p.status != http.StatusSeeOther {
		t.Fatalf("add bob to readers: %d %s", p.status, p.body)
	}
	s.publish(aliceTok, "@acme/lib", "1.0.0", "# lib")
	p = alice.get(org + "?done=team-member")
	wantIn(t, "org page", p, http.StatusOK, "Added to the team.", "<td>bob</td><td>developer</td>",
		`<h3 id="team-readers">readers</h3>`, "<strong>Members:</strong> bob</p>",
		`<a href="/package/@acme/lib">@acme/lib</a></td><td>read-write</td>`)

	// A developer sees the organization but cannot change it; others see nothing.
	p = bob.get(org)
	wantIn(t, "developer's view", p, http.StatusOK, "<td>alice</td><td>owner</td>", "You are a developer")
	wantNotIn(t, "developer's view", p, "Save member", "Create team")
	wantIn(t, "developer creates a team", bob.submit(org, org+"/teams", url.Values{"team": {"x"}}),
		http.StatusForbidden, "Only owners and admins of acme can manage its teams")
	wantIn(t, "bob's organizations", bob.get("/settings/bob/orgs"), http.StatusOK,
		`<a href="/org/acme">acme</a></td><td>developer</td>`)
	wantIn(t, "non-member", carol.get(org), http.StatusNotFound)
	wantIn(t, "non-member posts", carol.submit("/settings/carol/orgs", org+"/members",
		url.Values{"username": {"carol"}, "role": {"owner"}}), http.StatusNotFound)
	anon := s.browser()
	if p := anon.get(org); p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/login?next=") {
		t.Fatalf("signed out: %d %q", p.status, p.location)
	}
	if p := anon.submit("/login", org+"/members", url.Values{"username": {"carol"}}); p.status != http.StatusSeeOther ||
		p.location != "/login" {
		t.Fatalf("form posted signed out: %d %q", p.status, p.location)
	}
}
