package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/server"
)

// newSiteWith is newSite with the configuration changed by mutate.
func newSiteWith(t *testing.T, mutate func(*config.Config)) *site {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	mutate(&cfg)
	srv, err := server.Open(context.Background(), cfg, server.NewLogger(io.Discard, "error", false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &site{t: t, url: hs.URL}
}

// TestSignUpPasswordRule: the sign-up page refuses a short password with the
// account service's message, and creates nothing.
func TestSignUpPasswordRule(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	form := func(password string) url.Values {
		return url.Values{"username": {"sam"}, "email": {"sam@example.com"}, "password": {password}}
	}
	p := b.submit("/signup", "/signup", form("123456789"))
	wantIn(t, "nine characters", p, http.StatusBadRequest, "Use a password of at least 10 characters", `value="sam"`)
	// The name is still free: the refused sign-up made no account.
	p = b.submit("/signup", "/signup", form("1234567890"))
	if p.status != http.StatusSeeOther {
		t.Fatalf("ten characters: %d %s", p.status, p.body)
	}
}

// TestClosedSignUp: with registration closed the website neither offers nor
// accepts a sign-up, and the answer is the policy's.
func TestClosedSignUp(t *testing.T) {
	const closed = "Registration is closed on this registry; ask an administrator for an account"
	open := newSite(t).browser()
	wantIn(t, "sign-in page, registration open", open.get("/login"), http.StatusOK, `href="/signup"`)

	s := newSiteWith(t, func(c *config.Config) { c.Registration = "closed" })
	b := s.browser()
	login := b.get("/login")
	wantIn(t, "sign-in page, registration closed", login, http.StatusOK, `name="username"`)
	wantNotIn(t, "sign-in page, registration closed", login, `href="/signup"`)
	wantIn(t, "sign-up page", b.get("/signup"), http.StatusForbidden, closed)
	// A form posted anyway (with the CSRF field of the sign-in page) is refused.
	p := b.submit("/login", "/signup", url.Values{"username": {"sam"}, "email": {"sam@example.com"},
		"password": {"a long enough password"}})
	wantIn(t, "sign-up posted", p, http.StatusForbidden, closed)
	if status, body := s.api("PUT", "/-/user/org.couchdb.user:sam", "", map[string]string{
		"name": "sam", "password": "a long enough password"}); status != http.StatusForbidden {
		t.Fatalf("the refused sign-up made an account: login answered %d %s", status, body)
	}
}
