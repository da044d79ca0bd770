package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// The website's first impressions, in headless Chromium against the real
// binary, with npm 11 publishing and logging in: the home page, a package
// page, search, the favicon, the granular form's defaults, the organization
// page's team forms, every page at a phone's width, and "Continue as NAME"
// for npm login. One server and one browser serve the whole walk, in order.

// phoneWidth is the width of the phone the pages must fit (an iPhone 12 to 15).
const phoneWidth = 390

// pageWidth is the document's scroll width: wider than the viewport means the
// page scrolls sideways.
func (b *browser) pageWidth() int {
	b.t.Helper()
	var w int
	b.run("measure the page", chromedp.Evaluate(`document.documentElement.scrollWidth`, &w))
	return w
}

// outsideViewport lists the elements matching sel that are not wholly visible
// in the viewport's width (hidden, empty, or reaching past an edge), by
// their text; "" when every one is, and "no match" when none matches.
func (b *browser) outsideViewport(sel string) string {
	b.t.Helper()
	var out string
	b.run("find "+sel+" outside the viewport", chromedp.Evaluate(fmt.Sprintf(`(() => {
		const els = [...document.querySelectorAll(%q)];
		if (els.length === 0) return "no match";
		const vw = document.documentElement.clientWidth;
		return els.filter(el => {
			const r = el.getBoundingClientRect();
			const hidden = getComputedStyle(el).visibility !== "visible" || r.width === 0 || r.height === 0;
			return hidden || r.left < 0 || r.right > vw;
		}).map(el => (el.getAttribute("aria-label") || el.textContent).trim()).join("; ");
	})()`, sel), &out))
	return out
}

// acceptDialogs makes the browser answer OK to every confirm() from now on
// (the forms with data-confirm ask before deleting).
func (b *browser) acceptDialogs() {
	chromedp.ListenTarget(b.ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			go func() { _ = chromedp.Run(b.ctx, page.HandleJavaScriptDialog(true)) }()
		}
	})
}

// count returns how many elements match sel.
func (b *browser) count(sel string) int {
	b.t.Helper()
	var n int
	b.run("count "+sel, chromedp.Evaluate(fmt.Sprintf(`document.querySelectorAll(%q).length`, sel), &n))
	return n
}

func TestBrowserWebsite(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	npm := npm11(t)
	b := newBrowser(t)
	b.acceptDialogs()
	base := strings.TrimSuffix(srv.URL(), "/")

	// Signed out, the home page shows this registry's real address and how to
	// make an account with npm.
	b.run("open the home page", chromedp.Navigate(base+"/"), chromedp.WaitVisible(`#setup-snippet`, chromedp.ByQuery))
	snippet := b.text("#setup-snippet")
	for _, want := range []string{"npm config set registry " + srv.URL(), "npm adduser", "npm login"} {
		if !strings.Contains(snippet, want) {
			t.Fatalf("the setup snippet lacks %q:\n%s", want, snippet)
		}
	}
	if strings.Contains(b.text("main"), "this registry's URL") {
		t.Fatal("the home page still shows a placeholder for the registry's address")
	}
	b.screenshot("home")

	// nora signs up in the browser; with npm she publishes a public library
	// (two versions, the first deprecated) and a private app that depends on
	// it; she owns the organization acme, which has a package. olaf publishes
	// a public and a private package.
	b.signUp(base, "nora", passwordOf("nora"))
	var login struct{ Token string }
	decodeJSON(t, srv.couchLogin(t, "nora", passwordOf("nora")).Body, &login)
	nora := newClient(t, srv, npm).login(login.Token)
	nora.mustRun(makePackage(t, pkgSpec{Name: "nora-lib", Version: "1.0.0", Description: "a library of nora's"}), "publish")
	nora.mustRun(makePackage(t, pkgSpec{Name: "nora-lib", Version: "1.1.0", Description: "a library of nora's"}), "publish")
	nora.mustRun("", "deprecate", "nora-lib@1.0.0", "use 1.1.0: 1.0.0 leaks memory")
	nora.mustRun(makePackage(t, pkgSpec{Name: "@nora/app", Version: "2.0.0", Deps: map[string]string{"nora-lib": "^1.1.0"}}), "publish")
	createOrg(t, srv, "acme", "nora")
	nora.mustRun(makePackage(t, pkgSpec{Name: "@acme/widget", Version: "0.1.0"}), "publish")
	olaf := newClient(t, srv, npm).login(srv.createUser(t, "olaf"))
	olaf.mustRun(makePackage(t, pkgSpec{Name: "olaf-pub", Version: "3.0.0"}), "publish")
	olaf.mustRun(makePackage(t, pkgSpec{Name: "@olaf/secret", Version: "1.0.0"}), "publish")

	t.Run("home signed in", func(t *testing.T) {
		b.run("open the home page", chromedp.Navigate(base+"/"), chromedp.WaitVisible(`#my-packages`, chromedp.ByQuery))
		if got := b.text("#my-packages"); !strings.Contains(got, "nora-lib") || !strings.Contains(got, "@nora/app") {
			t.Errorf("Your packages: %q, want nora-lib and @nora/app", got)
		}
		if got := b.text("#my-orgs"); !strings.Contains(got, "@acme") {
			t.Errorf("Your organizations: %q, want @acme", got)
		}
		recent := b.text("#recent")
		for _, want := range []string{"olaf-pub", "@acme/widget", "@nora/app", "nora-lib"} {
			if !strings.Contains(recent, want) {
				t.Errorf("Recently published lacks %s:\n%s", want, recent)
			}
		}
		if strings.Contains(b.html(), "@olaf/secret") {
			t.Error("the home page shows olaf's private package to nora")
		}
		if got := b.text("#setup-snippet"); !strings.Contains(got, srv.URL()) {
			t.Errorf("the setup snippet signed in: %q", got)
		}
		b.screenshot("home-signed-in")
	})

	t.Run("package page", func(t *testing.T) {
		b.run("open nora-lib", chromedp.Navigate(base+"/package/nora-lib"), chromedp.WaitVisible(`#versions`, chromedp.ByQuery))
		for id, want := range map[string]string{"#install-npm": "npm install nora-lib", "#install-pnpm": "pnpm add nora-lib",
			"#install-yarn": "yarn add nora-lib", "#install-bun": "bun add nora-lib"} {
			if got := strings.TrimSpace(b.text(id)); got != want {
				t.Errorf("%s = %q, want %q", id, got, want)
			}
		}
		if got := b.text("article.readme"); !strings.Contains(got, "a library of nora's") {
			t.Errorf("the README: %q", got)
		}
		versions := b.text("#versions")
		if !strings.Contains(versions, "1.1.0") || !strings.Contains(versions, "Deprecated: use 1.1.0: 1.0.0 leaks memory") {
			t.Errorf("the versions table:\n%s", versions)
		}
		if n := b.count(`#versions tbody time[datetime]`); n != 2 {
			t.Errorf("%d versions with a publication date, want 2", n)
		}
		b.run("open @nora/app", chromedp.Navigate(base+"/package/@nora/app"), chromedp.WaitVisible(`#dependencies`, chromedp.ByQuery))
		if got := b.text(".deps"); !strings.Contains(got, "nora-lib ^1.1.0") {
			t.Errorf("the dependencies of @nora/app: %q", got)
		}
		b.run("follow the dependency", chromedp.Click(`//ul[contains(@class,"deps")]//a[normalize-space()="nora-lib"]`, chromedp.BySearch),
			chromedp.WaitVisible(`//h1[normalize-space()="nora-lib"]`, chromedp.BySearch))
		if loc := b.location(); !strings.HasSuffix(loc, "/package/nora-lib") {
			t.Errorf("the dependency's link went to %s", loc)
		}
		b.screenshot("package-details")
	})

	t.Run("search keeps the query in one box", func(t *testing.T) {
		b.run("search from the top bar", chromedp.Navigate(base+"/"), chromedp.WaitVisible(`#q`, chromedp.ByQuery),
			chromedp.SendKeys(`#q`, "nora\n", chromedp.ByQuery), chromedp.WaitVisible(`#search-q`, chromedp.ByQuery))
		if n := b.count(`input[type=search]`); n != 1 {
			t.Errorf("the search page has %d search boxes, want 1", n)
		}
		var value string
		b.run("read the box", chromedp.Value(`#search-q`, &value, chromedp.ByQuery))
		if value != "nora" {
			t.Errorf("the search box holds %q, want nora", value)
		}
		if hits := b.text(".hits"); !strings.Contains(hits, "nora-lib") || strings.Contains(hits, "olaf") {
			t.Errorf("hits for nora: %q", hits)
		}
		b.screenshot("search")
		b.run("search again from the same box", chromedp.SetValue(`#search-q`, "olaf", chromedp.ByQuery),
			chromedp.Submit(`#search-q`, chromedp.ByQuery), chromedp.WaitVisible(`//h1[contains(., "olaf")]`, chromedp.BySearch))
		if hits := b.text(".hits"); !strings.Contains(hits, "olaf-pub") || strings.Contains(hits, "@olaf/secret") {
			t.Errorf("hits for olaf: %q", hits)
		}
	})

	t.Run("favicon", func(t *testing.T) {
		var href string
		b.run("read the icon link", chromedp.AttributeValue(`link[rel=icon]`, "href", &href, nil, chromedp.ByQuery))
		if !strings.HasPrefix(href, "/-/web/static/") || !strings.Contains(href, "favicon") {
			t.Fatalf("the icon link is %q", href)
		}
		res := srv.do(t, http.MethodGet, strings.TrimPrefix(href, "/"), "", nil)
		if res.Status != http.StatusOK || res.Header.Get("Content-Type") != "image/svg+xml" ||
			!strings.Contains(res.Header.Get("Cache-Control"), "max-age=31536000") || !strings.Contains(string(res.Body), "<svg") {
			t.Errorf("the favicon: %s, Content-Type %q, Cache-Control %q", res, res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"))
		}
	})

	t.Run("granular form defaults", func(t *testing.T) {
		b.openAccessTokens(base)
		b.generate("Granular Access Token")
		b.run("only a name, then Generate Token",
			chromedp.SendKeys(`#token-name`, "laptop installs", chromedp.ByQuery),
			chromedp.Click(`//button[@value="review" and normalize-space()="Generate Token"]`, chromedp.BySearch),
			chromedp.WaitVisible(`//button[@value="create"]`, chromedp.BySearch),
		)
		if review := b.text("main"); !strings.Contains(review, "Read-only on all packages") {
			t.Fatalf("the review of the untouched form:\n%s", review)
		}
		b.run("generate it",
			chromedp.SendKeys(`#password`, passwordOf("nora"), chromedp.ByQuery),
			chromedp.Click(`//button[@value="create"]`, chromedp.BySearch),
			chromedp.WaitVisible(`#new-token`, chromedp.ByQuery),
		)
		tok := strings.TrimSpace(b.text("#new-token"))
		if !wholeToken.MatchString(tok) {
			t.Fatalf("no token on the page: %q", tok)
		}
		reader := newClient(t, srv, npm).login(tok)
		project := makeProject(t, map[string]string{"@nora/app": "^2.0.0"})
		reader.mustRun(project, "install")
		assertInstalled(t, project, "@nora/app", "2.0.0")
		assertInstalled(t, project, "nora-lib", "1.1.0")
		reader.mustFail(makePackage(t, pkgSpec{Name: "@nora/app", Version: "2.0.1"}), []string{"E403"}, "publish")
	})

	t.Run("organization team forms", func(t *testing.T) {
		b.run("open acme", chromedp.Navigate(base+"/org/acme"), chromedp.WaitVisible(`#team-name`, chromedp.ByQuery),
			chromedp.SendKeys(`#team-name`, "web", chromedp.ByQuery),
			chromedp.Click(`//button[normalize-space()="Create team"]`, chromedp.BySearch),
			chromedp.WaitVisible(`#grant-pkg-web`, chromedp.ByQuery),
			chromedp.SendKeys(`#grant-pkg-web`, "@acme/widget", chromedp.ByQuery),
			chromedp.SetValue(`#grant-perm-web`, "read-write", chromedp.ByQuery),
			chromedp.Click(`//button[normalize-space()="Grant to web"]`, chromedp.BySearch),
			chromedp.WaitVisible(`//section[@aria-labelledby="team-web"]//table[contains(@class,"grants")]`, chromedp.BySearch),
		)
		if got := serverTeamPackages(t, srv, login.Token, "acme", "web"); got["@acme/widget"] != "read-write" {
			t.Fatalf("the web team's packages after the grant form: %v", got)
		}
		b.screenshot("org")
		b.run("take the package away",
			chromedp.Click(`//button[@aria-label="Take @acme/widget away from web"]`, chromedp.BySearch),
			chromedp.WaitVisible(`//section[@aria-labelledby="team-web"]//p[normalize-space()="No packages granted."]`, chromedp.BySearch),
		)
		if got := serverTeamPackages(t, srv, login.Token, "acme", "web"); len(got) != 0 {
			t.Fatalf("the web team's packages after Revoke: %v", got)
		}
		b.run("delete the team, confirming",
			chromedp.Click(`//button[normalize-space()="Delete team web"]`, chromedp.BySearch),
			chromedp.WaitVisible(`//p[@role="status" and normalize-space()="Team deleted."]`, chromedp.BySearch),
		)
		if n := b.count(`#team-web`); n != 0 {
			t.Fatal("the deleted team is still on the page")
		}
		if res := srv.do(t, http.MethodGet, "-/team/acme/web/user", login.Token, nil); res.Status != http.StatusNotFound {
			t.Fatalf("the deleted team over the API: %s, want 404", res)
		}
	})

	t.Run("every page fits a phone", func(t *testing.T) {
		// A token of each kind and a second session fill the Access Tokens
		// page's two tables.
		srv.couchLogin(t, "nora", passwordOf("nora"))
		res := srv.do(t, http.MethodPost, "-/npm/v1/tokens", login.Token, map[string]any{
			"password": passwordOf("nora"), "name": "a rather long token name that has to wrap on a phone",
			"description": "made to see how the cards wrap", "packages_all": true, "packages_and_scopes_permission": "read-only",
			"cidr_whitelist": []string{"192.168.0.0/16", "10.0.0.0/8", "172.16.0.0/12", "2001:db8:1234:5678::/64"}})
		if res.Status != http.StatusCreated {
			t.Fatalf("create a granular token: %s", res)
		}
		b.run("phone-sized window", chromedp.EmulateViewport(phoneWidth, 844))
		defer b.run("laptop-sized window", chromedp.EmulateViewport(1280, 900))
		tokens := "/settings/nora/tokens"
		const deleteButtons, revokeButtons = `main a[href$="/delete"]`, `main form[action*="/sessions/"] button`
		b.run("open Access Tokens", chromedp.Navigate(base+tokens),
			chromedp.WaitVisible(`//h1[normalize-space()="Access Tokens"]`, chromedp.BySearch))
		if w := b.pageWidth(); w > phoneWidth {
			t.Errorf("Access Tokens at %d px is %d px wide", phoneWidth, w)
		}
		if out := b.outsideViewport(deleteButtons); out != "" {
			t.Errorf("Delete buttons not visible without scrolling sideways: %s", out)
		}
		if out := b.outsideViewport(revokeButtons); out != "" {
			t.Errorf("Revoke buttons not visible without scrolling sideways: %s", out)
		}
		if n := b.count(deleteButtons); n < 2 {
			t.Errorf("%d Delete buttons, want one for each of the 2 tokens", n)
		}
		b.screenshot("access-tokens-phone")
		// An npm login's confirmation page too, as npm would send nora there.
		res = srv.do(t, http.MethodPost, "-/v1/login", "", map[string]any{})
		var start struct {
			LoginURL string `json:"loginUrl"`
		}
		decodeJSON(t, res.Body, &start)
		assertConfirmURL(t, srv, start.LoginURL)
		for _, path := range []string{"/", "/login", "/signup", tokens + "/new/granular", tokens + "/new/classic",
			"/settings/nora/profile", "/settings/nora/2fa", "/settings/nora/orgs", "/org/acme", "/package/nora-lib",
			"/package/@nora/app", "/search?q=nora", "/search?q=nothing-matches-this", strings.TrimPrefix(start.LoginURL, base)} {
			b.run("open "+path, chromedp.Navigate(base+path), chromedp.WaitReady(`main`, chromedp.ByQuery))
			if w := b.pageWidth(); w > phoneWidth {
				t.Errorf("%s at %d px is %d px wide", path, phoneWidth, w)
			}
			if path == "/" {
				b.screenshot("home-phone")
			}
			if path == "/package/nora-lib" {
				b.screenshot("package-phone")
			}
		}
	})

	t.Run("npm login: Continue as nora", func(t *testing.T) {
		c := newClient(t, srv, npm)
		continueAs := func(loginURL, otp string) {
			t.Helper()
			assertConfirmURL(t, srv, loginURL)
			b.run("open the confirmation", chromedp.Navigate(loginURL),
				chromedp.WaitVisible(`//button[normalize-space()="Continue as nora"]`, chromedp.BySearch))
			what := b.text("#confirm-what")
			if !strings.Contains(what, "npm login") || !strings.Contains(what, "127.0.0.1") || !strings.Contains(what, "UTC") {
				t.Errorf("the confirmation does not say what it confirms: %q", what)
			}
			if otp == "" {
				b.screenshot("web-login-continue")
			} else {
				b.run("type the one-time password", chromedp.SendKeys(`#continue-otp`, otp, chromedp.ByQuery))
			}
			b.run("Continue as nora", chromedp.Click(`//button[normalize-space()="Continue as nora"]`, chromedp.BySearch),
				chromedp.WaitVisible(`//*[contains(., "You are signed in")]`, chromedp.BySearch))
		}
		out, code := c.drive("", false, []step{onOutput(loginURLPattern, func(m []string) { continueAs(m[1], "") })},
			"login", "--auth-type=web", "--browser=false")
		if code != 0 {
			t.Fatalf("npm login --auth-type=web exited %d:\n%s", code, out)
		}
		first := c.savedToken()
		if got := strings.TrimSpace(c.mustRun("", "whoami").Stdout); got != "nora" {
			t.Fatalf("npm whoami after Continue = %q, want nora", got)
		}

		// With 2FA on, the one-time password goes with the click.
		auth := enableTFA(t, srv, "nora", login.Token, "auth-only")
		c = newClient(t, srv, npm)
		out, code = c.drive("", false, []step{onOutput(loginURLPattern, func(m []string) {
			b.run("open the confirmation", chromedp.Navigate(m[1]), chromedp.WaitVisible(`#continue-otp`, chromedp.ByQuery))
			b.screenshot("web-login-continue-otp")
			continueAs(m[1], auth.code(t))
		})}, "login", "--auth-type=web", "--browser=false")
		if code != 0 {
			t.Fatalf("npm login --auth-type=web with 2FA exited %d:\n%s", code, out)
		}
		if tok := c.savedToken(); tok == "" || tok == first || tok == login.Token {
			t.Fatalf("the second web login saved %q, want a new session", tok)
		}
		if got := strings.TrimSpace(c.mustRun("", "whoami").Stdout); got != "nora" {
			t.Fatalf("npm whoami after Continue with the OTP = %q, want nora", got)
		}
	})
}
