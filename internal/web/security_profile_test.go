package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
)

// TestSecurityPasswordChangeOnTheWebsite: changing the password on the
// Profile page signs the user out everywhere else (other browsers, npm
// logins) and keeps this browser signed in; with "Also revoke all my access
// tokens" chosen, the tokens stop working too, and without it they stay.
// Before, every other session lived on.
func TestSecurityPasswordChangeOnTheWebsite(t *testing.T) {
	s := newSite(t)
	npmSession := s.apiUser("alice")
	token := func() string {
		status, b := s.api("POST", "/-/npm/v1/tokens", npmSession, map[string]any{"password": "password-alice", "readonly": true})
		var out struct{ Token string }
		if status != http.StatusCreated || json.Unmarshal(b, &out) != nil {
			t.Fatalf("create a token: %d %s", status, b)
		}
		return out.Token
	}
	kept := token()
	here, elsewhere := s.browser(), s.browser()
	here.signIn("alice", "")
	elsewhere.signIn("alice", "")

	p := here.submit("/settings/alice/profile", "/settings/alice/profile/password",
		url.Values{"current_password": {"password-alice"}, "new_password": {"password-alice-2"}})
	wantIn(t, "change the password", p, http.StatusOK, "your other sessions are signed out")
	wantIn(t, "this browser after the change", here.get("/settings/alice/profile"), http.StatusOK, "Change password")
	if p := elsewhere.get("/settings/alice/profile"); p.status == http.StatusOK {
		t.Fatal("another browser is still signed in after the password change")
	}
	if status, _ := s.api("GET", "/-/whoami", npmSession, nil); status != http.StatusUnauthorized {
		t.Fatalf("npm login session after the change: %d, want 401", status)
	}
	if status, _ := s.api("GET", "/-/whoami", kept, nil); status != http.StatusOK {
		t.Fatalf("an access token after a change that keeps them: %d, want 200", status)
	}

	// Revoking the tokens too.
	npmSession = loginAPI(t, s, "alice", "password-alice-2")
	p = here.submit("/settings/alice/profile", "/settings/alice/profile/password",
		url.Values{"current_password": {"password-alice-2"}, "new_password": {"password-alice-3"}, "revoke_tokens": {"on"}})
	wantIn(t, "change the password and revoke tokens", p, http.StatusOK, "your access tokens revoked")
	if status, _ := s.api("GET", "/-/whoami", kept, nil); status != http.StatusUnauthorized {
		t.Fatalf("an access token after a change that revokes them: %d, want 401", status)
	}
	if status, _ := s.api("GET", "/-/whoami", npmSession, nil); status != http.StatusUnauthorized {
		t.Fatalf("npm login session after the second change: %d, want 401", status)
	}
	wantIn(t, "this browser after the second change", here.get("/settings/alice/profile"), http.StatusOK, "Change password")
}

// TestSecurityEmailChangeOnTheWebsiteNeedsThePassword: the Profile page's
// email form asks for the current password (without 2FA), so that a
// browser left signed in, or a stolen session cookie, cannot change where
// the account's mail goes.
func TestSecurityEmailChangeOnTheWebsiteNeedsThePassword(t *testing.T) {
	s := newSite(t)
	s.apiUser("alice")
	b := s.browser()
	b.signIn("alice", "")
	wantIn(t, "the email form", b.get("/settings/alice/profile"), http.StatusOK, `id="email-password"`)
	for _, c := range []struct{ what, password string }{{"no password", ""}, {"a wrong password", "not the password"}} {
		p := b.submit("/settings/alice/profile", "/settings/alice/profile/email",
			url.Values{"email": {"thief@example.com"}, "password": {c.password}})
		if p.status == http.StatusOK {
			t.Fatalf("email change with %s: %d %s", c.what, p.status, p.body)
		}
		wantNotIn(t, "email change with "+c.what, p, "Your email is now")
	}
	wantIn(t, "the profile after refused changes", b.get("/settings/alice/profile"), http.StatusOK, "alice@example.com")
	p := b.submit("/settings/alice/profile", "/settings/alice/profile/email",
		url.Values{"email": {"alice@new.example"}, "password": {"password-alice"}})
	wantIn(t, "email change with the password", p, http.StatusOK, "Your email is now alice@new.example.")
}

// loginAPI logs in as npm login does and returns the session token.
func loginAPI(t *testing.T, s *site, name, password string) string {
	t.Helper()
	status, b := s.api("PUT", "/-/user/org.couchdb.user:"+name, "", map[string]string{"name": name, "password": password})
	var out struct{ Token string }
	if status != http.StatusCreated || json.Unmarshal(b, &out) != nil || out.Token == "" {
		t.Fatalf("npm login %s: %d %s", name, status, b)
	}
	return out.Token
}
