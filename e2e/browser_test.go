package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browser is one headless Chromium with a fresh profile.
type browser struct {
	t   *testing.T
	ctx context.Context
}

// newBrowser starts headless Chromium (Debian's chromium, installed by
// .ci/run). Missing Chromium skips the test, or fails it on CI.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		unavailable(t, "no Chromium on PATH (apt-get install chromium)")
	}
	profile, err := os.MkdirTemp("", "gatehouse-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(profile),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() {
		// Cancel waits for the browser to exit; only then does its profile
		// stop changing, so that removing it leaves nothing behind.
		_ = chromedp.Cancel(ctx)
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
		for deadline := time.Now().Add(5 * time.Second); ; {
			err := os.RemoveAll(profile)
			if _, statErr := os.Stat(profile); err == nil && os.IsNotExist(statErr) || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	if err := chromedp.Run(ctx); err != nil {
		unavailable(t, "start Chromium: %v", err)
	}
	return &browser{t: t, ctx: ctx}
}

// run performs browser actions, failing the test with the page's text on error.
func (b *browser) run(what string, actions ...chromedp.Action) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		var body string
		_ = chromedp.Run(b.ctx, chromedp.Text("body", &body, chromedp.ByQuery))
		b.t.Fatalf("%s: %v\npage text:\n%s", what, err, body)
	}
}

// text returns the visible text of the first element matching sel.
func (b *browser) text(sel string) string {
	b.t.Helper()
	var s string
	b.run("read "+sel, chromedp.Text(sel, &s, chromedp.ByQuery))
	return s
}

// html returns the page's whole HTML.
func (b *browser) html() string {
	b.t.Helper()
	var s string
	b.run("read the page", chromedp.OuterHTML("html", &s, chromedp.ByQuery))
	return s
}

// location returns the current URL.
func (b *browser) location() string {
	b.t.Helper()
	var s string
	b.run("read the location", chromedp.Location(&s))
	return s
}

// screenshot writes the page to docs/screenshots/NAME.png when
// GATEHOUSE_SCREENSHOTS is set (the docs' pictures are taken this way).
func (b *browser) screenshot(name string) {
	b.t.Helper()
	if os.Getenv("GATEHOUSE_SCREENSHOTS") == "" {
		return
	}
	var png []byte
	b.run("screenshot "+name, chromedp.FullScreenshot(&png, 100))
	dir := filepath.Join("..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// TestBrowserSignUpAndAccountMenu signs up on the page and opens the account
// menu in the upper right corner.
func TestBrowserSignUpAndAccountMenu(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	b := newBrowser(t)
	base := strings.TrimSuffix(srv.URL(), "/")
	b.run("open sign-up", chromedp.Navigate(base+"/signup"), chromedp.WaitVisible(`#username`, chromedp.ByQuery))
	b.screenshot("signup")
	b.run("fill the form",
		chromedp.SendKeys(`#username`, "walt", chromedp.ByQuery),
		chromedp.SendKeys(`#email`, "walt@example.com", chromedp.ByQuery),
		chromedp.SendKeys(`#password`, "a long enough password", chromedp.ByQuery),
		chromedp.Click(`//button[normalize-space()="Create account"]`, chromedp.BySearch),
		chromedp.WaitVisible(`details.menu summary`, chromedp.ByQuery),
	)
	if loc := b.location(); !strings.HasSuffix(loc, "/settings/walt/tokens") {
		t.Fatalf("after sign-up the browser is at %s, want the Access Tokens page", loc)
	}
	b.run("go home", chromedp.Navigate(base+"/"), chromedp.WaitVisible(`details.menu summary`, chromedp.ByQuery))
	b.run("open the account menu", chromedp.Click(`details.menu summary`, chromedp.ByQuery),
		chromedp.WaitVisible(`//a[normalize-space()="Access Tokens"]`, chromedp.BySearch))
	for _, link := range []string{"Profile", "Access Tokens", "Organizations", "Sign out"} {
		if !strings.Contains(b.text("details.menu ul"), link) {
			t.Fatalf("the account menu lacks %q", link)
		}
	}
	// The session cookie is HttpOnly: page scripts cannot read it.
	var cookies string
	b.run("read document.cookie", chromedp.Evaluate(`document.cookie`, &cookies))
	if strings.Contains(cookies, "gatehouse_session") {
		t.Fatalf("the session cookie is visible to scripts: %q", cookies)
	}
	b.run("sign out", chromedp.Click(`//button[normalize-space()="Sign out"]`, chromedp.BySearch),
		chromedp.WaitVisible(`//a[normalize-space()="Sign in"]`, chromedp.BySearch))
	b.run("sign in again", chromedp.Navigate(base+"/login"), chromedp.WaitVisible(`#username`, chromedp.ByQuery))
	b.screenshot("login")
	b.run("fill sign-in",
		chromedp.SendKeys(`#username`, "walt", chromedp.ByQuery),
		chromedp.SendKeys(`#password`, "a long enough password", chromedp.ByQuery),
		chromedp.Click(`//button[normalize-space()="Sign in"]`, chromedp.BySearch),
		chromedp.WaitVisible(`details.menu summary`, chromedp.ByQuery),
	)
	if who := b.text("details.menu summary"); !strings.Contains(who, "walt") {
		t.Fatalf("signed in as %q", who)
	}
	// The session token lives only in the HttpOnly cookie, never in a page.
	if tok := wholeToken.FindString(b.html()); tok != "" {
		t.Fatalf("a whole token appears in the page")
	}
	// /settings needs a session: signed out, it leads to the sign-in page.
	b.run("sign out", chromedp.Click(`details.menu summary`, chromedp.ByQuery),
		chromedp.Click(`//button[normalize-space()="Sign out"]`, chromedp.BySearch),
		chromedp.WaitVisible(`//a[normalize-space()="Sign in"]`, chromedp.BySearch))
	b.run("open settings signed out", chromedp.Navigate(base+"/settings"), chromedp.WaitVisible(`#username`, chromedp.ByQuery))
	if loc := b.location(); !strings.Contains(loc, "/login?next=%2Fsettings") {
		t.Fatalf("signed-out /settings went to %s", loc)
	}
}

// wholeToken matches a whole token string of this registry's default format.
var wholeToken = regexp.MustCompile(`npm_[A-Za-z0-9]{36}`)
