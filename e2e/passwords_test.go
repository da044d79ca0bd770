package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// passwordRule is the message every way of setting a password gives for a
// password the website refuses.
const passwordRule = "Use a password of at least 10 characters"

// TestPasswordRules: npm adduser, npm profile set password and gatehouse
// user add refuse a password the website refuses, with its message, and
// change nothing.
func TestPasswordRules(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	npm := npm11(t)

	t.Run("npm adduser", func(t *testing.T) {
		c := newClient(t, srv, npm)
		prompts := append(loginPrompts("sam", "too short"), prompt{"Email", emailOf("sam")})
		out, code := c.runInteractive("", prompts, "adduser", "--auth-type=legacy")
		if code == 0 {
			t.Fatalf("npm adduser with a 9-character password succeeded:\n%s", out)
		}
		if !strings.Contains(out, "E400") || !strings.Contains(out, passwordRule) {
			t.Errorf("npm adduser output lacks E400 and %q:\n%s", passwordRule, out)
		}
		if tok := c.savedToken(); tok != "" {
			t.Errorf("a refused adduser saved token %q", tok)
		}
		// No account was made: the name is still free.
		prompts = append(loginPrompts("sam", passwordOf("sam")), prompt{"Email", emailOf("sam")})
		if out, code := c.runInteractive("", prompts, "adduser", "--auth-type=legacy"); code != 0 {
			t.Fatalf("npm adduser with a good password exited %d:\n%s", code, out)
		}
		if got := strings.TrimSpace(c.mustRun("", "whoami").Stdout); got != "sam" {
			t.Errorf("npm whoami after adduser printed %q, want sam", got)
		}
	})

	t.Run("npm profile set password", func(t *testing.T) {
		c := userClient(t, srv, npm, "pat")
		out, code := c.runInteractive("", []prompt{
			{"Current password:", passwordOf("pat")},
			{"New password:", "too short"},
			{"Again:", "too short"},
		}, "profile", "set", "password")
		if code == 0 || !strings.Contains(out, passwordRule) {
			t.Fatalf("npm profile set password to a 9-character password (exit %d):\n%s", code, out)
		}
		if res := srv.couchLogin(t, "pat", passwordOf("pat")); res.Status != http.StatusCreated {
			t.Errorf("the old password stopped working after a refused change: %s", res)
		}
		if res := srv.couchLogin(t, "pat", "too short"); res.Status != http.StatusUnauthorized {
			t.Errorf("the refused password logs in: %s", res)
		}
	})

	t.Run("gatehouse user add", func(t *testing.T) {
		out, code := runGatehouse(t, "too short\n", "user", "add", "una", "--email", emailOf("una"), "--data", srv.DataDir())
		if code == 0 || !strings.Contains(out, passwordRule) {
			t.Fatalf("gatehouse user add with a 9-character password (exit %d):\n%s", code, out)
		}
		if res := srv.couchLogin(t, "una", "too short"); res.Status != http.StatusBadRequest {
			t.Errorf("after the refused user add, logging in as una: got %s, want 400 (no such account; adduser refused)", res)
		}
	})
}
