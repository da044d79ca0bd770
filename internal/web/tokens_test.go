package web_test

import (
	"encoding/base32"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/totp"
)

// The Access Tokens pages, driven as a browser without JavaScript would:
// forms posted with their CSRF field, redirects followed by hand.

// tokSite is the pages tests' site (pages_test.go), with the API's answer as text.
type tokSite struct {
	*site
}

func newTokSite(t *testing.T) *tokSite { return &tokSite{newSite(t)} }

// api calls the npm API with a bearer token (none when tok is "").
func (s *tokSite) api(method, path, tok string, body any) (int, string) {
	s.t.Helper()
	status, b := s.site.api(method, path, tok, body)
	return status, string(b)
}

// apiLogin logs an existing user in as npm login does and returns the session token.
func (s *tokSite) apiLogin(name string) string {
	s.t.Helper()
	status, b := s.api("PUT", "/-/user/org.couchdb.user:"+name, "", map[string]string{"name": name, "password": tokPassword(name)})
	var out struct{ Token string }
	if status != http.StatusCreated || json.Unmarshal([]byte(b), &out) != nil || out.Token == "" {
		s.t.Fatalf("npm login %s: %d %s", name, status, b)
	}
	return out.Token
}

// whoami reports the status of GET /-/whoami with tok.
func (s *tokSite) whoami(tok string) (int, string) {
	s.t.Helper()
	return s.api("GET", "/-/whoami", tok, nil)
}

func tokPassword(name string) string { return "password of " + name }

// tokBrowser is the pages tests' browser (pages_test.go), whose forms also
// send back their one-time value, and whose people have tokPassword.
type tokBrowser struct {
	*browser
}

func (s *tokSite) browser() *tokBrowser { return &tokBrowser{s.site.browser()} }

var tokCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrfOf returns the CSRF field of a page.
func (b *tokBrowser) csrfOf(p page) string {
	b.t.Helper()
	m := tokCSRF.FindStringSubmatch(p.body)
	if m == nil {
		b.t.Fatalf("no CSRF field on the page (%d): %s", p.status, p.body)
	}
	return m[1]
}

// submit loads pagePath, as a person would, and posts form to action with
// the page's CSRF field.
func (b *tokBrowser) submit(pagePath, action string, form url.Values) page {
	b.t.Helper()
	shown := b.get(pagePath)
	form.Set("csrf", b.csrfOf(shown))
	// The page's one-time form value goes back too, as a browser sends every hidden field.
	if m := tokOnce.FindStringSubmatch(shown.body); m != nil && form.Get("once") == "" {
		form.Set("once", m[1])
	}
	return b.post(action, form)
}

// tokOnce finds a form's one-time value.
var tokOnce = regexp.MustCompile(`name="once" value="([^"]+)"`)

func (b *tokBrowser) signUp(name string) {
	b.t.Helper()
	p := b.submit("/signup", "/signup", url.Values{"username": {name}, "email": {name + "@example.com"},
		"password": {tokPassword(name)}})
	if p.status != http.StatusSeeOther || p.location != "/settings/"+name+"/tokens" {
		b.t.Fatalf("sign up %s: %d %q %s", name, p.status, p.location, p.body)
	}
}

func (b *tokBrowser) signIn(name string) {
	b.t.Helper()
	p := b.submit("/login", "/login", url.Values{"username": {name}, "password": {tokPassword(name)}})
	if p.status != http.StatusSeeOther {
		b.t.Fatalf("sign in %s: %d %s", name, p.status, p.body)
	}
}

var (
	wholeTokenRE = regexp.MustCompile(`npm_[A-Za-z0-9]{36}`)
	controlRE    = regexp.MustCompile(`<(input|select|textarea)\b[^>]*>`)
	idRE         = regexp.MustCompile(`\bid="([^"]+)"`)
	hiddenRE     = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
	deleteLinkRE = regexp.MustCompile(`href="(/settings/[^/"]+/tokens/[0-9a-f-]{36}/delete)"`)
	revokeFormRE = regexp.MustCompile(`action="(/settings/[^/"]+/tokens/sessions/[0-9a-f-]{36}/revoke)"`)
)

// labelled checks that every visible control of the page has a <label for>.
func labelled(t *testing.T, what string, p page) {
	t.Helper()
	for _, tag := range controlRE.FindAllString(p.body, -1) {
		if strings.Contains(tag, `type="hidden"`) {
			continue
		}
		m := idRE.FindStringSubmatch(tag)
		if m == nil {
			t.Fatalf("%s: a control without an id: %s", what, tag)
		}
		if !strings.Contains(p.body, `<label for="`+m[1]+`"`) && !strings.Contains(p.body, `for="`+m[1]+`">`) {
			t.Fatalf("%s: no <label for=%q>", what, m[1])
		}
	}
}

// hiddenFields reads a page's hidden fields, as the browser would send them.
func hiddenFields(p page) url.Values {
	f := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(p.body, -1) {
		f.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return f
}

func masked(tok string) string { return tok[:8] + "..." + tok[len(tok)-4:] }

// granularForm is a filled-in granular token form.
func granularForm(name string, days int, perm string, cidr ...string) url.Values {
	return url.Values{"name": {name}, "description": {"deploys from CI"}, "expires": {"custom"},
		"expiry_date": {time.Now().UTC().AddDate(0, 0, days).Format("2006-01-02")}, "cidr": cidr,
		"packages_and_scopes_permission": {perm}, "select_packages": {"all"}, "orgs_permission": {"no-access"},
		"step": {"review"}}
}

func TestAccessTokenPages(t *testing.T) {
	s := newTokSite(t)
	const list = "/settings/tina/tokens"
	const classic = list + "/new/classic"
	const granular = list + "/new/granular"

	// Signed out: to the sign-in page, and back here afterwards.
	if p := s.browser().get(list); p.status != http.StatusSeeOther || p.location != "/login?next="+url.QueryEscape(list) {
		t.Fatalf("signed out: %d %q", p.status, p.location)
	}
	tina := s.browser()
	tina.signUp("tina")
	uma := s.browser()
	uma.signUp("uma")
	// Sign out and in again through the forms.
	if p := uma.post("/logout", url.Values{"csrf": {uma.csrfOf(uma.get("/"))}}); p.status != http.StatusSeeOther {
		t.Fatalf("sign out: %d %s", p.status, p.body)
	}
	uma.signIn("uma")

	// Nobody sees another person's tokens.
	for _, path := range []string{list, classic, granular} {
		wantIn(t, "uma at "+path, uma.get(path), http.StatusNotFound)
	}

	empty := tina.get(list)
	wantIn(t, "empty list", empty, http.StatusOK, "<h1>Access Tokens</h1>", "Generate New Token",
		`href="`+granular+`">Granular Access Token</a>`, `href="`+classic+`">Classic Token</a>`, "<h2>Sessions</h2>",
		"(this browser)", ">Revoke</button>")

	// A classic read-only token: the seed's choices and explanations, and the password.
	form := tina.get(classic)
	wantIn(t, "classic form", form, http.StatusOK, `<label for="token-name">Name</label>`,
		`<strong>Read-only</strong>`, `<strong>Automation</strong>`, `<strong>Publish</strong>`,
		"A read-only token can only be used to download packages from the registry.",
		"An automation token can download packages and publish new ones",
		"A publish token can perform any action on your behalf",
		`<label for="password">Password</label>`, ">Generate Token</button>")
	wantNotIn(t, "classic form without 2FA", form, "One-time password")
	labelled(t, "classic form", form)
	p := tina.submit(classic, classic, url.Values{"name": {"laptop"}, "type": {"read-only"}, "password": {"wrong password"}})
	wantIn(t, "classic, wrong password", p, http.StatusUnauthorized, "Incorrect password", `value="laptop"`,
		`value="read-only" required checked`)
	created := tina.submit(classic, classic, url.Values{"name": {"laptop"}, "type": {"read-only"}, "password": {tokPassword("tina")}})
	wantIn(t, "classic created", created, http.StatusCreated, "<h1>Access Tokens</h1>", `data-copy="#new-token"`, ">Copy</button>")
	readOnly := wholeTokenRE.FindString(created.body)
	if readOnly == "" {
		t.Fatalf("no token on the page: %s", created.body)
	}
	if status, b := s.whoami(readOnly); status != http.StatusOK || !strings.Contains(b, `"tina"`) {
		t.Fatalf("whoami with the new token: %d %s", status, b)
	}
	if status, b := s.api("GET", "/-/npm/v1/tokens", readOnly, nil); status != http.StatusForbidden {
		t.Fatalf("a read-only token lists tokens: %d %s", status, b)
	}

	// Granular: the form, with every control labelled.
	form = tina.get(granular)
	wantIn(t, "granular form", form, http.StatusOK, `<label for="token-name">Token name</label>`,
		`<label for="token-description">Description</label>`, `<label for="token-expires">Expiration</label>`,
		">7 days<", ">30 days<", ">60 days<", ">90 days<", ">Custom...<", `type="date"`,
		"<legend>Allowed IP ranges</legend>", ">Add IP Range</button>", "<legend>Packages and scopes</legend>",
		`<label for="pkg-perm">Permissions</label>`, ">No access<", ">Read-only<", ">Read and write<",
		"All packages", "Only select packages and scopes", `list="pkg-suggestions"`, `<option value="@tina">`,
		"<legend>Organizations</legend>", `<label for="org-perm">Permissions</label>`,
		"Bypass two-factor authentication", ">Generate Token</button>")
	labelled(t, "granular form", form)

	// "Add IP Range" without JavaScript: the same form, one more input, nothing lost.
	f := granularForm("deploy", 30, "read-write", "10.0.0.0/8")
	f.Set("step", "add-ip")
	p = tina.submit(granular, granular, f)
	wantIn(t, "add IP range", p, http.StatusOK, `id="cidr-0" name="cidr" value="10.0.0.0/8"`,
		`id="cidr-1" name="cidr" value=""`, `value="deploy"`, "deploys from CI")
	labelled(t, "form with two IP inputs", p)
	f["cidr"] = []string{"10.0.0.0/8", ""}
	wantIn(t, "add a third IP range", tina.submit(granular, granular, f), http.StatusOK, `id="cidr-2" name="cidr" value=""`)

	// Errors keep what was typed and say what is wrong, as the API does.
	apiTok := s.apiLogin("tina")
	apiError := func(body map[string]any) string {
		t.Helper()
		body["password"] = tokPassword("tina")
		status, b := s.api("POST", "/-/npm/v1/tokens", apiTok, body)
		var e struct{ Error string }
		if status != http.StatusBadRequest || json.Unmarshal([]byte(b), &e) != nil {
			t.Fatalf("API: %d %s", status, b)
		}
		return e.Error
	}
	f = granularForm("keep-me", 30, "read-only", "10.0.0.0/8", "10.0.0.0/33")
	p = tina.submit(granular, granular, f)
	msg := apiError(map[string]any{"name": "keep-me", "packages_all": true, "cidr_whitelist": []string{"10.0.0.0/8", "10.0.0.0/33"}})
	wantIn(t, "bad CIDR", p, http.StatusBadRequest, "CIDR whitelist contains invalid CIDR entry: 10.0.0.0/33",
		html.EscapeString(msg), `value="keep-me"`, `value="10.0.0.0/33"`, `value="10.0.0.0/8"`)
	wantNotIn(t, "bad CIDR", p, "Review the new token")

	f = granularForm("too-long", 120, "read-write")
	p = tina.submit(granular, granular, f)
	msg = apiError(map[string]any{"name": "too-long", "packages_all": true, "packages_and_scopes_permission": "read-write",
		"expires": 120})
	wantIn(t, "write token for 120 days", p, http.StatusBadRequest,
		"Read-write tokens cannot have expiration longer than 90 days", msg, `value="too-long"`,
		`value="`+f.Get("expiry_date")+`"`, `<option value="custom" selected>`, `<option value="read-write" selected>`)

	f = granularForm("", 30, "read-only")
	p = tina.submit(granular, granular, f)
	wantIn(t, "no name", p, http.StatusBadRequest, "Token name is required", apiError(map[string]any{"name": ""}),
		"deploys from CI")

	f = granularForm("many", 30, "read-only")
	f.Set("select_packages", "selected")
	var many []string
	for i := 1; i <= 51; i++ {
		many = append(many, fmt.Sprintf("pkg-%02d", i))
	}
	f.Set("selected", strings.Join(many, "\n"))
	p = tina.submit(granular, granular, f)
	wantIn(t, "51 packages", p, http.StatusBadRequest, "A token can select at most 50 packages and scopes",
		apiError(map[string]any{"name": "many", "packages": many}), "pkg-01\npkg-02", "pkg-51",
		`value="selected" checked`)

	f = granularForm("yesterday", -1, "read-only")
	p = tina.submit(granular, granular, f)
	wantIn(t, "a date in the past", p, http.StatusBadRequest, "Expiration must be at least 1 day in the future")

	// The picker adds to the selection without JavaScript.
	f = granularForm("picked", 30, "read-only")
	f.Set("pick", "@tina")
	f.Set("step", "add-package")
	p = tina.submit(granular, granular, f)
	wantIn(t, "pick a scope", p, http.StatusOK, ">@tina</textarea>", `value="selected" checked`)

	// The review: every choice, in hidden fields too, and the password.
	f = granularForm("deploy", 30, "read-write", "10.0.0.0/8", "192.168.1.0/24")
	review := tina.submit(granular, granular, f)
	wantIn(t, "review", review, http.StatusOK, "Review the new token", "<dd>deploy</dd>", "<dd>deploys from CI</dd>",
		"Custom: expires on "+f.Get("expiry_date"), "10.0.0.0/8, 192.168.1.0/24", "Read and write on all packages",
		`<label for="password">Password</label>`, `name="step" value="create"`)
	labelled(t, "review", review)
	wantNotIn(t, "review", review, "One-time password")
	hidden := hiddenFields(review)
	if got := hidden["cidr"]; len(got) != 2 || hidden.Get("expiry_date") != f.Get("expiry_date") ||
		hidden.Get("packages_and_scopes_permission") != "read-write" || hidden.Get("name") != "deploy" {
		t.Fatalf("the review's hidden fields: %v", hidden)
	}
	// "Edit" goes back to the form with everything kept.
	edit := url.Values{}
	for k, v := range hidden {
		edit[k] = v
	}
	edit.Set("step", "edit")
	wantIn(t, "edit", tina.post(granular, edit), http.StatusOK, `value="192.168.1.0/24"`,
		`<option value="read-write" selected>`)
	// A wrong password keeps the review.
	hidden.Set("step", "create")
	hidden.Set("password", "not my password")
	p = tina.post(granular, hidden)
	wantIn(t, "review, wrong password", p, http.StatusUnauthorized, "Incorrect password", "Review the new token",
		`name="cidr" value="192.168.1.0/24"`)
	if wholeTokenRE.MatchString(p.body) {
		t.Fatalf("a token on a failed page: %s", p.body)
	}
	hidden.Set("password", tokPassword("tina"))
	created = tina.post(granular, hidden)
	wantIn(t, "granular created", created, http.StatusCreated, `data-copy="#new-token"`, "deploy")
	deploy := wholeTokenRE.FindString(created.body)
	if deploy == "" || deploy == readOnly {
		t.Fatalf("no new token on the page: %s", created.body)
	}
	// Reloading that page resends the form: nothing is created a second time.
	again := tina.post(granular, hidden)
	wantIn(t, "granular resent", again, http.StatusConflict, "already submitted")
	if wholeTokenRE.MatchString(again.body) {
		t.Fatalf("a resent form shows a token")
	}
	// The token only works from its IP ranges, and the test comes from 127.0.0.1.
	if status, b := s.whoami(deploy); status != http.StatusUnauthorized || !strings.Contains(b, "Login is not allowed from your IP address") {
		t.Fatalf("whoami from outside the ranges: %d %s", status, b)
	}

	// The list shows the tokens masked, never whole, on every later page.
	after := tina.get(list)
	wantIn(t, "list", after, http.StatusOK, masked(readOnly), masked(deploy), "laptop", "Classic: Read-only",
		"Granular", "10.0.0.0/8, 192.168.1.0/24", "read-write on all packages", "read packages", "never",
		f.Get("expiry_date"))
	for _, pg := range []page{after, review, form, tina.get(classic)} {
		wantNotIn(t, "a later page", pg, readOnly, deploy)
	}
	if wholeTokenRE.MatchString(after.body) {
		t.Fatalf("a whole token in the list: %s", after.body)
	}

	// Deleting: a confirmation page, then the list without the token.
	var del string
	for _, m := range deleteLinkRE.FindAllStringSubmatch(after.body, -1) {
		if confirm := tina.get(m[1]); strings.Contains(confirm.body, masked(readOnly)) {
			del = m[1]
			wantIn(t, "delete confirmation", confirm, http.StatusOK, "<h1>Delete token</h1>", ">Delete token</button>", "laptop")
			wantNotIn(t, "delete confirmation", confirm, readOnly, deploy)
			labelled(t, "delete confirmation", confirm)
		}
	}
	if del == "" {
		t.Fatalf("no Delete link for %s: %s", masked(readOnly), after.body)
	}
	wantIn(t, "uma deletes tina's token", uma.post(del, url.Values{"csrf": {uma.csrfOf(uma.get("/"))}}), http.StatusNotFound)
	wantIn(t, "uma's page for tina's token", uma.get(strings.Replace(del, "/tina/", "/uma/", 1)), http.StatusNotFound)
	p = tina.submit(del, del, url.Values{})
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, list) {
		t.Fatalf("delete: %d %q %s", p.status, p.location, p.body)
	}
	gone := tina.get(p.location)
	wantIn(t, "after delete", gone, http.StatusOK, "The token was deleted.", masked(deploy))
	wantNotIn(t, "after delete", gone, masked(readOnly), "laptop")
	if status, _ := s.whoami(readOnly); status != http.StatusUnauthorized {
		t.Fatalf("the deleted token still works: %d", status)
	}
	wantIn(t, "deleted token's page", tina.get(del), http.StatusNotFound)

	// A form without its CSRF field is refused, and does nothing.
	p = tina.post(classic, url.Values{"name": {"forged"}, "type": {"publish"}, "password": {tokPassword("tina")}})
	wantIn(t, "no CSRF field", p, http.StatusForbidden, "The form expired or came from another site")
	p = tina.post(granular, url.Values{"csrf": {"forged-forged-forged-forged-forged-forged"}, "step": {"create"}})
	wantIn(t, "wrong CSRF field", p, http.StatusForbidden)
	wantNotIn(t, "after forged forms", tina.get(list), "forged")

	// Sessions: the npm login is listed and can be revoked; revoking this
	// browser's own session signs it out.
	sessions := tina.get(list)
	forms := revokeFormRE.FindAllStringSubmatch(sessions.body, -1)
	if len(forms) != 2 || !strings.Contains(sessions.body, "npm login") {
		t.Fatalf("want the website and the npm login sessions: %s", sessions.body)
	}
	own, other := "", ""
	for _, m := range forms {
		i := strings.Index(sessions.body, m[1])
		row := sessions.body[strings.LastIndex(sessions.body[:i], "<tr>"):i]
		if strings.Contains(row, "(this browser)") {
			own = m[1]
		} else {
			other = m[1]
		}
	}
	if own == "" || other == "" {
		t.Fatalf("sessions: %v", forms)
	}
	p = tina.submit(list, other, url.Values{})
	if p.status != http.StatusSeeOther {
		t.Fatalf("revoke the npm session: %d %s", p.status, p.body)
	}
	wantIn(t, "after revoking", tina.get(p.location), http.StatusOK, "The session was revoked.")
	if status, _ := s.whoami(apiTok); status != http.StatusUnauthorized {
		t.Fatalf("the revoked session still works: %d", status)
	}
	p = tina.submit(list, own, url.Values{})
	if p.status != http.StatusSeeOther || p.location != "/login" {
		t.Fatalf("revoke this session: %d %q", p.status, p.location)
	}
	if p := tina.get(list); p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/login") {
		t.Fatalf("still signed in after revoking the session: %d %q", p.status, p.location)
	}
}

// TestAccessTokenPagesTwoFactor checks that, with 2FA on, creating and
// deleting tokens on the website asks for a one-time password.
func TestAccessTokenPagesTwoFactor(t *testing.T) {
	s := newTokSite(t)
	otto := s.browser()
	otto.signUp("otto")
	apiTok := s.apiLogin("otto")
	status, b := s.api("POST", "/-/npm/v1/user", apiTok, map[string]any{"tfa": map[string]string{
		"password": tokPassword("otto"), "mode": "auth-only"}})
	var setup struct{ TFA string }
	if status != http.StatusOK || json.Unmarshal([]byte(b), &setup) != nil {
		t.Fatalf("enable 2FA: %d %s", status, b)
	}
	u, err := url.Parse(setup.TFA)
	if err != nil {
		t.Fatal(err)
	}
	code := tokTOTP(t, u.Query().Get("secret"))
	status, b = s.api("POST", "/-/npm/v1/user", apiTok, map[string]any{"tfa": []string{code}})
	var confirmed struct{ TFA []string }
	if status != http.StatusOK || json.Unmarshal([]byte(b), &confirmed) != nil || len(confirmed.TFA) < 3 {
		t.Fatalf("confirm 2FA: %d %s", status, b)
	}
	recovery := confirmed.TFA

	const list = "/settings/otto/tokens"
	const classic = list + "/new/classic"
	form := otto.get(classic)
	wantIn(t, "classic form with 2FA", form, http.StatusOK, `<label for="otp">One-time password</label>`)
	labelled(t, "classic form with 2FA", form)
	p := otto.submit(classic, classic, url.Values{"name": {"ci"}, "type": {"automation"}, "password": {tokPassword("otto")}})
	wantIn(t, "no OTP", p, http.StatusUnauthorized, "This operation requires a one-time password.", `value="ci"`,
		`value="automation" required checked`)
	p = otto.submit(classic, classic, url.Values{"name": {"ci"}, "type": {"automation"}, "password": {tokPassword("otto")},
		"otp": {recovery[0]}})
	wantIn(t, "with OTP", p, http.StatusCreated, "Classic: Automation")
	tok := wholeTokenRE.FindString(p.body)
	if tok == "" {
		t.Fatalf("no token: %s", p.body)
	}

	// The granular review asks for the one-time password too.
	granular := list + "/new/granular"
	review := otto.submit(granular, granular, granularForm("ro", 7, "read-only"))
	wantIn(t, "review with 2FA", review, http.StatusOK, `<label for="otp">One-time password</label>`)

	listed := otto.get(list)
	m := deleteLinkRE.FindStringSubmatch(listed.body)
	if m == nil {
		t.Fatalf("no Delete link: %s", listed.body)
	}
	wantIn(t, "delete confirmation with 2FA", otto.get(m[1]), http.StatusOK, `<label for="otp">One-time password</label>`)
	p = otto.submit(m[1], m[1], url.Values{})
	wantIn(t, "delete without OTP", p, http.StatusUnauthorized, "This operation requires a one-time password.")
	p = otto.submit(m[1], m[1], url.Values{"otp": {recovery[1]}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("delete with OTP: %d %s", p.status, p.body)
	}
	if status, _ := s.whoami(tok); status != http.StatusUnauthorized {
		t.Fatalf("the deleted token still works: %d", status)
	}
}

// tokTOTP returns the current code for an otpauth secret (base32).
func tokTOTP(t *testing.T, secret string) string {
	t.Helper()
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(strings.TrimRight(secret, "=")))
	if err != nil {
		t.Fatalf("secret %q: %v", secret, err)
	}
	return totp.Code(key, totp.Step(time.Now()))
}
