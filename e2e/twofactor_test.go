package e2e

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/gatehouse-registry/gatehouse/internal/testkit"
	"github.com/gatehouse-registry/gatehouse/internal/totp"
)

// Two-factor authentication with the real npm CLI: turning it on and off,
// the one-time passwords npm sends or asks for, which tokens skip them, the
// per-package setting and the lockout after repeated failures. The browser
// side (web login, OTP confirmed in the browser) is in webauth_test.go.

// otpChallenge is the error of the OTP challenge, byte for byte.
const otpChallenge = "This operation requires a one-time password."

// prevStepMargin: a code of the previous 30-second step is only used while
// this much of the current step is left, so it is still valid when npm gets
// round to sending it.
const prevStepMargin = 15 * time.Second

// authenticator is the authenticator app of one user: the TOTP secret and the
// recovery codes not used yet. The server accepts each step once and only
// steps after the last one used, so it hands out steps in order and waits
// for the clock when the window (previous, current, next step) is used up.
type authenticator struct {
	secret   []byte
	last     int64 // newest step handed out
	recovery []string
}

// nextStep is the oldest step still accepted at now that is newer than any
// handed out.
func (a *authenticator) nextStep(now time.Time) (int64, bool) {
	cur := totp.Step(now)
	first := cur
	if stepEnd(cur).Sub(now) > prevStepMargin {
		first = cur - 1
	}
	if s := max(first, a.last+1); s <= cur+1 {
		return s, true
	}
	return 0, false
}

// stepEnd is when step ends.
func stepEnd(step int64) time.Time {
	return time.Unix((step+1)*int64(totp.Period/time.Second), 0)
}

// code returns a fresh TOTP code, waiting for the next step when needed.
func (a *authenticator) code(t *testing.T) string {
	t.Helper()
	for {
		now := time.Now()
		if s, ok := a.nextStep(now); ok {
			a.last = s
			return totp.Code(a.secret, s)
		}
		wait := time.Until(stepEnd(totp.Step(now))) + 50*time.Millisecond
		t.Logf("all one-time passwords of this window used; waiting %v for the next step", wait.Round(time.Millisecond))
		time.Sleep(wait)
	}
}

// recoveryCode hands out one unused recovery code.
func (a *authenticator) recoveryCode(t *testing.T) string {
	t.Helper()
	if len(a.recovery) == 0 {
		t.Fatal("no recovery codes left")
	}
	c := a.recovery[0]
	a.recovery = a.recovery[1:]
	return c
}

// anyCode is a TOTP code when one is available without waiting, else a
// recovery code: for steps whose subject is not which kind of code works.
func (a *authenticator) anyCode(t *testing.T) string {
	t.Helper()
	if _, ok := a.nextStep(time.Now()); ok || len(a.recovery) == 0 {
		return a.code(t)
	}
	return a.recoveryCode(t)
}

// otpauthSecret decodes the secret of an otpauth://totp URL.
func otpauthSecret(t *testing.T, raw string) []byte {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" {
		t.Fatalf("%q is not an otpauth://totp URL (%v)", raw, err)
	}
	return decodeSecret(t, u.Query().Get("secret"))
}

// decodeSecret decodes a base32 TOTP secret as an authenticator app would.
func decodeSecret(t *testing.T, s string) []byte {
	t.Helper()
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(strings.TrimRight(s, "=")))
	if err != nil || len(secret) < 10 {
		t.Fatalf("TOTP secret %q does not decode to a key: %v", s, err)
	}
	return secret
}

// startWithTFA starts a server, signs name up and turns their 2FA on for
// auth-and-writes. It returns the server, name's session token, their
// authenticator and an npm 11 client logged in with the session.
func startWithTFA(t *testing.T, name string) (*server, string, *authenticator, *npmClient) {
	t.Helper()
	srv, session, c := startWithUser(t, name)
	return srv, session, enableTFA(t, srv, name, session, "auth-and-writes"), c
}

// enableTFA turns on 2FA for name over HTTP, as npm profile enable-2fa does,
// and returns the user's authenticator with its 10 recovery codes.
func enableTFA(t *testing.T, srv *server, name, session, mode string) *authenticator {
	t.Helper()
	res := srv.do(t, http.MethodPost, "-/npm/v1/user", session,
		map[string]any{"tfa": map[string]string{"password": passwordOf(name), "mode": mode}})
	if res.Status != http.StatusOK {
		t.Fatalf("start enabling 2FA for %s: got %s, want 200", name, res)
	}
	var start struct {
		TFA string `json:"tfa"`
	}
	decodeJSON(t, res.Body, &start)
	a := &authenticator{secret: otpauthSecret(t, start.TFA)}
	assertTFA(t, srv, session, mode, true)
	res = srv.do(t, http.MethodPost, "-/npm/v1/user", session, map[string]any{"tfa": []string{a.code(t)}})
	if res.Status != http.StatusOK {
		t.Fatalf("confirm 2FA for %s: got %s, want 200", name, res)
	}
	var done struct {
		TFA []string `json:"tfa"`
	}
	decodeJSON(t, res.Body, &done)
	if len(done.TFA) != 10 {
		t.Fatalf("confirm 2FA for %s: got %d recovery codes, want 10: %s", name, len(done.TFA), res)
	}
	a.recovery = done.TFA
	assertTFA(t, srv, session, mode, false)
	return a
}

// assertTFA checks GET /-/npm/v1/user: tfa false when mode is "", else
// {mode, pending}.
func assertTFA(t *testing.T, srv *server, token, mode string, pending bool) {
	t.Helper()
	res := srv.do(t, http.MethodGet, "-/npm/v1/user", token, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("GET /-/npm/v1/user: got %s, want 200", res)
	}
	var doc struct {
		TFA json.RawMessage `json:"tfa"`
	}
	decodeJSON(t, res.Body, &doc)
	if mode == "" {
		if string(doc.TFA) != "false" {
			t.Errorf("GET /-/npm/v1/user tfa = %s, want false", doc.TFA)
		}
		return
	}
	var tfa struct {
		Mode    string `json:"mode"`
		Pending bool   `json:"pending"`
	}
	if err := json.Unmarshal(doc.TFA, &tfa); err != nil || tfa.Mode != mode || tfa.Pending != pending {
		t.Errorf("GET /-/npm/v1/user tfa = %s, want {mode: %s, pending: %v}", doc.TFA, mode, pending)
	}
}

// profileTFA is the "two-factor auth" line of `npm profile get`.
func profileTFA(t *testing.T, c *npmClient) string {
	t.Helper()
	res := c.mustRun("", "profile", "get")
	m := regexp.MustCompile(`(?m)^two-factor auth: (.*)$`).FindStringSubmatch(res.Stdout)
	if m == nil {
		t.Fatalf("npm profile get shows no two-factor auth line:\n%s", res)
	}
	return strings.TrimSpace(m[1])
}

// doHeader is server.do with extra request headers.
func (s *server) doHeader(t *testing.T, method, path, token string, header map[string]string, body any) httpResult {
	t.Helper()
	pairs := []string{"Accept", "application/json"}
	for k, v := range header {
		pairs = append(pairs, k, v)
	}
	return testkit.Do(t, method, s.URL()+path, token, body, pairs...)
}

// assertOTPChallenge checks that res is npm's OTP challenge.
func assertOTPChallenge(t *testing.T, what string, res httpResult) {
	t.Helper()
	var doc struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(res.Body, &doc)
	if res.Status != http.StatusUnauthorized || !strings.EqualFold(res.Header.Get("WWW-Authenticate"), "OTP") || doc.Error != otpChallenge {
		t.Errorf("%s: got %s (WWW-Authenticate %q), want 401, WWW-Authenticate: OTP and %q",
			what, res, res.Header.Get("WWW-Authenticate"), otpChallenge)
	}
}

// createTokenHTTP creates a token with the session over HTTP, sending otp
// as npm-otp, and returns the whole token.
func createTokenHTTP(t *testing.T, srv *server, session, otp string, body map[string]any) string {
	t.Helper()
	res := srv.doHeader(t, http.MethodPost, "-/npm/v1/tokens", session, map[string]string{"npm-otp": otp}, body)
	if res.Status != http.StatusCreated && res.Status != http.StatusOK {
		t.Fatalf("POST /-/npm/v1/tokens %v: got %s, want 201", redactPassword(body), res)
	}
	var doc struct {
		Token string `json:"token"`
	}
	decodeJSON(t, res.Body, &doc)
	if !tokenPattern.MatchString(doc.Token) {
		t.Fatalf("POST /-/npm/v1/tokens answered token %q, want a whole npm_ token", doc.Token)
	}
	return doc.Token
}

func redactPassword(body map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range body {
		if k == "password" {
			v = "***"
		}
		out[k] = v
	}
	return out
}

// publishedVersions lists the versions of name the registry serves, nil when
// the package does not exist.
func publishedVersions(t *testing.T, srv *server, name string) []string {
	t.Helper()
	res := srv.do(t, http.MethodGet, name, "", nil)
	if res.Status == http.StatusNotFound {
		return nil
	}
	if res.Status != http.StatusOK {
		t.Fatalf("GET /%s: got %s, want 200 or 404", name, res)
	}
	var doc struct {
		Versions map[string]json.RawMessage `json:"versions"`
	}
	decodeJSON(t, res.Body, &doc)
	var vs []string
	for v := range doc.Versions {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return vs
}

// assertVersions checks that exactly want (sorted) of name are published.
func assertVersions(t *testing.T, srv *server, name string, want ...string) {
	t.Helper()
	if got := publishedVersions(t, srv, name); !slices.Equal(got, want) {
		t.Errorf("published versions of %s = %v, want %v", name, got, want)
	}
}

// tryPublish publishes name@version with npm, whatever the outcome.
func tryPublish(c *npmClient, name, version string, args ...string) cmdResult {
	c.t.Helper()
	return c.run(makePackage(c.t, pkgSpec{Name: name, Version: version}), append([]string{"publish"}, args...)...)
}

// mustSucceed fails the test unless res exited 0.
func mustSucceed(t *testing.T, res cmdResult) {
	t.Helper()
	if res.Code != 0 {
		t.Fatalf("unexpected failure:\n%s", res)
	}
}

// step is one thing a person does while npm runs: wait until the output
// (after what earlier steps matched) matches re, then act on the match and,
// when act says so, type a line.
type step struct {
	re  *regexp.Regexp
	act func(m []string) (line string, send bool)
}

// answerLine types line when pattern shows up.
func answerLine(pattern, line string) step {
	return step{regexp.MustCompile(pattern), func([]string) (string, bool) { return line, true }}
}

// answerWith types what f returns when pattern shows up; f gets the match.
func answerWith(pattern string, f func(m []string) string) step {
	return step{regexp.MustCompile(pattern), func(m []string) (string, bool) { return f(m), true }}
}

// onOutput runs f on the match when pattern shows up, typing nothing.
func onOutput(pattern string, f func(m []string)) step {
	return step{regexp.MustCompile(pattern), func(m []string) (string, bool) { f(m); return "", false }}
}

// stepTimeout bounds the wait for one step's output of a driven command
// (commandTimeout bounds the whole command).
const stepTimeout = 30 * time.Second

// drive runs the CLI with a person reacting to what it prints: on a
// pseudo-terminal (tty) or with plain pipes and no input. It returns all the
// output and the exit status.
func (c *npmClient) drive(dir string, tty bool, steps []step, args ...string) (string, int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := c.command(ctx, dir, args...)
	label := c.tool.name + " " + strings.Join(args, " ")
	out := &testkit.SyncBuffer{}
	var term *os.File
	copied := make(chan struct{})
	if tty {
		f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 50, Cols: 250})
		if err != nil {
			c.t.Fatalf("start %s on a pseudo-terminal: %v", label, err)
		}
		defer f.Close()
		term = f
		go func() {
			defer close(copied)
			// Ends with EIO once the child and its terminal are gone.
			_, _ = io.Copy(out, f)
		}()
	} else {
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			c.t.Fatalf("start %s: %v", label, err)
		}
		close(copied)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	seen := 0
	for _, s := range steps {
		deadline := time.Now().Add(stepTimeout)
		var m []string
		for m == nil {
			text := out.String()
			if loc := s.re.FindStringSubmatchIndex(text[seen:]); loc != nil {
				for i := 0; i < len(loc); i += 2 {
					if loc[i] < 0 {
						m = append(m, "")
					} else {
						m = append(m, text[seen+loc[i]:seen+loc[i+1]])
					}
				}
				seen += loc[1]
				break
			}
			select {
			case err := <-exited:
				select {
				case <-copied:
				case <-time.After(2 * time.Second):
				}
				c.t.Fatalf("%s exited (%v) before showing %q; output:\n%s", label, err, s.re, out.String())
			default:
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("%s never showed %q; output:\n%s", label, s.re, out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		line, send := s.act(m)
		if !send {
			continue
		}
		if term == nil {
			c.t.Fatalf("%s: cannot type %q without a terminal", label, s.re)
		}
		if _, err := term.Write([]byte(line + "\r")); err != nil {
			c.t.Fatalf("%s: answer %q: %v", label, s.re, err)
		}
	}
	var waitErr error
	select {
	case waitErr = <-exited:
	case <-ctx.Done():
		c.t.Fatalf("%s did not finish within %v; output:\n%s", label, commandTimeout, out.String())
	}
	select {
	case <-copied:
	case <-time.After(5 * time.Second):
	}
	code := 0
	if waitErr != nil {
		var exit *exec.ExitError
		if !errors.As(waitErr, &exit) {
			c.t.Fatalf("%s: %v", label, waitErr)
		}
		code = exit.ExitCode()
	}
	return out.String(), code
}

// Prompts npm shows.
const (
	passwordPrompt  = `npm password:`
	otpPrompt       = `Enter OTP:`
	enableOTPPrompt = `(?s)Or enter code:\s*([A-Za-z2-7]+)\s.*And an OTP code from your authenticator:`
)

var recoveryLine = regexp.MustCompile(`(?m)^\s*([0-9a-f]{20})\r?$`)

// enableWithNPM runs `npm profile enable-2fa MODE` on a pseudo-terminal as a
// person would and returns the authenticator it set up, with the recovery
// codes npm printed.
func enableWithNPM(t *testing.T, c *npmClient, name, mode string) *authenticator {
	t.Helper()
	var a *authenticator
	out, code := c.drive("", true, []step{
		answerLine(passwordPrompt, passwordOf(name)),
		answerWith(enableOTPPrompt, func(m []string) string {
			a = &authenticator{secret: decodeSecret(t, m[1])}
			return a.code(t)
		}),
	}, "profile", "enable-2fa", mode)
	if code != 0 {
		t.Fatalf("npm profile enable-2fa %s exited %d:\n%s", mode, code, out)
	}
	if !strings.Contains(out, "Scan into your authenticator app") || !strings.Contains(out, "\x1b[40m  \x1b[0m") {
		t.Errorf("npm profile enable-2fa showed no QR code:\n%s", out)
	}
	if !strings.Contains(out, "2FA successfully enabled") {
		t.Errorf("npm profile enable-2fa did not report success:\n%s", out)
	}
	for _, m := range recoveryLine.FindAllStringSubmatch(out, -1) {
		if !slices.Contains(a.recovery, m[1]) {
			a.recovery = append(a.recovery, m[1])
		}
	}
	if len(a.recovery) != 10 {
		t.Errorf("npm profile enable-2fa printed %d distinct recovery codes, want 10:\n%s", len(a.recovery), out)
	}
	return a
}

func TestTwoFactorEnable(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	npm := npm11(t)

	// alice: auth-and-writes, set up through npm as a person would.
	aliceSession := srv.createUser(t, "alice")
	alice := newClient(t, srv, npm).login(aliceSession)
	if got := profileTFA(t, alice); got != "disabled" {
		t.Errorf("npm profile get before enabling: two-factor auth = %q, want disabled", got)
	}
	aliceAuth := enableWithNPM(t, alice, "alice", "auth-and-writes")
	if got := profileTFA(t, alice); got != "auth-and-writes" {
		t.Errorf("npm profile get: two-factor auth = %q, want auth-and-writes", got)
	}
	assertTFA(t, srv, aliceSession, "auth-and-writes", false)

	// Writes now need an OTP; a recovery code npm printed is one.
	assertFailed(t, tryPublish(alice, "tfa-enable", "1.0.0"), "EOTP")
	assertVersions(t, srv, "tfa-enable")
	mustSucceed(t, tryPublish(alice, "tfa-enable", "1.0.0", "--otp="+aliceAuth.recoveryCode(t)))
	assertVersions(t, srv, "tfa-enable", "1.0.0")

	// Enabling again with the same mode changes nothing.
	res := alice.mustRun("", "profile", "enable-2fa", "auth-and-writes")
	if !strings.Contains(res.Stdout, "already enabled") {
		t.Errorf("npm profile enable-2fa with the current mode:\n%s", res)
	}

	// bob: auth-only.
	bobSession := srv.createUser(t, "bob")
	bob := newClient(t, srv, npm).login(bobSession)
	bobAuth := enableWithNPM(t, bob, "bob", "auth-only")
	if got := profileTFA(t, bob); got != "auth-only" {
		t.Errorf("npm profile get: two-factor auth = %q, want auth-only", got)
	}
	assertTFA(t, srv, bobSession, "auth-only", false)
	// auth-only: publishing needs no OTP, creating a token does.
	mustSucceed(t, tryPublish(bob, "tfa-auth-only", "1.0.0"))
	assertVersions(t, srv, "tfa-auth-only", "1.0.0")
	body := map[string]any{"password": passwordOf("bob"), "readonly": true}
	assertOTPChallenge(t, "auth-only user creates a token without an OTP",
		srv.do(t, http.MethodPost, "-/npm/v1/tokens", bobSession, body))
	tok := createTokenHTTP(t, srv, bobSession, bobAuth.code(t), body)
	if got := whoamiName(t, srv.whoami(t, tok)); got != "bob" {
		t.Errorf("whoami with bob's new token = %q, want bob", got)
	}
}

func TestTwoFactorPublishOTP(t *testing.T) {
	t.Parallel()
	srv, _, auth, c := startWithTFA(t, "alice")
	const pkg = "tfa-publish"

	// No OTP and no terminal to ask on: EOTP.
	assertFailed(t, tryPublish(c, pkg, "1.0.0"), "EOTP")
	assertVersions(t, srv, pkg)

	code := auth.code(t)
	mustSucceed(t, tryPublish(c, pkg, "1.0.0", "--otp="+code))
	assertVersions(t, srv, pkg, "1.0.0")

	// The same code a second time is a replay.
	assertFailed(t, tryPublish(c, pkg, "1.0.1", "--otp="+code), "EOTP")
	assertVersions(t, srv, pkg, "1.0.0")

	// On a terminal with legacy auth npm asks for the code.
	dir := makePackage(t, pkgSpec{Name: pkg, Version: "1.0.1"})
	out, exit := c.drive(dir, true, []step{
		answerWith(otpPrompt, func([]string) string { return auth.code(t) }),
	}, "publish", "--auth-type=legacy")
	if exit != 0 {
		t.Fatalf("npm publish answering the OTP prompt exited %d:\n%s", exit, out)
	}
	if !strings.Contains(out, "+ "+pkg+"@1.0.1") {
		t.Errorf("npm publish output lacks \"+ %s@1.0.1\":\n%s", pkg, out)
	}
	assertVersions(t, srv, pkg, "1.0.0", "1.0.1")
}

func TestTwoFactorTokenKinds(t *testing.T) {
	t.Parallel()
	srv, session, auth, alice := startWithTFA(t, "alice")
	npm := alice.tool
	password := passwordOf("alice")

	// Creating tokens needs an OTP once 2FA is on.
	assertOTPChallenge(t, "create an automation token without an OTP",
		srv.do(t, http.MethodPost, "-/npm/v1/tokens", session, map[string]any{"password": password, "automation": true}))
	automation := createTokenHTTP(t, srv, session, auth.code(t), map[string]any{"password": password, "automation": true})
	legacyPublish := createTokenHTTP(t, srv, session, auth.anyCode(t), map[string]any{"password": password, "readonly": false})
	bypass := createdToken(t, alice.run("", "token", "create", "--name", "ci-bypass", "--packages-all",
		"--packages-and-scopes-permission", "read-write", "--bypass-2fa",
		"--password", password, "--otp="+auth.anyCode(t)))
	granular := createdToken(t, alice.run("", "token", "create", "--name", "ci", "--packages-all",
		"--packages-and-scopes-permission", "read-write",
		"--password", password, "--otp="+auth.anyCode(t)))

	const pkg = "tfa-tokens"
	withAutomation := newClient(t, srv, npm).login(automation)
	mustSucceed(t, tryPublish(withAutomation, pkg, "1.0.0"))
	withBypass := newClient(t, srv, npm).login(bypass)
	mustSucceed(t, tryPublish(withBypass, pkg, "1.1.0"))
	assertVersions(t, srv, pkg, "1.0.0", "1.1.0")

	withLegacy := newClient(t, srv, npm).login(legacyPublish)
	assertFailed(t, tryPublish(withLegacy, pkg, "1.2.0"), "EOTP")
	withGranular := newClient(t, srv, npm).login(granular)
	assertFailed(t, tryPublish(withGranular, pkg, "1.2.0"), "EOTP")
	assertVersions(t, srv, pkg, "1.0.0", "1.1.0")
	// Asked means an OTP lets them through.
	mustSucceed(t, tryPublish(withLegacy, pkg, "1.2.0", "--otp="+auth.recoveryCode(t)))
	mustSucceed(t, tryPublish(withGranular, pkg, "1.3.0", "--otp="+auth.recoveryCode(t)))
	assertVersions(t, srv, pkg, "1.0.0", "1.1.0", "1.2.0", "1.3.0")

	// A bypass token skips the OTP for package writes only: package access
	// settings are governance, refused with 403.
	assertFailed(t, withBypass.run("", "access", "set", "mfa=none", pkg), "E403")
}

func TestTwoFactorPackageMFA(t *testing.T) {
	t.Parallel()
	srv, session, auth, alice := startWithTFA(t, "alice")
	npm := alice.tool
	password := passwordOf("alice")
	automation := newClient(t, srv, npm).login(createTokenHTTP(t, srv, session, auth.anyCode(t),
		map[string]any{"password": password, "automation": true}))
	bypass := newClient(t, srv, npm).login(createTokenHTTP(t, srv, session, auth.anyCode(t),
		map[string]any{"password": password, "name": "bypass", "packages_all": true,
			"packages_and_scopes_permission": "read-write", "bypass_2fa": true}))

	const pkg = "tfa-mfa"
	mustSucceed(t, tryPublish(automation, pkg, "1.0.0"))
	assertMFA := func(want string) {
		t.Helper()
		res := srv.do(t, http.MethodGet, "-/package/"+pkg+"/access", session, nil)
		var doc struct {
			MFA string `json:"mfa"`
		}
		if res.Status != http.StatusOK {
			t.Fatalf("GET /-/package/%s/access: got %s, want 200", pkg, res)
		}
		decodeJSON(t, res.Body, &doc)
		if doc.MFA != want {
			t.Errorf("GET /-/package/%s/access: mfa = %q, want %q (%s)", pkg, doc.MFA, want, res)
		}
	}
	assertMFA("none")

	// Changing the setting is a write: it needs an OTP.
	assertFailed(t, alice.run("", "access", "set", "mfa=publish", pkg), "EOTP")
	assertMFA("none")
	alice.mustRun("", "access", "set", "mfa=publish", pkg, "--otp="+auth.anyCode(t))
	assertMFA("publish")
	// mfa=publish: every publish needs an OTP, whatever the token.
	assertFailed(t, tryPublish(automation, pkg, "1.1.0"), "EOTP")
	assertFailed(t, tryPublish(bypass, pkg, "1.1.0"), "EOTP")
	assertVersions(t, srv, pkg, "1.0.0")
	mustSucceed(t, tryPublish(automation, pkg, "1.1.0", "--otp="+auth.recoveryCode(t)))
	assertVersions(t, srv, pkg, "1.0.0", "1.1.0")

	// mfa=automation: automation and bypass tokens are let through again.
	alice.mustRun("", "access", "set", "mfa=automation", pkg, "--otp="+auth.recoveryCode(t))
	assertMFA("automation")
	mustSucceed(t, tryPublish(automation, pkg, "1.2.0"))
	mustSucceed(t, tryPublish(bypass, pkg, "1.3.0"))
	assertFailed(t, tryPublish(alice, pkg, "1.4.0"), "EOTP")
	assertVersions(t, srv, pkg, "1.0.0", "1.1.0", "1.2.0", "1.3.0")

	alice.mustRun("", "access", "set", "mfa=none", pkg, "--otp="+auth.recoveryCode(t))
	assertMFA("none")
	mustSucceed(t, tryPublish(automation, pkg, "1.4.0"))
	assertVersions(t, srv, pkg, "1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0")
}

func TestTwoFactorPasswordLogin(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	session := srv.createUser(t, "carol")
	auth := enableTFA(t, srv, "carol", session, "auth-only")

	// The password alone is not enough any more.
	assertOTPChallenge(t, "couch login without an OTP", srv.couchLogin(t, "carol", passwordOf("carol")))

	c := newClient(t, srv, npm11(t))
	out, code := c.drive("", true, append(loginSteps("carol"),
		answerWith(otpPrompt, func([]string) string { return auth.code(t) })),
		"login", "--auth-type=legacy")
	if code != 0 {
		t.Fatalf("npm login --auth-type=legacy with an OTP exited %d:\n%s", code, out)
	}
	if !strings.Contains(out, "Logged in") {
		t.Errorf("npm login output lacks \"Logged in\":\n%s", out)
	}
	token := c.savedToken()
	if token == "" || token == session {
		t.Fatalf("npm login saved token %q, want a new session token", token)
	}
	if got := strings.TrimSpace(c.mustRun("", "whoami").Stdout); got != "carol" {
		t.Errorf("npm whoami after login = %q, want carol", got)
	}

	// A wrong OTP is refused and saves nothing.
	c2 := newClient(t, srv, npm11(t))
	out, code = c2.drive("", true, append(loginSteps("carol"), answerLine(otpPrompt, "000000")),
		"login", "--auth-type=legacy")
	if code == 0 {
		t.Errorf("npm login with a wrong OTP succeeded:\n%s", out)
	}
	if tok := c2.savedToken(); tok != "" {
		t.Errorf("npm login with a wrong OTP saved a token")
	}
}

func TestTwoFactorDisable(t *testing.T) {
	t.Parallel()
	srv, session, auth, c := startWithTFA(t, "erin")
	const pkg = "tfa-disable"

	// A recovery code works once.
	rc := auth.recoveryCode(t)
	mustSucceed(t, tryPublish(c, pkg, "1.0.0", "--otp="+rc))
	assertFailed(t, tryPublish(c, pkg, "1.1.0", "--otp="+rc), "EOTP")
	assertVersions(t, srv, pkg, "1.0.0")

	out, code := c.drive("", true, []step{
		answerLine(passwordPrompt, passwordOf("erin")),
		answerWith(otpPrompt, func([]string) string { return auth.code(t) }),
	}, "profile", "disable-2fa", "--auth-type=legacy")
	if code != 0 {
		t.Fatalf("npm profile disable-2fa exited %d:\n%s", code, out)
	}
	if !strings.Contains(out, "Two factor authentication disabled.") {
		t.Errorf("npm profile disable-2fa output:\n%s", out)
	}
	if got := profileTFA(t, c); got != "disabled" {
		t.Errorf("npm profile get after disable-2fa: two-factor auth = %q, want disabled", got)
	}
	assertTFA(t, srv, session, "", false)
	mustSucceed(t, tryPublish(c, pkg, "1.1.0"))
	assertVersions(t, srv, pkg, "1.0.0", "1.1.0")
	res := c.mustRun("", "profile", "disable-2fa")
	if !strings.Contains(res.Stdout, "not enabled") {
		t.Errorf("npm profile disable-2fa with 2FA off:\n%s", res)
	}
}

// assertLocked checks a lockout answer: 429, Retry-After of at most 5
// minutes, and "Too many failed" in the error.
func assertLocked(t *testing.T, what string, res httpResult) {
	t.Helper()
	if res.Status != http.StatusTooManyRequests {
		t.Errorf("%s: got %s, want 429", what, res)
		return
	}
	secs, err := strconv.Atoi(res.Header.Get("Retry-After"))
	if err != nil || secs <= 0 || secs > 301 {
		t.Errorf("%s: Retry-After %q, want 1..300 seconds", what, res.Header.Get("Retry-After"))
	}
	if !strings.Contains(string(res.Body), "Too many failed") {
		t.Errorf("%s: body %s lacks \"Too many failed\"", what, res.Body)
	}
}

func TestOTPLockout(t *testing.T) {
	t.Parallel()
	srv, session, auth, c := startWithTFA(t, "frank")
	const pkg = "tfa-lockout"

	for i := 0; i < 5; i++ {
		assertFailed(t, tryPublish(c, pkg, "1.0.0", "--otp=000000"), "EOTP")
	}
	// Locked: the right code is refused too. (No fetch retries: npm would
	// otherwise retry the 429 with back-off for half a minute.)
	res := tryPublish(c, pkg, "1.0.0", "--otp="+auth.code(t), "--fetch-retries=0")
	assertFailed(t, res, "429", "Too many failed")
	assertVersions(t, srv, pkg)

	lock := srv.doHeader(t, http.MethodPost, "-/npm/v1/tokens", session, map[string]string{"npm-otp": auth.code(t)},
		map[string]any{"password": passwordOf("frank"), "readonly": true})
	assertLocked(t, "create a token with the right OTP while locked", lock)
	// The lock is on the OTP path: reading still works.
	if got := strings.TrimSpace(c.mustRun("", "whoami").Stdout); got != "frank" {
		t.Errorf("npm whoami while the OTP path is locked = %q, want frank", got)
	}
	if !srv.LogHas(func(logs string) bool { return strings.Contains(logs, "locked after repeated failures") }) {
		t.Errorf("the server log does not record the lock")
	}
}

func TestPasswordLockout(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	srv.createUser(t, "gina")
	for i := 0; i < 5; i++ {
		if res := srv.couchLogin(t, "gina", "wrong password"); res.Status != http.StatusUnauthorized {
			t.Fatalf("wrong password #%d: got %s, want 401", i+1, res)
		}
	}
	assertLocked(t, "couch login with the right password while locked", srv.couchLogin(t, "gina", passwordOf("gina")))

	c := newClient(t, srv, npm11(t))
	out, code := c.drive("", true, loginSteps("gina"), "login", "--auth-type=legacy", "--fetch-retries=0")
	if code == 0 {
		t.Fatalf("npm login while locked succeeded:\n%s", out)
	}
	if !strings.Contains(out, "429") || !strings.Contains(out, "Too many failed") {
		t.Errorf("npm login while locked: output lacks 429 and \"Too many failed\":\n%s", out)
	}
	if tok := c.savedToken(); tok != "" {
		t.Errorf("npm login while locked saved a token")
	}
}

// loginSteps answers npm's legacy login prompts for name.
func loginSteps(name string) []step {
	return []step{answerLine(`Username:`, name), answerLine(`Password:`, passwordOf(name))}
}
