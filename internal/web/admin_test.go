package web_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/admin"
	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/server"
	"github.com/gatehouse-registry/gatehouse/internal/server/servertest"
	"github.com/gatehouse-registry/gatehouse/internal/totp"
)

// newAdminSite is a site with the service at hand, to make administrators
// as the operator does at the command line.
func newAdminSite(t *testing.T) (*site, *server.Server) {
	t.Helper()
	cfg := servertest.Config(t)
	srv, u := servertest.Start(t, cfg)
	return &site{t: t, url: u}, srv
}

// promote makes name a site administrator, as gatehouse user promote does.
func promote(t *testing.T, srv *server.Server, name string) {
	t.Helper()
	if err := srv.Admin.SetAdmin(context.Background(), audit.Operator(), admin.Confirm{}, name, true); err != nil {
		t.Fatalf("promote %s: %v", name, err)
	}
}

var (
	onceOnPage  = regexp.MustCompile(`name="once" value="([^"]+)"`)
	resetOnPage = regexp.MustCompile(`<code id="reset-link">([^<]+)</code>`)
)

// act loads an account's page and sends one of its action forms with the
// page's CSRF token and once value, and the administrator's password.
func (b *browser) act(user, action, password string, extra url.Values) page {
	b.t.Helper()
	pagePath := "/admin/users/" + user
	p := b.get(pagePath)
	csrf, once := csrfOnPage.FindStringSubmatch(p.body), onceOnPage.FindStringSubmatch(p.body)
	if csrf == nil || once == nil {
		b.t.Fatalf("no action forms on %s (%d): %s", pagePath, p.status, p.body)
	}
	f := url.Values{"csrf": {csrf[1]}, "once": {once[1]}, "password": {password}}
	for k, v := range extra {
		f[k] = v
	}
	return b.post(pagePath+"/"+action, f)
}

// TestAdminSectionIsHidden: to anyone but an administrator, signed in or
// not, every page and form of the admin section is the very page that a
// path nothing serves gets, and the menu does not offer it.
func TestAdminSectionIsHidden(t *testing.T) {
	s, srv := newAdminSite(t)
	s.apiUser("root")
	bobTok := s.apiUser("bob")
	s.publish(bobTok, "bob-lib", "1.0.0", "# bob")
	promote(t, srv, "root")

	anon, bob := s.browser(), s.browser()
	bob.signIn("bob", "")
	paths := []string{"/admin/users", "/admin/users?q=bob", "/admin/users/bob", "/admin/users/root", "/admin/audit",
		"/admin/audit?action=admin.disable", "/admin/users/nobody"}
	for _, who := range []struct {
		name string
		b    *browser
	}{{"anonymous", anon}, {"bob", bob}} {
		missing := who.b.get("/admin/no-such-page")
		wantIn(t, who.name+": a page that does not exist", missing, http.StatusNotFound, "There is no page here.")
		for _, path := range paths {
			got := who.b.get(path)
			if got.status != missing.status || got.body != missing.body {
				t.Errorf("%s: GET %s is %d, not the page that does not exist:\n%s", who.name, path, got.status, got.body)
			}
		}
		// Forms, sent with the CSRF token of a page this browser loaded.
		csrf := csrfOnPage.FindStringSubmatch(who.b.get("/login").body)
		if who.name == "bob" {
			csrf = csrfOnPage.FindStringSubmatch(who.b.get("/settings/bob/profile").body)
		}
		for _, action := range []string{"/admin/users/root/disable", "/admin/users/bob/promote", "/admin/users/root/delete",
			"/admin/users/root/reset-password", "/admin/owners"} {
			got := who.b.post(action, url.Values{"csrf": {csrf[1]}, "password": {"password-bob"}, "package": {"bob-lib"}})
			if got.status != missing.status || got.body != missing.body {
				t.Errorf("%s: POST %s is %d, not the page that does not exist:\n%s", who.name, action, got.status, got.body)
			}
		}
	}
	wantNotIn(t, "bob's menu", bob.get("/"), "/admin/users", "Administration")
	wantIn(t, "bob's menu", bob.get("/"), http.StatusOK, `href="/settings/bob/security">Security log</a>`)
	// Nothing was done: bob is no administrator, root is not disabled.
	if u, err := srv.Admin.User(context.Background(), audit.Operator(), "root"); err != nil || u.Disabled() {
		t.Fatalf("root after the refused forms: %+v %v", u, err)
	}
	if u, _ := srv.Admin.User(context.Background(), audit.Operator(), "bob"); u.Admin {
		t.Fatal("bob became an administrator")
	}
	root := s.browser()
	root.signIn("root", "")
	wantIn(t, "root's menu", root.get("/"), http.StatusOK, `<a href="/admin/users">Administration</a>`)
}

// TestAdminUsersPages: the list of accounts (its columns, search, pages),
// an account's page and its actions, each asking the password again, sent
// once, refused as the service decides (the administrator's own account, a
// package left without owners), and recorded.
func TestAdminUsersPages(t *testing.T) {
	s, srv := newAdminSite(t)
	rootTok := s.apiUser("root")
	carolTok := s.apiUser("carol")
	s.apiUser("dave")
	s.enable2FA(carolTok, "carol", "auth-only")
	promote(t, srv, "root")
	root := s.browser()
	root.signIn("root", "")

	list := root.get("/admin/users")
	wantIn(t, "users list", list, http.StatusOK, "<h1>Users</h1>", "3 users", `<a href="/admin/users/carol">carol</a>`,
		"carol@example.com", `data-label="2FA">on</td>`, `data-label="Admin">admin</td>`)
	wantIn(t, "search by email", root.get("/admin/users?q=DAVE%40example"), http.StatusOK, "1 user matching",
		`<a href="/admin/users/dave">dave</a>`)
	wantNotIn(t, "search by email", root.get("/admin/users?q=DAVE%40example"), `<a href="/admin/users/carol">`)

	// Paged, 50 a page, by name.
	for i := range admin.DefaultPerPage {
		if _, err := srv.Accounts.CreateUser(context.Background(), policy.AdminRegistration, fmt.Sprintf("user%02d", i),
			fmt.Sprintf("user%02d@example.com", i), "a good long password"); err != nil {
			t.Fatal(err)
		}
	}
	first := root.get("/admin/users")
	wantIn(t, "first page", first, http.StatusOK, "53 users", `href="/admin/users?after=user46">Next page</a>`)
	wantNotIn(t, "first page", first, "/admin/users/user47", "First page")
	second := root.get("/admin/users?after=user46")
	wantIn(t, "second page", second, http.StatusOK, "/admin/users/user47", "/admin/users/user49", `href="/admin/users">First page</a>`,
		`data-label="Last sign-in">never</td>`)
	wantNotIn(t, "second page", second, "/admin/users/carol", "Next page")

	// A wrong password: nothing happens, and the form may be sent again.
	p := root.act("dave", "disable", "wrong password", nil)
	wantIn(t, "disable with a wrong password", p, http.StatusUnauthorized, `role="alert"`)
	wantNotIn(t, "disable with a wrong password", p, "is disabled")
	// Without the page's CSRF token: refused, as every form of the site.
	p = root.post("/admin/users/dave/disable", url.Values{"password": {"password-root"}})
	wantIn(t, "disable without CSRF", p, http.StatusForbidden, "The form expired")
	if u, _ := srv.Admin.User(context.Background(), audit.Operator(), "dave"); u.Disabled() {
		t.Fatal("dave disabled by a refused form")
	}

	p = root.act("dave", "disable", "password-root", nil)
	wantIn(t, "disable", p, http.StatusOK, "dave is disabled", `id="user-status"><strong>disabled</strong>`, `id="action-enable"`)
	if st, _ := s.api("GET", "/-/whoami", "", nil); st == 0 {
		t.Fatal("no answer")
	}
	// The same form sent twice acts once.
	pg := root.get("/admin/users/dave")
	once := onceOnPage.FindStringSubmatch(pg.body)[1]
	csrf := csrfOnPage.FindStringSubmatch(pg.body)[1]
	f := url.Values{"csrf": {csrf}, "once": {once}, "password": {"password-root"}}
	wantIn(t, "enable", root.post("/admin/users/dave/enable", f), http.StatusOK, "dave is enabled again")
	wantIn(t, "enable sent again", root.post("/admin/users/dave/enable", f), http.StatusConflict, "already sent")

	// The administrator's own account: the service refuses.
	wantIn(t, "disable oneself", root.act("root", "disable", "password-root", nil), http.StatusForbidden,
		"You cannot disable your own account")
	wantIn(t, "demote oneself", root.act("root", "demote", "password-root", nil), http.StatusForbidden,
		"You cannot demote your own account")

	// Promote and demote.
	wantIn(t, "promote", root.act("dave", "promote", "password-root", nil), http.StatusOK, "dave is an administrator now", `id="action-demote"`)
	wantIn(t, "demote", root.act("dave", "demote", "password-root", nil), http.StatusOK, "dave is no longer an administrator")

	// Revoke all tokens: carol's npm token stops working.
	if st, _ := s.api("GET", "/-/whoami", carolTok, nil); st != http.StatusOK {
		t.Fatalf("carol's token before: %d", st)
	}
	wantIn(t, "revoke tokens", root.act("carol", "revoke-tokens", "password-root", nil), http.StatusOK, "Revoked 1 token(s)")
	if st, _ := s.api("GET", "/-/whoami", carolTok, nil); st != http.StatusUnauthorized {
		t.Fatalf("carol's token after revoke-tokens: %d", st)
	}

	// Delete with an heir: dave owns a package alone.
	daveTok := s.apiUser("dave2")
	s.publish(daveTok, "dave-lib", "1.0.0", "# dave")
	p = root.act("dave2", "delete", "password-root", url.Values{"confirm": {"dave2"}})
	wantIn(t, "delete without an heir", p, http.StatusConflict, "dave-lib")
	p = root.act("dave2", "delete", "password-root", url.Values{"confirm": {"dave"}, "heir": {"carol"}})
	wantIn(t, "delete with a wrong confirmation", p, http.StatusBadRequest, "Type the account")
	p = root.act("dave2", "delete", "password-root", url.Values{"confirm": {"dave2"}, "heir": {"carol"}})
	wantIn(t, "delete with an heir", p, http.StatusOK, "<h1>Users</h1>", "Deleted dave2. carol now own dave-lib.")
	wantIn(t, "the deleted account", root.get("/admin/users/dave2"), http.StatusNotFound, "not found")

	// The audit page has every action, with who did it, filtered.
	a := root.get("/admin/audit?action=admin.")
	wantIn(t, "audit page", a, http.StatusOK, "Account disabled", "Account enabled", "Made an administrator",
		"All tokens revoked by an administrator", "Account deleted", `data-label="By">root`)
	wantNotIn(t, "audit page filtered by action", a, "Signed in <code")
	wantIn(t, "audit page by user", root.get("/admin/audit?user=carol&action=admin.tokens_revoke"), http.StatusOK,
		"All tokens revoked by an administrator", "1 event<")
	wantIn(t, "audit page, a bad time", root.get("/admin/audit?since=yesterday-ish"), http.StatusBadRequest, "is not a time")
	wantIn(t, "audit page, failures", root.get("/admin/audit?outcome=failure&action=admin.disable"), http.StatusOK,
		"<strong>failed</strong>")
	_ = rootTok
}

// TestAdminPasswordAndTFAReset: an administrator resets a password (the link
// shown once, working once), and 2FA (the next sign-in goes to enable it).
func TestAdminPasswordAndTFAReset(t *testing.T) {
	s, srv := newAdminSite(t)
	s.apiUser("root")
	erinTok := s.apiUser("erin")
	secret := s.enable2FASecret(erinTok, "erin", "auth-only")
	promote(t, srv, "root")
	root, erin := s.browser(), s.browser()
	root.signIn("root", "")
	if p := erin.signIn("erin", totp.Code(secret, totp.Step(time.Now()))); p.status != http.StatusSeeOther {
		t.Fatalf("erin signs in: %d %s", p.status, p.body)
	}

	p := root.act("erin", "reset-password", "password-root", nil)
	wantIn(t, "reset password", p, http.StatusOK, "Hand this link to erin", "shown only this once")
	m := resetOnPage.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no reset link on the page:\n%s", p.body)
	}
	link, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil || !strings.HasPrefix(link.Path, "/-/web/reset/") {
		t.Fatalf("reset link %q: %v", m[1], err)
	}
	wantNotIn(t, "the page after", root.get("/admin/users/erin"), link.Path)
	// erin's session ended, and the old password no longer works.
	wantIn(t, "erin's session", erin.get("/settings/erin/profile"), http.StatusSeeOther)
	if p := erin.signIn("erin", ""); p.status == http.StatusSeeOther {
		t.Fatal("the old password still signs in")
	}

	form := erin.get(link.Path)
	wantIn(t, "reset page", form, http.StatusOK, "Set a new password", "<strong>erin</strong>", `<label for="otp">`)
	send := func(pw, again, otp string) page {
		csrf := csrfOnPage.FindStringSubmatch(erin.get("/login").body)[1]
		return erin.post(link.Path, url.Values{"csrf": {csrf}, "password": {pw}, "confirm": {again}, "otp": {otp}})
	}
	wantIn(t, "passwords differ", send("a new long password", "another one", ""), http.StatusBadRequest, "not the same")
	wantIn(t, "a short password", send("short", "short", ""), http.StatusBadRequest, "Use a password of at least")
	wantIn(t, "no OTP", send("a new long password", "a new long password", ""), http.StatusUnauthorized, "one-time password")
	p = send("a new long password", "a new long password", totp.Code(secret, totp.Step(time.Now())+1))
	wantIn(t, "password set", p, http.StatusOK, "Your new password is set. Sign in with it.", `value="erin"`)
	wantIn(t, "the link again", erin.get(link.Path), http.StatusNotFound, "unknown, used or expired")
	wantIn(t, "the link sent again", send("yet another password", "yet another password", ""), http.StatusNotFound,
		"unknown, used or expired")

	// 2FA reset: the next sign-in, with the new password and no OTP, goes
	// to the two-factor page, which says why.
	wantIn(t, "reset 2FA", root.act("erin", "reset-2fa", "password-root", nil), http.StatusOK,
		"two-factor authentication is off: they must enable it again", "to enable again")
	in := erin.submit("/login", "/login", url.Values{"username": {"erin"}, "password": {"a new long password"}})
	if in.status != http.StatusSeeOther || in.location != "/settings/erin/2fa?reenroll=1" {
		t.Fatalf("sign-in after the 2FA reset: %d to %q\n%s", in.status, in.location, in.body)
	}
	wantIn(t, "two-factor page", erin.get(in.location), http.StatusOK, "An administrator reset your two-factor authentication")

	// erin's security log shows what the administrator did, by whom.
	sec := erin.get("/settings/erin/security")
	wantIn(t, "security log", sec, http.StatusOK, "<h1>Security log</h1>", "Password reset by an administrator",
		"Two-factor authentication reset by an administrator", "Password set with a reset link", "Signed in",
		`data-label="By">root`, `data-label="By"><span class="hint">you</span>`, "127.0.0.1")
	wantIn(t, "someone else's security log", erin.get("/settings/root/security"), http.StatusNotFound)
	// Nothing secret on either page.
	wantNotIn(t, "security log", sec, link.Path, strings.TrimPrefix(link.Path, "/-/web/reset/"), "a new long password")
	wantNotIn(t, "audit page", root.get("/admin/audit"), strings.TrimPrefix(link.Path, "/-/web/reset/"), "a new long password")
}

// TestAdminWithTwoFactor: an administrator with 2FA gives a one-time
// password with each change, and may add themself as owner of a package
// from its page.
func TestAdminWithTwoFactor(t *testing.T) {
	s, srv := newAdminSite(t)
	rootTok := s.apiUser("root")
	secret := s.enable2FASecret(rootTok, "root", "auth-only")
	fayTok := s.apiUser("fay")
	s.publish(fayTok, "fay-lib", "1.0.0", "# fay")
	promote(t, srv, "root")
	root := s.browser()
	step := totp.Step(time.Now())
	root.signIn("root", totp.Code(secret, step))

	// Each form asks for it (one code a 30-second step: the one-time password
	// that works is shown with "Add me as owner" below).
	wantIn(t, "account page", root.get("/admin/users/fay"), http.StatusOK, `<label for="disable-otp">One-time password</label>`,
		`<label for="delete-otp">One-time password</label>`)
	p := root.act("fay", "disable", "password-root", nil)
	wantIn(t, "disable without OTP", p, http.StatusUnauthorized, "one-time password")
	if u, _ := srv.Admin.User(context.Background(), audit.Operator(), "fay"); u.Disabled() {
		t.Fatal("fay disabled without the administrator's one-time password")
	}

	pkg := root.get("/package/fay-lib")
	wantIn(t, "package page", pkg, http.StatusOK, `id="add-me-as-owner"`, "Add me as owner", `<label for="owner-otp">`)
	csrf := csrfOnPage.FindStringSubmatch(pkg.body)[1]
	p = root.post("/admin/owners", url.Values{"csrf": {csrf}, "package": {"fay-lib"}, "password": {"password-root"},
		"otp": {totp.Code(secret, step+1)}})
	if p.status != http.StatusSeeOther || p.location != "/package/fay-lib" {
		t.Fatalf("add me as owner: %d %q %s", p.status, p.location, p.body)
	}
	pkg = root.get("/package/fay-lib")
	wantIn(t, "package page after", pkg, http.StatusOK, "fay, root")
	wantNotIn(t, "package page after", pkg, "Add me as owner")
	wantIn(t, "audit page", root.get("/admin/audit?action=admin.owner_add"), http.StatusOK,
		"Owner added by an administrator", "fay-lib")
	// Not offered to others.
	bob := s.browser()
	s.apiUser("bob")
	bob.signIn("bob", "")
	wantNotIn(t, "bob's package page", bob.get("/package/fay-lib"), "Add me as owner")
}

// TestDisabledSessionSaysWhy: a disabled account's open website session is
// refused at its next page, which says why, and its sign-in with the same
// words; nothing is deleted, so enabling the account makes the same session
// work again. The sign-in page stays open to someone else.
func TestDisabledSessionSaysWhy(t *testing.T) {
	s, srv := newAdminSite(t)
	s.apiUser("gus")
	s.apiUser("hal")
	gus := s.browser()
	gus.signIn("gus", "")
	set := func(disabled bool) {
		t.Helper()
		if err := srv.Admin.SetDisabled(context.Background(), audit.Operator(), admin.Confirm{}, "gus", disabled); err != nil {
			t.Fatal(err)
		}
	}
	set(true)
	for _, path := range []string{"/settings/gus/profile", "/", "/settings/gus/security"} {
		wantIn(t, "gus's session on "+path, gus.get(path), http.StatusForbidden, "This account is disabled: ask an administrator")
	}
	wantIn(t, "the sign-in page", gus.get("/login"), http.StatusOK, `<a href="/login">Sign in</a>`, "<h1>Sign in</h1>")
	wantIn(t, "gus signs in", gus.signIn("gus", ""), http.StatusForbidden, "This account is disabled: ask an administrator")
	set(false)
	wantIn(t, "gus's session, enabled", gus.get("/settings/gus/profile"), http.StatusOK, "Account menu for gus")

	// Someone else signs in on that browser while gus is disabled.
	set(true)
	if p := gus.signIn("hal", ""); p.status != http.StatusSeeOther {
		t.Fatalf("hal signs in where gus's session was: %d %s", p.status, p.body)
	}
	wantIn(t, "hal's page", gus.get("/settings/hal/profile"), http.StatusOK, "Account menu for hal")
}

var olderOnPage = regexp.MustCompile(`<a href="([^"]+)">Older</a>`)

// TestSecurityLogPages: the security log and the audit page go back page
// by page (25 events a page, newest first), the audit page keeping its
// filter; an unknown action is a page that does not exist, for an
// administrator too.
func TestSecurityLogPages(t *testing.T) {
	s, srv := newAdminSite(t)
	s.apiUser("root")
	s.apiUser("ida")
	promote(t, srv, "root")
	// 30 sign-ins, as npm login makes them, after the sign-up.
	for range 30 {
		if st, b := s.api("PUT", "/-/user/org.couchdb.user:ida", "", map[string]string{"name": "ida", "password": "password-ida"}); st != http.StatusCreated {
			t.Fatalf("npm login ida: %d %s", st, b)
		}
	}
	ida, root := s.browser(), s.browser()
	ida.signIn("ida", "")
	root.signIn("root", "")

	first := ida.get("/settings/ida/security")
	wantIn(t, "security log, newest", first, http.StatusOK, "Signed in")
	var total int
	if m := regexp.MustCompile(`<span>(\d+) events</span>`).FindStringSubmatch(first.body); m == nil {
		t.Fatalf("no count of events:\n%s", first.body)
	} else if total, _ = strconv.Atoi(m[1]); total < 32 || total > 50 {
		t.Fatalf("%d events: want the sign-up, 31 sign-ins and a few more", total)
	}
	wantNotIn(t, "security log, newest", first, "Account created", "Newest</a>")
	if n := strings.Count(first.body, `data-label="What"`); n != 25 {
		t.Errorf("the first page shows %d events, want 25", n)
	}
	m := olderOnPage.FindStringSubmatch(first.body)
	if m == nil {
		t.Fatalf("no Older link:\n%s", first.body)
	}
	second := ida.get(html.UnescapeString(m[1]))
	wantIn(t, "security log, older", second, http.StatusOK, "Account created", `<a href="/settings/ida/security">Newest</a>`)
	wantNotIn(t, "security log, older", second, "Older</a>")
	if n := strings.Count(second.body, `data-label="What"`); n != total-25 {
		t.Errorf("the second page shows %d events, want %d", n, total-25)
	}
	wantIn(t, "a bad page address", ida.get("/settings/ida/security?before=x"), http.StatusBadRequest, "not valid")

	audit := root.get("/admin/audit?user=ida&action=user.")
	wantIn(t, "audit page, newest", audit, http.StatusOK, "events</span>", "Older</a>")
	m = olderOnPage.FindStringSubmatch(audit.body)
	if m == nil || !strings.Contains(m[1], "user=ida") || !strings.Contains(m[1], "action=user.") {
		t.Fatalf("the Older link does not keep the filter: %v", m)
	}
	wantIn(t, "audit page, older", root.get(html.UnescapeString(m[1])), http.StatusOK, "Account created",
		"Newest</a>", `value="ida"`)

	missing := root.get("/admin/no-such-page")
	pg := root.get("/admin/users/ida")
	csrf, once := csrfOnPage.FindStringSubmatch(pg.body)[1], onceOnPage.FindStringSubmatch(pg.body)[1]
	got := root.post("/admin/users/ida/explode", url.Values{"csrf": {csrf}, "once": {once}, "password": {"password-root"}})
	if got.status != http.StatusNotFound || got.body != missing.body {
		t.Errorf("an unknown action: %d\n%s", got.status, got.body)
	}
}
