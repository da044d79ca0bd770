package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestProfileSetPassword changes the password with npm profile set password,
// typed at the prompts as a person would; the old password stops working.
func TestProfileSetPassword(t *testing.T) {
	t.Parallel()
	srv, _, c := startWithUser(t, "pat")
	newPassword := "a brand new password for pat"
	out, code := c.runInteractive("", []prompt{
		{"Current password:", passwordOf("pat")},
		{"New password:", newPassword},
		{"Again:", newPassword},
	}, "profile", "set", "password")
	if code != 0 {
		t.Fatalf("npm profile set password exited %d:\n%s", code, out)
	}
	if res := srv.couchLogin(t, "pat", passwordOf("pat")); res.Status != http.StatusUnauthorized {
		t.Fatalf("the old password still logs in: %s", res)
	}
	if res := srv.couchLogin(t, "pat", newPassword); res.Status != http.StatusCreated {
		t.Fatalf("the new password does not log in: %s", res)
	}
	// A wrong current password changes nothing.
	out, code = c.runInteractive("", []prompt{
		{"Current password:", "not my password"},
		{"New password:", "another password entirely"},
		{"Again:", "another password entirely"},
	}, "profile", "set", "password")
	if code == 0 || !strings.Contains(out, "Incorrect password") {
		t.Fatalf("a wrong current password was accepted (exit %d):\n%s", code, out)
	}
	if res := srv.couchLogin(t, "pat", newPassword); res.Status != http.StatusCreated {
		t.Fatalf("after a refused change the password changed: %s", res)
	}
}
