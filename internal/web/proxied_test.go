package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/server/servertest"
	"github.com/gatehouse-registry/gatehouse/internal/uplink"
)

// proxySite starts a gatehouse whose uplink "up" is the site up.
func proxySite(t *testing.T, up *site) *site {
	t.Helper()
	cfg := servertest.Config(t)
	cfg.Uplinks = []uplink.Spec{uplink.NewSpec("up", up.url)}
	_, url := servertest.Start(t, cfg)
	return &site{t: t, url: url}
}

// makePublic makes a scoped package public, as npm access set
// status=public does.
func (s *site) makePublic(tok, name string) {
	s.t.Helper()
	if status, b := s.api("POST", "/-/package/"+strings.Replace(name, "/", "%2f", 1)+"/access", tok,
		map[string]any{"access": "public"}); status != http.StatusOK {
		s.t.Fatalf("make %s public: %d %s", name, status, b)
	}
}

var fetchedOnPage = regexp.MustCompile(`<time id="origin-fetched" datetime="([^"]+)">`)

// TestProxiedPackagePage: a package served from an uplink has the package
// page a local one has (README, versions, dist-tags, install commands),
// says where it came from (the uplink's name and URL, when it was fetched)
// and offers nothing to change; the search lists it after the local
// packages, marked, linking to that page. A name the visitor may not read
// from the uplink (a local scope's, the shield) is the page of a missing
// package, and so is a name the uplink does not have.
func TestProxiedPackagePage(t *testing.T) {
	up := newSite(t)
	types := up.apiUser("types")
	up.publish(types, "express", "4.18.2", "# Express\n\nFast, **minimalist** web framework.")
	up.publish(types, "express", "5.0.0", "# Express\n\nFast, **minimalist** web framework.")
	up.publish(types, "@types/express", "5.0.0", "# Types")
	up.makePublic(types, "@types/express")
	acmeUp := up.apiUser("acme")
	up.publish(acmeUp, "@acme/express-plugin", "9.0.0", "# The upstream's")
	up.makePublic(acmeUp, "@acme/express-plugin")
	if status, _ := up.api("GET", "/@acme%2fexpress-plugin", "", nil); status != http.StatusOK {
		t.Fatalf("the upstream does not serve @acme/express-plugin to anyone: %d", status)
	}

	proxy := proxySite(t, up)
	alice := proxy.apiUser("alice")
	proxy.publish(alice, "express-local", "1.0.0", "# Local")
	proxy.apiUser("acme") // the scope @acme is local here

	anon := proxy.browser()
	before := time.Now().Add(-time.Second)
	p := anon.get("/package/express")
	wantIn(t, "a proxied package", p, http.StatusOK,
		"<h1>Express</h1>", "<strong>minimalist</strong>",
		`<code id="install-npm">npm install express</code>`, `<code id="install-pnpm">pnpm add express</code>`,
		"<td>latest</td><td>5.0.0</td>", `<h2>Versions <span class="hint">(2)</span></h2>`, "<td>4.18.2", "<td>5.0.0",
		`<span class="badge" id="origin-badge">from up</span>`,
		`<strong id="origin-uplink">up</strong>`, `<code id="origin-url">`+up.url+`</code>`)
	m := fetchedOnPage.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("the page does not say when the package was fetched:\n%s", p.body)
	}
	if at, err := time.Parse(time.RFC3339, m[1]); err != nil || at.Before(before.Truncate(time.Second)) || at.After(time.Now()) {
		t.Errorf("fetched at %q (%v), want between %v and now", m[1], err, before)
	}
	// Nothing to change: no form and no button but the copy buttons in
	// what the page shows of the package, no private badge.
	content := p.body[strings.Index(p.body, `<header class="package-head">`):]
	if n := strings.Count(content, "<form"); n != 0 {
		t.Errorf("the proxied package's page has %d forms", n)
	}
	if buttons, copies := strings.Count(content, "<button"), strings.Count(content, "data-copy="); buttons != copies {
		t.Errorf("the proxied package's page has %d buttons, %d of them copy buttons", buttons, copies)
	}
	wantNotIn(t, "a proxied package", p, `<span class="badge">private</span>`, "could not be asked")

	// The same for a signed-in visitor.
	b := proxy.browser()
	if p := b.signIn("alice", ""); p.status != http.StatusSeeOther {
		t.Fatalf("alice signs in: %d", p.status)
	}
	wantIn(t, "a proxied scoped package, signed in", b.get("/package/@types/express"), http.StatusOK,
		"<h1>Types</h1>", "npm install @types/express", `<strong id="origin-uplink">up</strong>`)

	// A local package's page says nothing of an uplink.
	wantNotIn(t, "a local package", anon.get("/package/express-local"), `id="origin"`, "from up")

	// Search: local packages first, then the uplink's, marked, linking to
	// their pages.
	s := anon.get("/search?q=express")
	wantIn(t, "search", s, http.StatusOK, `href="/package/express-local"`, `href="/package/express"`,
		`href="/package/@types/express"`, `<span class="badge uplink">from up</span>`)
	if local, proxied := strings.Index(s.body, `href="/package/express-local"`), strings.Index(s.body, `href="/package/express"`); local > proxied {
		t.Error("the uplink's results come before the local package")
	}
	if n := strings.Count(s.body, `<span class="badge uplink">from up</span>`); n != 2 {
		t.Errorf("%d results marked as the uplink's, want 2 (express and @types/express)", n)
	}
	wantNotIn(t, "search", s, "@acme/express-plugin")

	// What may not be read from the uplink is a missing package, as is a
	// name the uplink does not have.
	missing := anon.get("/package/nothing-here")
	wantIn(t, "a missing package", missing, http.StatusNotFound, "There is no package named nothing-here here.")
	for _, name := range []string{"@acme/express-plugin", "not-on-the-uplink-either"} {
		for who, br := range map[string]*browser{"anonymous": anon, "alice": b} {
			p := br.get("/package/" + name)
			wantIn(t, who+" on "+name, p, http.StatusNotFound, "There is no package named "+name+" here.")
			wantNotIn(t, who+" on "+name, p, "npm install", "from up", "The upstream's")
			if strings.ReplaceAll(p.body, name, "NAME") != strings.ReplaceAll(missing.body, "nothing-here", "NAME") && who == "anonymous" {
				t.Errorf("%s on %s: the page differs from a missing package's:\n%s", who, name, p.body)
			}
		}
	}
}

// TestProxiedPackageStale: when the uplink cannot be asked any more, the
// package page still shows the cached copy, and says it may be out of
// date.
func TestProxiedPackageStale(t *testing.T) {
	up := newSite(t)
	types := up.apiUser("types")
	up.publish(types, "left-pad", "1.0.0", "# left-pad")
	target, err := url.Parse(up.url)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(httputil.NewSingleHostReverseProxy(target))
	t.Cleanup(front.Close)
	cfg := servertest.Config(t)
	spec := uplink.NewSpec("up", front.URL)
	spec.MaxAge = 0 // every read past the first revalidates
	cfg.Uplinks = []uplink.Spec{spec}
	_, proxyURL := servertest.Start(t, cfg)
	proxy := &site{t: t, url: proxyURL}

	b := proxy.browser()
	p := b.get("/package/left-pad")
	wantIn(t, "left-pad, fetched", p, http.StatusOK, "<h1>left-pad</h1>", `<strong id="origin-uplink">up</strong>`)
	wantNotIn(t, "left-pad, fetched", p, "could not be asked")

	front.CloseClientConnections()
	front.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p = b.get("/package/left-pad")
		if strings.Contains(p.body, "could not be asked") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10s after the uplink went away, the page does not say its copy may be out of date:\n%s", p.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	wantIn(t, "left-pad, stale", p, http.StatusOK, "<h1>left-pad</h1>", "The uplink could not be asked since: this copy may be out of date.")
}
