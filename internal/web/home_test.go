package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/server/servertest"
)

// TestHomePage: the home page tells npm this registry's real address, says
// npm adduser for a new account, and lists for a signed-in person their
// packages, their organizations and the packages published last; every
// list holds only what its reader may read.
func TestHomePage(t *testing.T) {
	s := newSite(t)
	aliceTok := s.apiUser("alice")
	s.apiUser("bob")
	s.publish(aliceTok, "@alice/secret", "1.0.0", "")
	s.publish(aliceTok, "shared-lib", "1.0.0", "")
	s.publish(aliceTok, "shared-lib", "1.1.0", "")

	anon := s.browser().get("/")
	wantIn(t, "signed out", anon, http.StatusOK, "npm config set registry "+s.url+"/\n", "npm adduser", "npm login",
		"npm config set @your-scope:registry "+s.url+"/", `href="/signup"`,
		`<a href="/package/shared-lib">shared-lib</a> <span class="badge">1.1.0</span>`)
	wantNotIn(t, "signed out", anon, "this registry's URL", "@alice/secret", "Your packages", "Your organizations")

	alice := s.browser()
	if p := alice.signIn("alice", ""); p.status != http.StatusSeeOther {
		t.Fatalf("alice signs in: %d", p.status)
	}
	p := alice.submit("/settings/alice/orgs", "/settings/alice/orgs", url.Values{"name": {"acme"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("create acme: %d %s", p.status, p.body)
	}
	home := alice.get("/")
	wantIn(t, "alice's home", home, http.StatusOK, "npm config set registry "+s.url+"/\nnpm login",
		"npm config set @alice:registry "+s.url+"/",
		`<h2 id="my-packages-heading">Your packages</h2>`,
		`<li><a href="/package/@alice/secret">@alice/secret</a> <span class="badge">read-write</span></li>`,
		`<li><a href="/package/shared-lib">shared-lib</a> <span class="badge">read-write</span></li>`,
		`<h2 id="my-orgs-heading">Your organizations</h2>`,
		`<li><a href="/org/acme">@acme</a> <span class="badge">owner</span></li>`,
		`<a href="/package/@alice/secret">@alice/secret</a> <span class="badge">1.0.0</span> <span class="badge">private</span>`)
	recent := home.body[strings.Index(home.body, `id="recent"`):]
	if strings.Index(recent, "shared-lib") > strings.Index(recent, "@alice/secret") {
		t.Errorf("recently published is not newest first:\n%s", recent)
	}

	// bob sees neither alice's private package nor her organization.
	bob := s.browser()
	if p := bob.signIn("bob", ""); p.status != http.StatusSeeOther {
		t.Fatalf("bob signs in: %d", p.status)
	}
	bobHome := bob.get("/")
	wantIn(t, "bob's home", bobHome, http.StatusOK, "None yet. Publish one", "You are in none.",
		`<a href="/package/shared-lib">shared-lib</a> <span class="badge">1.1.0</span>`)
	wantNotIn(t, "bob's home", bobHome, "@alice/secret", "/org/acme")
}

// TestHomePageLists: a long list of packages is cut, and says how many
// there are in all.
func TestHomePageLists(t *testing.T) {
	s := newSite(t)
	tok := s.apiUser("carl")
	for i := range 12 {
		s.publish(tok, fmt.Sprintf("carl-%02d", i), "1.0.0", "")
	}
	carl := s.browser()
	if p := carl.signIn("carl", ""); p.status != http.StatusSeeOther {
		t.Fatalf("carl signs in: %d", p.status)
	}
	home := carl.get("/")
	wantIn(t, "carl's home", home, http.StatusOK, "carl-00", "carl-09", "and 12 in all",
		"<code>npm access list packages carl</code>")
	mine := home.body[strings.Index(home.body, `id="my-packages"`):strings.Index(home.body, `id="my-orgs-heading"`)]
	if n := strings.Count(mine, "<li>"); n != 10 {
		t.Errorf("%d of carl's packages listed, want 10", n)
	}
	if strings.Contains(mine, "carl-11") {
		t.Error("the list of packages is not cut at ten, by name")
	}
	recent := home.body[strings.Index(home.body, `id="recent"`):]
	if n := strings.Count(recent, "<li>"); n != 10 {
		t.Errorf("%d recently published packages listed, want 10", n)
	}
	if !strings.Contains(recent, "carl-11") || strings.Contains(recent, "carl-01<") {
		t.Errorf("recently published does not hold the ten newest:\n%s", recent)
	}
}

// TestHomePageSettings: the configured public URL is the one shown, and a
// registry closed to sign-ups offers no npm adduser.
func TestHomePageSettings(t *testing.T) {
	cfg := servertest.Config(t)
	cfg.URL = "https://npm.example.com/registry"
	cfg.Registration = "closed"
	_, base := servertest.Start(t, cfg)
	s := &site{t: t, url: base}
	home := s.browser().get("/")
	wantIn(t, "home", home, http.StatusOK, "npm config set registry https://npm.example.com/registry/\nnpm login",
		"Point npm at this registry, then log in:")
	wantNotIn(t, "home", home, "npm adduser", `href="/signup"`, base)
}
