package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/config"
	gatehouse "github.com/gatehouse-registry/gatehouse/internal/server"
)

// TestAdminDisableAcrossNodes: an account an administrator disables in the
// browser on one node has its session and its granular token refused on
// every node within a second (403, saying why), and its sign-in too;
// enabling it with the command line against the database the three nodes
// share restores them, as fast.
func TestAdminDisableAcrossNodes(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3)
	session := c.nodes[0].createUser(t, "bob")
	granular := createTokenHTTP(t, c.nodes[1], session, "", map[string]any{"password": passwordOf("bob"), "name": "ci",
		"packages_all": true, "packages_and_scopes_permission": "read-write"})
	tokens := map[string]string{"session": session, "granular token": granular}
	status := func(n int, tok string) int { return c.nodes[n].whoami(t, tok).Status }
	// Every node has both tokens in its cache before the change.
	for n := range c.nodes {
		for what, tok := range tokens {
			if got := status(n, tok); got != http.StatusOK {
				t.Fatalf("node %d, bob's %s before: %d", n, what, got)
			}
		}
	}
	c.nodes[0].createUser(t, "root")
	if out, code := c.run(t, "user", "promote", "root", "--data", t.TempDir(), "--key-file", c.keyFile); code != 0 {
		t.Fatalf("gatehouse user promote root: %d\n%s", code, out)
	}
	browser := newBrowser(t)
	browser.signInAt(strings.TrimSuffix(c.nodes[0].URL(), "/"), "root", passwordOf("root"))
	admin := func(verb string) time.Time {
		t.Helper()
		if verb == "disable" {
			// In the browser, on node 0: the page's notice comes once the change is committed.
			notice := browser.adminAction(strings.TrimSuffix(c.nodes[0].URL(), "/"), "bob", verb, passwordOf("root"))
			if !strings.Contains(notice, "bob") {
				t.Fatalf("the disable notice does not name bob: %q", notice)
			}
			return time.Now()
		}
		out, code := c.run(t, "user", verb, "bob", "--data", t.TempDir(), "--key-file", c.keyFile)
		if code != 0 || !strings.Contains(out, verb+"d bob") {
			t.Fatalf("gatehouse user %s bob: %d\n%s", verb, code, out)
		}
		return time.Now()
	}
	for _, step := range []struct {
		verb string
		want int
	}{{"disable", http.StatusForbidden}, {"enable", http.StatusOK}} {
		since := admin(step.verb)
		var slowest time.Duration
		for n := range c.nodes {
			for what, tok := range tokens {
				took := waitFor(t, fmt.Sprintf("bob's %s on node %d after %s", what, n, step.verb), since, func() (bool, string) {
					got := status(n, tok)
					return got == step.want, http.StatusText(got)
				})
				slowest = max(slowest, took)
			}
		}
		t.Logf("%s: every node within %v", step.verb, slowest.Round(time.Millisecond))
		res := c.nodes[2].couchLogin(t, "bob", passwordOf("bob"))
		switch {
		case step.verb == "disable" && (res.Status != http.StatusForbidden || !strings.Contains(string(res.Body), "disabled")):
			t.Errorf("disabled bob signs in on node 2: %s, want 403 saying the account is disabled", res)
		case step.verb == "enable" && res.Status != http.StatusCreated:
			t.Errorf("enabled bob signs in on node 2: %s, want 201", res)
		}
		if step.verb == "disable" {
			if res := c.nodes[1].whoami(t, session); !strings.Contains(string(res.Body), "This account is disabled") {
				t.Errorf("the refusal does not say why: %s", res)
			}
		}
	}
}

// TestAdminResets: after gatehouse user reset-password, the old password
// and the session npm saved stop working, the user sets a new password with
// the link's secret, and npm login works with the new one and not the old;
// after gatehouse user reset-2fa, npm login takes the password alone, and
// writes are refused until the user enables 2FA again.
//
// The new password is set through the account service
// (CompletePasswordReset, on the registry's own database), the call the
// reset page /-/web/reset/SECRET makes: that page is the website's, and
// its browser test goes with it.
func TestAdminResets(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	npm := npm11(t)
	gh := func(args ...string) string {
		t.Helper()
		out, code := runGatehouse(t, "", append(args, "--data", srv.DataDir())...)
		if code != 0 {
			t.Fatalf("gatehouse %s: %d\n%s", strings.Join(args, " "), code, out)
		}
		return out
	}
	login := func(name, password string) (*npmClient, string, int) {
		t.Helper()
		c := newClient(t, srv, npm)
		out, code := c.runInteractive("", loginPrompts(name, password), "login", "--auth-type=legacy")
		return c, out, code
	}

	t.Run("password", func(t *testing.T) {
		srv.createUser(t, "bob")
		bob, out, code := login("bob", passwordOf("bob"))
		if code != 0 {
			t.Fatalf("npm login before the reset: %d\n%s", code, out)
		}
		bob.mustRun("", "whoami")
		out = gh("user", "reset-password", "bob")
		m := regexp.MustCompile(`/-/web/reset/([A-Za-z0-9_-]+)`).FindStringSubmatch(out)
		if m == nil || !strings.Contains(out, "no --url is set") {
			t.Fatalf("reset-password printed no link, or did not say the address is missing:\n%s", out)
		}
		secret := m[1]
		assertFailed(t, bob.run("", "whoami"))
		if _, out, code := login("bob", passwordOf("bob")); code == 0 {
			t.Fatalf("npm login with the old password after the reset succeeded:\n%s", out)
		}

		const newPassword = "a brand new password for bob"
		completeReset(t, srv.DataDir(), secret, newPassword)
		if _, out, code := login("bob", passwordOf("bob")); code == 0 {
			t.Errorf("npm login with the old password after the new one is set succeeded:\n%s", out)
		}
		c, out, code := login("bob", newPassword)
		if code != 0 || !strings.Contains(out, "Logged in") {
			t.Fatalf("npm login with the new password: %d\n%s", code, out)
		}
		if got := strings.TrimSpace(c.mustRun("", "whoami").Stdout); got != "bob" {
			t.Errorf("npm whoami after the reset = %q, want bob", got)
		}
	})

	t.Run("2FA", func(t *testing.T) {
		session := srv.createUser(t, "carol")
		first := enableTFA(t, srv, "carol", session, "auth-and-writes")
		assertOTPChallenge(t, "sign-in with 2FA, no OTP", srv.couchLogin(t, "carol", passwordOf("carol")))
		if out := gh("user", "reset-2fa", "carol"); !strings.Contains(out, "enable it again") {
			t.Fatalf("reset-2fa says:\n%s", out)
		}
		c, out, code := login("carol", passwordOf("carol"))
		if code != 0 || !strings.Contains(out, "Logged in") {
			t.Fatalf("npm login with the password alone after the 2FA reset: %d\n%s", code, out)
		}
		assertFailed(t, tryPublish(c, "carols-lib", "1.0.0"), "administrator reset your two-factor authentication")
		auth := reenableTFA(t, srv, "carol", c.savedToken(), "auth-and-writes", first.last)
		mustSucceed(t, tryPublish(c, "carols-lib", "1.0.0", "--otp="+auth.code(t)))
	})
}

// completeReset sets the password of the account whose reset link holds
// secret, through the account service on the registry's database.
func completeReset(t *testing.T, dataDir, secret, password string) {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = dataDir
	srv, err := gatehouse.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if _, err := srv.Accounts.CompletePasswordReset(t.Context(), "not-the-secret", password, ""); err == nil {
		t.Error("a wrong reset secret set the password")
	}
	if _, err := srv.Accounts.CompletePasswordReset(t.Context(), secret, password, ""); err != nil {
		t.Fatalf("complete the reset: %v", err)
	}
	if _, err := srv.Accounts.CompletePasswordReset(t.Context(), secret, "yet another password here", ""); err == nil {
		t.Error("the reset link worked twice")
	}
}

// reenableTFA turns 2FA on again for a user whose 2FA was reset, as
// enableTFA does, with codes of steps after last: the registry refuses a
// step it has seen, whatever the secret.
func reenableTFA(t *testing.T, srv *server, name, session, mode string, last int64) *authenticator {
	t.Helper()
	res := srv.do(t, http.MethodPost, "-/npm/v1/user", session,
		map[string]any{"tfa": map[string]string{"password": passwordOf(name), "mode": mode}})
	if res.Status != http.StatusOK {
		t.Fatalf("start enabling 2FA again for %s: got %s, want 200", name, res)
	}
	var start struct {
		TFA string `json:"tfa"`
	}
	decodeJSON(t, res.Body, &start)
	a := &authenticator{secret: otpauthSecret(t, start.TFA), last: last}
	if res := srv.do(t, http.MethodPost, "-/npm/v1/user", session, map[string]any{"tfa": []string{a.code(t)}}); res.Status != http.StatusOK {
		t.Fatalf("confirm 2FA again for %s: got %s, want 200", name, res)
	}
	return a
}
