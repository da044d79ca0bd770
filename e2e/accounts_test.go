package e2e

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// prompt is one question an interactive CLI asks and the line to answer.
type prompt struct {
	match  string // text that shows the question has been asked
	answer string
}

// runInteractive runs the CLI on a pseudo-terminal, answering prompts in
// order, and returns everything it printed and its exit status.
func (c *npmClient) runInteractive(dir string, prompts []prompt, args ...string) (string, int) {
	c.t.Helper()
	steps := make([]step, len(prompts))
	for i, p := range prompts {
		steps[i] = answerLine(regexp.QuoteMeta(p.match), p.answer)
	}
	return c.drive(dir, true, steps, args...)
}

// loginPrompts answers npm's username and password questions.
func loginPrompts(name, password string) []prompt {
	return []prompt{{"Username:", name}, {"Password:", password}}
}

// whoamiName decodes GET /-/whoami and returns the user name.
func whoamiName(t *testing.T, res httpResult) string {
	t.Helper()
	if res.Status != http.StatusOK {
		t.Fatalf("GET /-/whoami: got %s, want 200", res)
	}
	var doc struct {
		Username string `json:"username"`
	}
	decodeJSON(t, res.Body, &doc)
	return doc.Username
}

func TestAccounts(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	npm := npm11(t)
	aliceToken := srv.createUser(t, "alice")

	t.Run("couch PUT token works with npm whoami", func(t *testing.T) {
		if !strings.HasPrefix(aliceToken, "npm_") {
			t.Errorf("token %q does not start with npm_", aliceToken)
		}
		if got := whoamiName(t, srv.whoami(t, aliceToken)); got != "alice" {
			t.Errorf("GET /-/whoami username = %q, want alice", got)
		}
		res := newClient(t, srv, npm).login(aliceToken).mustRun("", "whoami")
		if got := strings.TrimSpace(res.Stdout); got != "alice" {
			t.Errorf("npm whoami printed %q, want alice", got)
		}
	})

	t.Run("existing user logs in again through the couch PUT", func(t *testing.T) {
		res := srv.couchLogin(t, "alice", passwordOf("alice"))
		if res.Status != http.StatusCreated {
			t.Fatalf("login alice: got %s, want 201", res)
		}
		var doc struct {
			Token string `json:"token"`
		}
		decodeJSON(t, res.Body, &doc)
		if doc.Token == "" || doc.Token == aliceToken {
			t.Fatalf("second login token %q: want a new token", doc.Token)
		}
		if got := whoamiName(t, srv.whoami(t, doc.Token)); got != "alice" {
			t.Errorf("whoami with the new token = %q, want alice", got)
		}
	})

	t.Run("wrong password is 401", func(t *testing.T) {
		res := srv.couchLogin(t, "alice", "not the password")
		if res.Status != http.StatusUnauthorized {
			t.Fatalf("login with a wrong password: got %s, want 401", res)
		}
		assertJSONError(t, res)
	})

	t.Run("invalid user names are refused", func(t *testing.T) {
		for _, name := range []string{"Alice", "BOB", "carolX"} {
			res := srv.couchLogin(t, name, passwordOf(name))
			if res.Status < 400 || res.Status > 499 {
				t.Errorf("create user %q: got %s, want a 4xx refusal", name, res)
				continue
			}
			assertJSONError(t, res)
		}
	})

	t.Run("unknown token is 401", func(t *testing.T) {
		res := srv.whoami(t, "npm_notarealtokenatallnotarealtoken00")
		if res.Status != http.StatusUnauthorized {
			t.Fatalf("whoami with an unknown token: got %s, want 401", res)
		}
	})

	// npm login --auth-type=legacy asks for the password directly. (Web
	// login, confirmed in the browser, is tested in webauth_test.go.)
	for _, authType := range []string{"legacy"} {
		t.Run("npm login --auth-type="+authType+" then logout", func(t *testing.T) {
			c := newClient(t, srv, npm)
			out, code := c.runInteractive("", loginPrompts("alice", passwordOf("alice")),
				"login", "--auth-type="+authType)
			if code != 0 {
				t.Fatalf("npm login exited %d; output:\n%s", code, out)
			}
			if !strings.Contains(out, "Logged in") {
				t.Errorf("npm login output lacks \"Logged in\":\n%s", out)
			}
			token := c.savedToken()
			if token == "" {
				t.Fatalf("npm login saved no token in %s:\n%s", c.rc, c.readRC())
			}
			if got := strings.TrimSpace(c.mustRun("", "whoami").Stdout); got != "alice" {
				t.Errorf("npm whoami after login printed %q, want alice", got)
			}

			c.mustRun("", "logout")
			if got := c.savedToken(); got != "" {
				t.Errorf("npm logout left the token in the user config")
			}
			if res := srv.whoami(t, token); res.Status != http.StatusUnauthorized {
				t.Errorf("whoami with the logged-out token: got %s, want 401", res)
			}
			if got := whoamiName(t, srv.whoami(t, aliceToken)); got != "alice" {
				t.Errorf("logout revoked another session: whoami = %q", got)
			}
			c.mustFail("", []string{"ENEEDAUTH", "E401"}, "whoami")
		})
	}

	t.Run("npm login with a wrong password fails with E401", func(t *testing.T) {
		c := newClient(t, srv, npm)
		out, code := c.runInteractive("", loginPrompts("alice", "wrong password"), "login", "--auth-type=legacy")
		if code == 0 {
			t.Fatalf("npm login with a wrong password succeeded:\n%s", out)
		}
		if !strings.Contains(out, "E401") {
			t.Errorf("npm login output lacks E401:\n%s", out)
		}
		if tok := c.savedToken(); tok != "" {
			t.Errorf("failed login saved token %q", tok)
		}
	})

	t.Run("npm adduser creates an account", func(t *testing.T) {
		c := newClient(t, srv, npm)
		prompts := append(loginPrompts("dave", passwordOf("dave")), prompt{"Email", emailOf("dave")})
		out, code := c.runInteractive("", prompts, "adduser", "--auth-type=legacy")
		if code != 0 {
			t.Fatalf("npm adduser exited %d; output:\n%s", code, out)
		}
		if got := strings.TrimSpace(c.mustRun("", "whoami").Stdout); got != "dave" {
			t.Errorf("npm whoami after adduser printed %q, want dave", got)
		}
		if res := srv.couchLogin(t, "dave", passwordOf("dave")); res.Status != http.StatusCreated {
			t.Errorf("log in the new account: got %s, want 201", res)
		}
	})
}

func TestClosedRegistration(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "--registration", "closed")
	npm := npm11(t)

	res := srv.couchLogin(t, "erin", passwordOf("erin"))
	if res.Status < 400 || res.Status > 499 {
		t.Fatalf("create user with registration closed: got %s, want a 4xx refusal", res)
	}
	assertJSONError(t, res)

	out, code := runGatehouse(t, passwordOf("erin")+"\n",
		"user", "add", "erin", "--email", emailOf("erin"), "--data", srv.DataDir())
	if code != 0 {
		t.Fatalf("gatehouse user add exited %d:\n%s", code, out)
	}

	res = srv.couchLogin(t, "erin", passwordOf("erin"))
	if res.Status != http.StatusCreated {
		t.Fatalf("log in the user made by gatehouse user add: got %s, want 201", res)
	}
	if res := srv.couchLogin(t, "erin", "wrong password"); res.Status != http.StatusUnauthorized {
		t.Errorf("wrong password: got %s, want 401", res)
	}

	c := newClient(t, srv, npm)
	out, code = c.runInteractive("", loginPrompts("erin", passwordOf("erin")), "login", "--auth-type=legacy")
	if code != 0 {
		t.Fatalf("npm login as erin exited %d; output:\n%s", code, out)
	}
	if got := strings.TrimSpace(c.mustRun("", "whoami").Stdout); got != "erin" {
		t.Errorf("npm whoami printed %q, want erin", got)
	}

	out, code = runGatehouse(t, "another password\n",
		"user", "add", "erin", "--email", emailOf("erin"), "--data", srv.DataDir())
	if code == 0 {
		t.Errorf("gatehouse user add of an existing name succeeded:\n%s", out)
	}
	if res := srv.couchLogin(t, "erin", passwordOf("erin")); res.Status != http.StatusCreated {
		t.Errorf("erin's password changed by a refused user add: got %s", res)
	}
}

func TestSessionTTL(t *testing.T) {
	t.Parallel()
	// Long enough for npm to start on a busy machine with the session fresh.
	const ttl = 5 * time.Second
	srv := startServer(t, "--session-ttl", ttl.String())
	token := srv.createUser(t, "alice")
	// The session began before this: waiting from here waits long enough.
	issued := time.Now()
	c := newClient(t, srv, npm11(t)).login(token)
	if got := strings.TrimSpace(c.mustRun("", "whoami").Stdout); got != "alice" {
		t.Fatalf("npm whoami with a fresh session = %q, want alice", got)
	}
	time.Sleep(time.Until(issued.Add(ttl + 500*time.Millisecond)))
	if res := srv.whoami(t, token); res.Status != http.StatusUnauthorized {
		t.Errorf("whoami with a session older than --session-ttl: got %s, want 401", res)
	}
	c.mustFail("", []string{"E401"}, "whoami")
	// Logging in again starts a new session.
	if res := srv.couchLogin(t, "alice", passwordOf("alice")); res.Status != http.StatusCreated {
		t.Errorf("log in again after the session expired: got %s, want 201", res)
	}
}

func TestVersionCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: skipped with -short")
	}
	out, code := runGatehouse(t, "", "version")
	if code != 0 {
		t.Fatalf("gatehouse version exited %d:\n%s", code, out)
	}
	if !strings.Contains(out, binaryVersion) {
		t.Errorf("gatehouse version printed %q, want it to contain %q", out, binaryVersion)
	}
}
