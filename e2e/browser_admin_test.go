package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The website's admin section in Chromium, with the real npm: an
// administrator disables and enables an account, resets a password and 2FA,
// and the account's owner sees the effect on npm and on the website; to
// everyone else the section is a page that does not exist. One server and
// two browsers (the administrator's, and one for everyone else) for all.

// signInAt signs name in on the sign-in page.
func (b *browser) signInAt(base, name, password string) {
	b.t.Helper()
	b.run("sign in as "+name,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(`#username`, chromedp.ByQuery),
		chromedp.SendKeys(`#username`, name, chromedp.ByQuery),
		chromedp.SendKeys(`#password`, password, chromedp.ByQuery),
		chromedp.Click(`//button[normalize-space()="Sign in"]`, chromedp.BySearch),
		chromedp.WaitVisible(`details.menu summary`, chromedp.ByQuery),
	)
}

// signOut signs out from the account menu.
func (b *browser) signOut() {
	b.t.Helper()
	b.run("sign out", chromedp.Click(`details.menu summary`, chromedp.ByQuery),
		chromedp.Click(`//button[normalize-space()="Sign out"]`, chromedp.BySearch),
		chromedp.WaitVisible(`//a[normalize-space()="Sign in"]`, chromedp.BySearch))
}

// adminAction sends one of the action forms of user's page (the form
// #action-ACTION) with the administrator's password, and returns the
// page's notice.
func (b *browser) adminAction(base, user, action, password string) string {
	b.t.Helper()
	form := `#action-` + action
	b.run(action+" "+user,
		chromedp.Navigate(base+"/admin/users/"+user),
		chromedp.WaitVisible(form, chromedp.ByQuery),
		chromedp.SendKeys(form+` input[name="password"]`, password, chromedp.ByQuery),
		chromedp.Click(form+` button[type="submit"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`p.notice.ok, p.notice.error`, chromedp.ByQuery),
	)
	if strings.Contains(b.html(), `class="notice error"`) {
		b.t.Fatalf("%s %s refused: %s", action, user, b.text(`p.notice.error`))
	}
	return b.text(`p.notice.ok`)
}

func TestBrowserAdmin(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	base := strings.TrimSuffix(srv.URL(), "/")
	sessions := map[string]string{}
	for _, name := range []string{"root", "ursula", "vera", "walt", "xena"} {
		sessions[name] = srv.createUser(t, name)
	}
	walt := enableTFA(t, srv, "walt", sessions["walt"], "auth-only")
	if out, code := runGatehouse(t, "", "user", "promote", "root", "--data", srv.DataDir()); code != 0 {
		t.Fatalf("gatehouse user promote root exited %d:\n%s", code, out)
	}
	admin, person := newBrowser(t), newBrowser(t)
	admin.signInAt(base, "root", passwordOf("root"))
	npm := npm11(t)

	t.Run("not an administrator: the page that does not exist", func(t *testing.T) {
		missing := func() string {
			person.run("a page that does not exist", chromedp.Navigate(base+"/admin/no-such-page"),
				chromedp.WaitReady(`main`, chromedp.ByQuery))
			return person.text("main")
		}
		for _, who := range []string{"anonymous", "xena"} {
			if who == "xena" {
				person.signInAt(base, "xena", passwordOf("xena"))
				if n := person.count(`a[href="/admin/users"]`); n != 0 {
					t.Errorf("xena's menu offers the admin section")
				}
			}
			want := missing()
			if !strings.Contains(want, "There is no page here.") {
				t.Fatalf("%s: the missing page says %q", who, want)
			}
			for _, path := range []string{"/admin/users", "/admin/users/root", "/admin/audit"} {
				person.run(who+" opens "+path, chromedp.Navigate(base+path), chromedp.WaitReady(`main`, chromedp.ByQuery))
				if got := person.text("main"); got != want {
					t.Errorf("%s: %s shows %q, not the page that does not exist", who, path, got)
				}
			}
		}
		person.signOut()
		if n := admin.count(`a[href="/admin/users"]`); n != 1 {
			t.Errorf("the administrator's menu has %d links to the admin section, want 1", n)
		}
	})

	t.Run("disable refuses npm, the session and sign-in at once; enable restores them", func(t *testing.T) {
		c := newClient(t, srv, npm)
		if out, code := c.runInteractive("", loginPrompts("ursula", passwordOf("ursula")), "login", "--auth-type=legacy"); code != 0 {
			t.Fatalf("npm login ursula exited %d:\n%s", code, out)
		}
		c.mustRun("", "whoami")
		person.signInAt(base, "ursula", passwordOf("ursula"))

		admin.run("the admin section from the account menu",
			chromedp.Navigate(base+"/"),
			chromedp.Click(`details.menu summary`, chromedp.ByQuery),
			chromedp.Click(`//details[contains(@class,"menu")]//a[normalize-space()="Administration"]`, chromedp.BySearch),
			chromedp.WaitVisible(`#user-list`, chromedp.ByQuery),
			chromedp.Click(`//table[@id="user-list"]//a[normalize-space()="ursula"]`, chromedp.BySearch),
			chromedp.WaitVisible(`#action-disable`, chromedp.ByQuery))
		if notice := admin.adminAction(base, "ursula", "disable", passwordOf("root")); !strings.Contains(notice, "ursula is disabled") {
			t.Fatalf("the notice after disable: %q", notice)
		}
		admin.screenshot("admin-user")

		// At once: npm's token, the open session, a new sign-in.
		if res := c.run("", "whoami"); res.Code == 0 || !strings.Contains(res.Output(), "E403") {
			t.Errorf("npm whoami of a disabled account: %s", res)
		}
		person.run("ursula's open session", chromedp.Navigate(base+"/settings/ursula/profile"), chromedp.WaitReady(`main`, chromedp.ByQuery))
		if got := person.text("main"); !strings.Contains(got, "This account is disabled: ask an administrator") {
			t.Errorf("ursula's open session shows %q", got)
		}
		person.run("ursula signs in again",
			chromedp.Navigate(base+"/login"),
			chromedp.WaitVisible(`#username`, chromedp.ByQuery),
			chromedp.SendKeys(`#username`, "ursula", chromedp.ByQuery),
			chromedp.SendKeys(`#password`, passwordOf("ursula"), chromedp.ByQuery),
			chromedp.Click(`//button[normalize-space()="Sign in"]`, chromedp.BySearch),
			chromedp.WaitVisible(`p.notice.error`, chromedp.ByQuery))
		if got := person.text(`p.notice.error`); got != "This account is disabled: ask an administrator of this registry" {
			t.Errorf("ursula's sign-in says %q", got)
		}

		if notice := admin.adminAction(base, "ursula", "enable", passwordOf("root")); !strings.Contains(notice, "ursula is enabled again") {
			t.Fatalf("the notice after enable: %q", notice)
		}
		if got := strings.TrimSpace(c.mustRun("", "whoami").Stdout); got != "ursula" {
			t.Errorf("npm whoami after enable: %q", got)
		}
		person.run("ursula's session, enabled", chromedp.Navigate(base+"/settings/ursula/profile"),
			chromedp.WaitVisible(`details.menu summary`, chromedp.ByQuery))
		person.signOut()
		person.signInAt(base, "ursula", passwordOf("ursula"))
		person.signOut()
	})

	t.Run("password reset: the link, a new password, the website and npm login", func(t *testing.T) {
		admin.adminAction(base, "vera", "reset-password", passwordOf("root"))
		link := strings.TrimSpace(admin.text(`#reset-link`))
		u, err := url.Parse(link)
		if err != nil || u.Host != strings.TrimPrefix(base, "http://") || !strings.HasPrefix(u.Path, "/-/web/reset/") {
			t.Fatalf("the reset link %q: %v", link, err)
		}
		if res := srv.couchLogin(t, "vera", passwordOf("vera")); res.Status != http.StatusUnauthorized {
			t.Errorf("vera's old password after the reset: %s", res)
		}
		const fresh = "vera's new password after the reset"
		person.run("set a new password with the link",
			chromedp.Navigate(link),
			chromedp.WaitVisible(`#new-password`, chromedp.ByQuery),
			chromedp.SendKeys(`#new-password`, fresh, chromedp.ByQuery),
			chromedp.SendKeys(`#confirm-password`, fresh, chromedp.ByQuery),
			chromedp.Click(`//button[normalize-space()="Set password"]`, chromedp.BySearch),
			chromedp.WaitVisible(`//p[contains(., "Your new password is set")]`, chromedp.BySearch),
			chromedp.SendKeys(`#password`, fresh, chromedp.ByQuery),
			chromedp.Click(`//button[normalize-space()="Sign in"]`, chromedp.BySearch),
			chromedp.WaitVisible(`details.menu summary`, chromedp.ByQuery))
		person.run("the link a second time", chromedp.Navigate(link), chromedp.WaitReady(`main`, chromedp.ByQuery))
		if got := person.text("main"); !strings.Contains(got, "unknown, used or expired") {
			t.Errorf("the used link shows %q", got)
		}
		person.signOut()

		c := newClient(t, srv, npm)
		out, code := c.runInteractive("", loginPrompts("vera", fresh), "login", "--auth-type=legacy")
		if code != 0 || !strings.Contains(out, "Logged in") {
			t.Fatalf("npm login with the new password exited %d:\n%s", code, out)
		}
		if got := strings.TrimSpace(c.mustRun("", "whoami").Stdout); got != "vera" {
			t.Errorf("npm whoami after npm login: %q", got)
		}
	})

	t.Run("2FA reset: the next sign-in re-enrolls", func(t *testing.T) {
		admin.adminAction(base, "walt", "reset-2fa", passwordOf("root"))
		person.signInAt(base, "walt", passwordOf("walt"))
		if loc := person.location(); !strings.HasSuffix(loc, "/settings/walt/2fa?reenroll=1") {
			t.Fatalf("walt's sign-in went to %s, not the two-factor page", loc)
		}
		if got := person.text("main"); !strings.Contains(got, "An administrator reset your two-factor authentication") {
			t.Fatalf("the two-factor page says %q", got)
		}
		person.run("enable 2FA again",
			chromedp.Click(`#mode-auth-only`, chromedp.ByQuery),
			chromedp.SendKeys(`#password`, passwordOf("walt"), chromedp.ByQuery),
			chromedp.Submit(`#password`, chromedp.ByQuery),
			chromedp.WaitVisible(`#tfa-secret`, chromedp.ByQuery))
		walt.secret = decodeSecret(t, strings.Join(strings.Fields(person.text("#tfa-secret")), ""))
		person.run("confirm with an OTP",
			chromedp.SendKeys(`#otp`, walt.code(t), chromedp.ByQuery),
			chromedp.Click(`//button[normalize-space()="Confirm and enable"]`, chromedp.BySearch),
			chromedp.WaitVisible(`#recovery-codes`, chromedp.ByQuery))
		assertTFA(t, srv, sessions["walt"], "auth-only", false)

		person.run("Security log from the account menu",
			chromedp.Navigate(base+"/"),
			chromedp.Click(`details.menu summary`, chromedp.ByQuery),
			chromedp.Click(`//details[contains(@class,"menu")]//a[normalize-space()="Security log"]`, chromedp.BySearch),
			chromedp.WaitVisible(`#event-list`, chromedp.ByQuery))
		log := person.text("#event-list")
		for _, want := range []string{"Two-factor authentication reset by an administrator", "root", "Two-factor authentication enabled",
			"Signed in", "127.0.0.1"} {
			if !strings.Contains(log, want) {
				t.Errorf("walt's security log lacks %q:\n%s", want, log)
			}
		}
		person.screenshot("security-log")
		person.signOut()
	})

	t.Run("the users list fits a phone", func(t *testing.T) {
		admin.run("open the users list", chromedp.Navigate(base+"/admin/users"), chromedp.WaitVisible(`#user-list`, chromedp.ByQuery))
		admin.screenshot("admin-users")
		admin.run("phone-sized window", chromedp.EmulateViewport(phoneWidth, 844))
		defer admin.run("laptop-sized window", chromedp.EmulateViewport(1280, 900))
		admin.run("open the users list", chromedp.Navigate(base+"/admin/users"), chromedp.WaitVisible(`#user-list`, chromedp.ByQuery))
		if w := admin.pageWidth(); w > phoneWidth {
			t.Errorf("the users list at %d px is %d px wide", phoneWidth, w)
		}
		if out := admin.outsideViewport(`#user-list td`); out != "" {
			t.Errorf("cells of the users list not visible without scrolling sideways: %s", out)
		}
		for _, path := range []string{"/admin/users/ursula", "/admin/audit"} {
			admin.run("open "+path, chromedp.Navigate(base+path), chromedp.WaitReady(`main`, chromedp.ByQuery))
			if w := admin.pageWidth(); w > phoneWidth {
				t.Errorf("%s at %d px is %d px wide", path, phoneWidth, w)
			}
		}
	})
}
