package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The account side of the security test suite (issue 14), with the real
// npm and a real browser.

// TestSecurityNpmLoginOnALockedAccount: after five wrong passwords from an
// address, npm login from it with the right password is refused with a
// message that says why and when to try again, and saves no token.
func TestSecurityNpmLoginOnALockedAccount(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	srv.createUser(t, "lena")
	for i := range 5 {
		if res := srv.couchLogin(t, "lena", fmt.Sprint("guess ", i)); res.Status != http.StatusUnauthorized {
			t.Fatalf("guess %d: got %s, want 401", i+1, res)
		}
	}
	c := newClient(t, srv, npm11(t))
	start := time.Now()
	out, code := c.runInteractive("", loginPrompts("lena", passwordOf("lena")), "login", "--auth-type=legacy",
		"--fetch-retries=0")
	if code == 0 {
		t.Fatalf("npm login on a locked account succeeded:\n%s", out)
	}
	for _, want := range []string{"429", "Too many failed password attempts; try again in"} {
		if !strings.Contains(out, want) {
			t.Errorf("npm login's output lacks %q:\n%s", want, out)
		}
	}
	if tok := c.savedToken(); tok != "" {
		t.Errorf("a refused login saved a token")
	}
	t.Logf("npm login refused in %v", time.Since(start).Round(time.Millisecond))
}

// TestSecurityBrowserSignInStaysOnSite: a sign-in link whose next page is
// another site, spelled as browsers read it ("/\host/", a tab inside "//",
// "//host"), brings the person to a page of this registry, signed in. The
// other site is a real one on loopback, so that a browser that went there
// would show it. Before, the sign-in redirected to the other site: browsers
// that do not apply the page's form-action policy to redirects went there,
// and Chromium, which does, left the person on the sign-in page.
func TestSecurityBrowserSignInStaysOnSite(t *testing.T) {
	t.Parallel()
	var visits atomic.Int64
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Pages count, not the icon the browser fetches on its own after a
		// page has shown.
		if r.URL.Path != "/favicon.ico" {
			visits.Add(1)
		}
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<!doctype html><title>elsewhere</title><link rel="icon" href="data:,">`+
			`<body><h1 id="elsewhere">another site</h1></body>`)
	}))
	t.Cleanup(evil.Close)
	host := strings.TrimPrefix(evil.URL, "http://")

	srv := startServer(t)
	base := strings.TrimSuffix(srv.URL(), "/")
	siteHost := strings.TrimPrefix(base, "http://")
	b := newBrowser(t)
	b.signUp(base, "nora", "a long enough password")
	b.run("sign out", chromedp.Click(`details.menu summary`, chromedp.ByQuery),
		chromedp.Click(`//button[normalize-space()="Sign out"]`, chromedp.BySearch),
		chromedp.WaitVisible(`//a[normalize-space()="Sign in"]`, chromedp.BySearch))

	// The browser itself follows such a link off the site: the test's other
	// site is reachable, so a redirect there would be seen.
	b.run("the other site answers", chromedp.Navigate(base+"/login"), chromedp.Navigate(`http://`+host+`/`),
		chromedp.WaitVisible(`#elsewhere`, chromedp.ByQuery))
	seen := visits.Load()

	for _, next := range []string{`/\` + host + `/`, "/\t/" + host + "/", "//" + host + "/", `\\` + host + "/",
		"/\\\t" + host + "/", "http://" + host + "/", "/\n/" + host + "/"} {
		b.run(fmt.Sprintf("sign in with next=%q", next),
			chromedp.Navigate(base+"/login?next="+url.QueryEscape(next)),
			chromedp.WaitVisible(`#username`, chromedp.ByQuery),
			chromedp.SendKeys(`#username`, "nora", chromedp.ByQuery),
			chromedp.SendKeys(`#password`, "a long enough password", chromedp.ByQuery),
			chromedp.Click(`//button[normalize-space()="Sign in"]`, chromedp.BySearch),
		)
		// Wait until the browser has left the sign-in page, for this site
		// or the other.
		var loc string
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			loc = b.location()
			if u, err := url.Parse(loc); err == nil && (u.Host != siteHost || u.Path != "/login") || time.Now().After(deadline) {
				break
			}
		}
		u, err := url.Parse(loc)
		if err != nil || u.Host != siteHost || visits.Load() != seen {
			t.Fatalf("after sign-in with next=%q the browser is at %s (the other site was visited %d times)",
				next, loc, visits.Load()-seen)
		}
		if u.Path == "/login" {
			t.Fatalf("after sign-in with next=%q the browser is still on the sign-in page: its redirect went "+
				"to another origin, which the page's form-action policy blocked", next)
		}
		b.run("the site's page", chromedp.WaitVisible(`details.menu summary`, chromedp.ByQuery))
		b.run("sign out", chromedp.Click(`details.menu summary`, chromedp.ByQuery),
			chromedp.Click(`//button[normalize-space()="Sign out"]`, chromedp.BySearch),
			chromedp.WaitVisible(`//a[normalize-space()="Sign in"]`, chromedp.BySearch))
	}
}
