package e2e

import (
	"encoding/base32"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
	"github.com/gatehouse-registry/gatehouse/internal/totp"
)

// signUpInBrowser creates an account through the sign-up page.
func (b *browser) signUp(base, name, password string) {
	b.t.Helper()
	b.run("sign up "+name,
		chromedp.Navigate(base+"/signup"),
		chromedp.WaitVisible(`#username`, chromedp.ByQuery),
		chromedp.SendKeys(`#username`, name, chromedp.ByQuery),
		chromedp.SendKeys(`#email`, name+"@example.com", chromedp.ByQuery),
		chromedp.SendKeys(`#password`, password, chromedp.ByQuery),
		chromedp.Click(`//button[normalize-space()="Create account"]`, chromedp.BySearch),
		chromedp.WaitVisible(`details.menu summary`, chromedp.ByQuery),
	)
}

// startSignedUpInBrowser starts a server and a browser and signs name up
// on the website. It returns the server, the browser, the site's base URL
// (without the trailing slash) and name's password.
func startSignedUpInBrowser(t *testing.T, name string) (*server, *browser, string, string) {
	t.Helper()
	srv := startServer(t)
	b := newBrowser(t)
	base := strings.TrimSuffix(srv.URL(), "/")
	password := "browser password for " + name
	b.signUp(base, name, password)
	return srv, b, base, password
}

// openAccessTokens follows the seed: "In the upper right corner of the page,
// click your profile picture, then click Access Tokens."
func (b *browser) openAccessTokens(base string) {
	b.t.Helper()
	b.run("open Access Tokens from the account menu",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(`details.menu summary`, chromedp.ByQuery),
		chromedp.Click(`details.menu summary`, chromedp.ByQuery),
		chromedp.Click(`//details[contains(@class,"menu")]//a[normalize-space()="Access Tokens"]`, chromedp.BySearch),
		chromedp.WaitVisible(`//h1[normalize-space()="Access Tokens"]`, chromedp.BySearch),
	)
}

// generate opens "Generate New Token" and picks one of its entries.
func (b *browser) generate(entry string) {
	b.t.Helper()
	b.run("Generate New Token → "+entry,
		chromedp.Click(`//summary[normalize-space()="Generate New Token"]`, chromedp.BySearch),
		chromedp.Click(`//a[normalize-space()="`+entry+`"]`, chromedp.BySearch),
		chromedp.WaitVisible(`#password, #token-name`, chromedp.ByQuery),
	)
}

// TestBrowserGranularTokenSeedFlow follows the seed's steps for a granular
// token: sign up, Access Tokens from the account menu, a token with an
// expiry, two IP ranges and read-write on all packages, the review, the
// token read from the page and used with npm to publish, the list showing it
// masked, Delete, and npm refused.
func TestBrowserGranularTokenSeedFlow(t *testing.T) {
	t.Parallel()
	srv, b, base, password := startSignedUpInBrowser(t, "gina")
	b.openAccessTokens(base)
	b.screenshot("access-tokens-empty")
	b.generate("Granular Access Token")
	b.run("fill the granular form",
		chromedp.SendKeys(`#token-name`, "ci deploy", chromedp.ByQuery),
		chromedp.SendKeys(`#token-description`, "publishes from CI", chromedp.ByQuery),
		chromedp.SetValue(`#token-expires`, "30", chromedp.ByQuery),
		chromedp.SendKeys(`#cidr-0`, "127.0.0.0/8", chromedp.ByQuery),
		chromedp.Click(`//button[normalize-space()="Add IP Range"]`, chromedp.BySearch),
		chromedp.WaitVisible(`#cidr-1`, chromedp.ByQuery),
		chromedp.SendKeys(`#cidr-1`, "10.0.0.0/8", chromedp.ByQuery),
		chromedp.SetValue(`#pkg-perm`, "read-write", chromedp.ByQuery),
		chromedp.Click(`#pkg-all`, chromedp.ByQuery),
	)
	b.screenshot("granular-token-form")
	b.run("go to the review",
		chromedp.Click(`//button[@value="review" and normalize-space()="Generate Token"]`, chromedp.BySearch),
		chromedp.WaitVisible(`//button[@value="create"]`, chromedp.BySearch),
	)
	review := b.text("main")
	for _, want := range []string{"ci deploy", "publishes from CI", "30 days", "127.0.0.0/8, 10.0.0.0/8", "Read and write on all packages"} {
		if !strings.Contains(review, want) {
			t.Fatalf("the review does not show %q:\n%s", want, review)
		}
	}
	b.screenshot("granular-token-review")
	b.run("generate the token",
		chromedp.SendKeys(`#password`, password, chromedp.ByQuery),
		chromedp.Click(`//button[@value="create"]`, chromedp.BySearch),
		chromedp.WaitVisible(`#new-token`, chromedp.ByQuery),
	)
	tok := strings.TrimSpace(b.text("#new-token"))
	if !wholeToken.MatchString(tok) {
		t.Fatalf("no token at the top of the page: %q", tok)
	}
	if !strings.Contains(b.html(), `data-copy="#new-token"`) {
		t.Fatal("no Copy button next to the new token")
	}
	b.screenshot("granular-token-created")

	// Use it with npm: read-write on all packages may publish a new package.
	c := newClient(t, srv, npm11(t)).login(tok)
	c.mustRun(makePackage(t, pkgSpec{Name: "gina-lib", Version: "1.0.0"}), "publish")

	// The list shows it masked, and never whole again.
	b.openAccessTokens(base)
	page := b.html()
	if strings.Contains(page, tok) || wholeToken.MatchString(page) {
		t.Fatal("the token list shows a whole token")
	}
	masked := tok[:8] + "..." + tok[len(tok)-4:]
	if !strings.Contains(page, masked) {
		t.Fatalf("the list does not show %s", masked)
	}
	b.screenshot("access-tokens-list")
	// The phone-sized picture, access-tokens-phone, is TestBrowserWebsite's,
	// which checks the page at that width.

	// Delete it, behind a confirmation, and npm is refused.
	b.run("delete the token",
		chromedp.Click(`//tr[contains(., "ci deploy")]//a[normalize-space()="Delete"]`, chromedp.BySearch),
		chromedp.WaitVisible(`//button[normalize-space()="Delete token"]`, chromedp.BySearch),
		chromedp.Click(`//button[normalize-space()="Delete token"]`, chromedp.BySearch),
		chromedp.WaitVisible(`//h1[normalize-space()="Access Tokens"]`, chromedp.BySearch),
	)
	if strings.Contains(b.html(), masked) {
		t.Fatal("the deleted token is still listed")
	}
	c.mustFail(makePackage(t, pkgSpec{Name: "gina-lib", Version: "1.0.1"}), []string{"E401"}, "publish")
}

// TestBrowserClassicReadOnlyToken generates a classic read-only token on the
// page; npm installs a private package with it but cannot publish.
func TestBrowserClassicReadOnlyToken(t *testing.T) {
	t.Parallel()
	srv, b, base, password := startSignedUpInBrowser(t, "hank")
	// hank publishes a private package with a login session from npm.
	res := srv.couchLogin(t, "hank", password)
	var login struct{ Token string }
	decodeJSON(t, res.Body, &login)
	owner := newClient(t, srv, npm11(t)).login(login.Token)
	owner.mustRun(makePackage(t, pkgSpec{Name: "@hank/private", Version: "1.0.0"}), "publish")

	b.openAccessTokens(base)
	b.generate("Classic Token")
	b.screenshot("classic-token-form")
	b.run("generate a read-only token",
		chromedp.SendKeys(`#token-name`, "laptop installs", chromedp.ByQuery),
		chromedp.Click(`#type-read-only`, chromedp.ByQuery),
		chromedp.SendKeys(`#password`, password, chromedp.ByQuery),
		chromedp.Click(`//button[normalize-space()="Generate Token"]`, chromedp.BySearch),
		chromedp.WaitVisible(`#new-token`, chromedp.ByQuery),
	)
	tok := strings.TrimSpace(b.text("#new-token"))
	if !wholeToken.MatchString(tok) {
		t.Fatalf("no token on the page: %q", tok)
	}
	reader := newClient(t, srv, npm11(t)).login(tok)
	project := makeProject(t, map[string]string{"@hank/private": "^1.0.0"})
	reader.mustRun(project, "install")
	assertInstalled(t, project, "@hank/private", "1.0.0")
	reader.mustFail(makePackage(t, pkgSpec{Name: "@hank/private", Version: "1.0.1"}), []string{"E403"}, "publish")

	// The package page, for its owner.
	b.run("open the package page", chromedp.Navigate(base+"/package/@hank/private"),
		chromedp.WaitVisible(`//*[contains(normalize-space(), "npm install @hank/private")]`, chromedp.BySearch))
	b.screenshot("package")
}

// TestBrowserTwoFactor enables 2FA on the page and signs in with an OTP.
func TestBrowserTwoFactor(t *testing.T) {
	t.Parallel()
	_, b, base, password := startSignedUpInBrowser(t, "ivy")
	b.run("open the two-factor page",
		chromedp.Navigate(base+"/settings/ivy/2fa"),
		chromedp.WaitVisible(`#mode-auth-only`, chromedp.ByQuery),
		chromedp.Click(`#mode-auth-only`, chromedp.ByQuery),
		chromedp.SendKeys(`#password`, password, chromedp.ByQuery),
		chromedp.Submit(`#password`, chromedp.ByQuery),
		chromedp.WaitVisible(`#tfa-secret`, chromedp.ByQuery),
	)
	if !strings.Contains(b.html(), "<svg") {
		t.Fatal("no QR code on the page")
	}
	b.screenshot("two-factor-setup")
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.Join(strings.Fields(b.text("#tfa-secret")), ""))
	if err != nil {
		t.Fatalf("the secret on the page is not base32: %v", err)
	}
	// The browser takes a few seconds to type and send the previous step's code.
	testkit.WaitOutStepEnd(totp.Period, 10*time.Second)
	step := totp.Step(time.Now())
	b.run("confirm with an OTP",
		chromedp.SendKeys(`#otp`, totp.Code(secret, step-1), chromedp.ByQuery),
		chromedp.Click(`//button[normalize-space()="Confirm and enable"]`, chromedp.BySearch),
		chromedp.WaitVisible(`#recovery-codes`, chromedp.ByQuery),
	)
	if codes := strings.Fields(b.text("#recovery-codes")); len(codes) != 10 {
		t.Fatalf("%d recovery codes shown", len(codes))
	}
	b.run("sign out", chromedp.Click(`details.menu summary`, chromedp.ByQuery),
		chromedp.Click(`//button[normalize-space()="Sign out"]`, chromedp.BySearch),
		chromedp.WaitVisible(`//a[normalize-space()="Sign in"]`, chromedp.BySearch))
	b.run("sign in: password first",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(`#username`, chromedp.ByQuery),
		chromedp.SendKeys(`#username`, "ivy", chromedp.ByQuery),
		chromedp.SendKeys(`#password`, password, chromedp.ByQuery),
		chromedp.Click(`//button[normalize-space()="Sign in"]`, chromedp.BySearch),
		chromedp.WaitVisible(`#otp`, chromedp.ByQuery),
	)
	if !strings.Contains(b.text("main"), "One-time password") {
		t.Fatal("the sign-in page does not ask for the one-time password")
	}
	b.run("sign in: password and OTP",
		chromedp.SendKeys(`#password`, password, chromedp.ByQuery),
		chromedp.SendKeys(`#otp`, totp.Code(secret, step), chromedp.ByQuery),
		chromedp.Click(`//button[normalize-space()="Sign in"]`, chromedp.BySearch),
		chromedp.WaitVisible(`details.menu summary`, chromedp.ByQuery),
	)
	if loc, _ := url.Parse(b.location()); loc.Path == "/login" {
		t.Fatal("still on the sign-in page")
	}
}
