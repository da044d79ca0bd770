package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrfOn returns the CSRF field of the page at path, as b sees it.
func csrfOn(b *browser, path string) string {
	b.t.Helper()
	p := b.get(path)
	m := csrfField.FindStringSubmatch(p.body)
	if m == nil {
		b.t.Fatalf("no CSRF field on %s (%d): %s", path, p.status, p.body)
	}
	return m[1]
}

// setCookie puts a cookie of the site into b, as a script of a sibling
// host, or a network attacker on plain HTTP, may.
func setCookie(b *browser, name, value string) {
	b.t.Helper()
	u, err := url.Parse(b.site.url)
	if err != nil {
		b.t.Fatal(err)
	}
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// TestSecurityCSRFTokenIsBoundToTheSession: a form's CSRF token is good for
// the session (or, signed out, the browser) it was made for, and for no
// other. Before, the token was a random cookie echoed in the form (double
// submit): anyone able to set that cookie (a sibling host, plain HTTP) chose
// both halves, and a token outlived the session it came with.
func TestSecurityCSRFTokenIsBoundToTheSession(t *testing.T) {
	s := newSite(t)
	s.apiUser("alice")
	s.apiUser("bob")
	alice, bob := s.browser(), s.browser()
	if p := alice.signIn("alice", ""); p.status != http.StatusSeeOther {
		t.Fatalf("alice signs in: %d %s", p.status, p.body)
	}
	if p := bob.signIn("bob", ""); p.status != http.StatusSeeOther {
		t.Fatalf("bob signs in: %d %s", p.status, p.body)
	}
	refused := "The form expired or came from another site"

	// Another session's token.
	aliceToken := csrfOn(alice, "/settings/alice/profile")
	wantIn(t, "bob posts with alice's token", bob.post("/logout", url.Values{"csrf": {aliceToken}}), http.StatusForbidden, refused)
	// None at all.
	wantIn(t, "bob posts with no token", bob.post("/logout", url.Values{}), http.StatusForbidden, refused)
	// A cookie the attacker set, echoed in the form: the old double submit.
	forged := strings.Repeat("A", 43)
	setCookie(bob, "gatehouse_csrf", forged)
	wantIn(t, "bob posts a token equal to a cookie set for him", bob.post("/logout", url.Values{"csrf": {forged}}),
		http.StatusForbidden, refused)

	// A token from before signing in does not work after it.
	carol := s.browser()
	s.apiUser("carol")
	before := csrfOn(carol, "/login")
	if p := carol.signIn("carol", ""); p.status != http.StatusSeeOther {
		t.Fatalf("carol signs in: %d %s", p.status, p.body)
	}
	wantIn(t, "carol posts with the token from before sign-in", carol.post("/logout", url.Values{"csrf": {before}}),
		http.StatusForbidden, refused)
	after := csrfOn(carol, "/settings/carol/profile")
	if after == before {
		t.Fatal("the CSRF token did not change with the session")
	}
	// A token of a session that ended does not work for the next one.
	if p := carol.post("/logout", url.Values{"csrf": {after}}); p.status != http.StatusSeeOther {
		t.Fatalf("carol signs out with her own token: %d %s", p.status, p.body)
	}
	if p := carol.signIn("carol", ""); p.status != http.StatusSeeOther {
		t.Fatalf("carol signs in again: %d %s", p.status, p.body)
	}
	wantIn(t, "carol posts with the last session's token", carol.post("/logout", url.Values{"csrf": {after}}),
		http.StatusForbidden, refused)

	// Signed out, the sign-in and sign-up forms are protected too: a token
	// of another browser, or one matching a cookie the attacker set, is
	// refused, and the browser's own works.
	dave, eve := s.browser(), s.browser()
	s.apiUser("dave")
	eveToken := csrfOn(eve, "/login")
	csrfOn(dave, "/login")
	form := url.Values{"username": {"dave"}, "password": {"password-dave"}}
	form.Set("csrf", eveToken)
	wantIn(t, "sign-in with another browser's token", dave.post("/login", form), http.StatusForbidden, refused)
	signup := url.Values{"csrf": {eveToken}, "username": {"mallory"}, "email": {"mallory@example.com"}, "password": {"password-mallory"}}
	wantIn(t, "sign-up with another browser's token", dave.post("/signup", signup), http.StatusForbidden, refused)
	setCookie(dave, "gatehouse_csrf", forged)
	form.Set("csrf", forged)
	wantIn(t, "sign-in with a token equal to a cookie set for the browser", dave.post("/login", form), http.StatusForbidden, refused)
	form.Set("csrf", csrfOn(dave, "/login"))
	if p := dave.post("/login", form); p.status != http.StatusSeeOther {
		t.Fatalf("dave signs in with his own token: %d %s", p.status, p.body)
	}
}
