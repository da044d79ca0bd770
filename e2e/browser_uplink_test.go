package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

// publishWithReadme publishes name@version to the registry at base with a
// README, public.
func publishWithReadme(t *testing.T, base, token, name, version, readme string) {
	t.Helper()
	pkgJSON := `{"name":"` + name + `","version":"` + version + `","license":"MIT","description":"the ` + name + ` package"}`
	version0 := map[string]any{"name": name, "version": version, "license": "MIT", "description": "the " + name + " package",
		"readme": readme}
	body := testkit.PublishBody(map[string]any{"access": "public", "versions": map[string]any{version: version0}},
		name, version, testkit.PackageTarball(t, pkgJSON))
	res := testkit.Do(t, "PUT", strings.TrimRight(base, "/")+"/"+strings.Replace(name, "/", "%2f", 1), token, body)
	if res.Status/100 != 2 {
		t.Fatalf("publish %s@%s to %s: %s", name, version, base, res)
	}
}

// TestBrowserUplinkPackages: in headless Chromium, the website's search
// through a gatehouse with an uplink lists the local package first, then
// the uplink's, marked; a click opens the proxied package's page, the
// package page local ones have (README, versions, install commands) saying
// where it came from and offering nothing to change; a name in a local
// scope that the upstream also has is a missing package, and the upstream
// is never asked of it.
func TestBrowserUplinkPackages(t *testing.T) {
	t.Parallel()
	up := startServer(t)
	rec := recordUpstream(t, up.URL())
	types := up.createUser(t, "types")
	readme := "# Uplink web\n\nA **proxied** package, from the upstream."
	publishWithReadme(t, up.URL(), types, "uplink-web", "1.0.0", readme)
	publishWithReadme(t, up.URL(), types, "uplink-web", "1.1.0", readme)
	publishWithReadme(t, up.URL(), up.createUser(t, "acme"), "@acme/uplink-web", "9.0.0", "# the upstream's")

	upURL := strings.TrimRight(rec.URL(), "/")
	proxy := startServer(t, "--uplink", "up="+upURL)
	acme := proxy.createUser(t, "acme") // the scope @acme is local here
	publishWithReadme(t, proxy.URL(), acme, "uplink-web-local", "1.0.0", "# Local")
	mark := len(rec.all())

	b := newBrowser(t)
	base := strings.TrimSuffix(proxy.URL(), "/")
	b.run("search", chromedp.Navigate(base+"/search?q=uplink-web"), chromedp.WaitVisible(`ul.hits`, chromedp.ByQuery))
	hits := b.text("ul.hits")
	local, proxied := strings.Index(hits, "uplink-web-local"), strings.Index(hits, "from up")
	if local < 0 || proxied < 0 || strings.Contains(hits, "@acme/uplink-web") {
		t.Fatalf("search results:\n%s", hits)
	}
	if proxied < local {
		t.Errorf("the uplink's result comes before the local package:\n%s", hits)
	}
	if n := b.count(`ul.hits .badge.uplink`); n != 1 {
		t.Errorf("%d results marked as the uplink's, want 1", n)
	}
	b.screenshot("uplink-search")

	b.run("open the proxied package", chromedp.Click(`ul.hits a[href="/package/uplink-web"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#origin`, chromedp.ByQuery))
	if got := b.location(); got != base+"/package/uplink-web" {
		t.Errorf("the result links to %s", got)
	}
	for sel, want := range map[string]string{"#origin-uplink": "up", "#origin-url": upURL, "#origin-badge": "from up",
		"#install-npm": "npm install uplink-web", "#install-pnpm": "pnpm add uplink-web"} {
		if got := strings.TrimSpace(b.text(sel)); got != want {
			t.Errorf("%s = %q, want %q", sel, got, want)
		}
	}
	if got := b.text("#origin-fetched"); !strings.HasSuffix(got, "UTC") {
		t.Errorf("fetched: %q", got)
	}
	if got := b.text("article.readme"); !strings.Contains(got, "A proxied package, from the upstream.") {
		t.Errorf("the README: %q", got)
	}
	if got := b.text("#versions"); !strings.Contains(got, "1.1.0") || !strings.Contains(got, "1.0.0") {
		t.Errorf("the versions: %q", got)
	}
	if n := b.count("main form"); n != 0 {
		t.Errorf("the proxied package's page has %d forms", n)
	}
	if n := b.count("main button:not([data-copy])"); n != 0 {
		t.Errorf("the proxied package's page has %d buttons that are not copy buttons", n)
	}
	b.screenshot("uplink-package")

	b.run("open a local scope's name", chromedp.Navigate(base+"/package/@acme/uplink-web"), chromedp.WaitVisible(`main`, chromedp.ByQuery))
	if got := b.text("main"); !strings.Contains(got, "There is no package named @acme/uplink-web here.") {
		t.Errorf("@acme/uplink-web: %q", got)
	}
	for _, e := range rec.about(mark, "acme") {
		t.Errorf("the upstream was asked about the local scope: %s %s", e.method, e.path)
	}
}
