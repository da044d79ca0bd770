package server

import (
	"testing"
)

// TestPasswordRulesOverHTTP: npm adduser (the couch PUT) and npm profile set
// password (POST /-/npm/v1/user) refuse a password the website refuses,
// with its message, and change nothing.
func TestPasswordRulesOverHTTP(t *testing.T) {
	const msg = "Use a password of at least 10 characters"
	tr := newTestRegistry(t)
	for _, pw := range []string{"x", "123456789"} {
		res := tr.do("PUT", "/-/user/org.couchdb.user:sam", "", map[string]string{"name": "sam", "password": pw, "email": "sam@example.com"})
		if res.status != 400 || res.errorText(t) != msg {
			t.Fatalf("adduser with %q: %d %s", pw, res.status, res.body)
		}
	}
	// No account was made: the name is free for a good password.
	if res := tr.do("PUT", "/-/user/org.couchdb.user:sam", "", map[string]string{"name": "sam", "password": "1234567890",
		"email": "sam@example.com"}); res.status != 201 {
		t.Fatalf("adduser with ten characters: %d %s", res.status, res.body)
	}

	alice := tr.user("alice")
	res := tr.do("POST", "/-/npm/v1/user", alice, map[string]any{"password": map[string]string{"old": "password-alice", "new": "short"}})
	if res.status != 400 || res.errorText(t) != msg {
		t.Fatalf("profile set password to a short one: %d %s", res.status, res.body)
	}
	if res := tr.do("PUT", "/-/user/org.couchdb.user:alice", "", map[string]string{"name": "alice", "password": "password-alice"}); res.status != 201 {
		t.Fatalf("the old password stopped working after a refused change: %d %s", res.status, res.body)
	}
	if res := tr.do("POST", "/-/npm/v1/user", alice, map[string]any{"password": map[string]string{"old": "password-alice", "new": "a good new password"}}); res.status != 200 {
		t.Fatalf("profile set password to a good one: %d %s", res.status, res.body)
	}
	if res := tr.do("PUT", "/-/user/org.couchdb.user:alice", "", map[string]string{"name": "alice", "password": "a good new password"}); res.status != 201 {
		t.Fatalf("the new password: %d %s", res.status, res.body)
	}
	// Existing accounts log in with the password they have: the rule is for
	// setting passwords, not for checking them.
	if res := tr.do("PUT", "/-/user/org.couchdb.user:alice", "", map[string]string{"name": "alice", "password": "short"}); res.status != 401 {
		t.Fatalf("login with a wrong short password: %d %s", res.status, res.body)
	}
}
