package e2e

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

// Confirmations in the browser: `npm login --auth-type=web`, and the OTP
// challenge answered on the registry's page instead of in the terminal
// (npm 11's default auth-type is web). The tests play the person at the
// browser by submitting the page's form.

// Where npm prints the page to open.
const (
	loginURLPattern = `Login at:\s*(https?://\S+)\r?\n`
	authURLPattern  = `Authenticate your account at:\s*(https?://\S+)\r?\n`
)

// browse sends one browser request to rawURL: a GET when form is nil, else
// the form POSTed url-encoded.
func browse(t *testing.T, rawURL string, form url.Values) httpResult {
	t.Helper()
	method := http.MethodGet
	var body io.Reader
	if form != nil {
		method = http.MethodPost
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		t.Fatalf("new request %s %s: %v", method, rawURL, err)
	}
	req.Header.Set("Accept", "text/html")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return testkit.Send(t, req)
}

// assertPage checks a page's status and that it contains each of want.
func assertPage(t *testing.T, what string, res httpResult, status int, want ...string) {
	t.Helper()
	if res.Status != status {
		t.Errorf("%s: got status %d, want %d\n%s", what, res.Status, status, tail(string(res.Body), 4096))
		return
	}
	for _, w := range want {
		if !strings.Contains(string(res.Body), w) {
			t.Errorf("%s: page lacks %q\n%s", what, w, tail(string(res.Body), 4096))
		}
	}
}

// assertConfirmURL checks that npm was sent to the server's confirmation page.
func assertConfirmURL(t *testing.T, srv *server, u string) {
	t.Helper()
	if !strings.HasPrefix(u, srv.URL()+"-/web/login/") {
		t.Fatalf("confirmation URL %q is not under %s-/web/login/", u, srv.URL())
	}
}

const otpField = `name="otp"`

func TestWebLogin(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	npm := npm11(t)
	srv.createUser(t, "dave")
	carolSession := srv.createUser(t, "carol")
	carol := enableTFA(t, srv, "carol", carolSession, "auth-and-writes")

	// dave has no 2FA; npm runs without a terminal and only prints the URL.
	dave := newClient(t, srv, npm)
	out, code := dave.drive("", false, []step{onOutput(loginURLPattern, func(m []string) {
		assertConfirmURL(t, srv, m[1])
		page := browse(t, m[1], nil)
		assertPage(t, "login page", page, http.StatusOK, `name="username"`, `name="password"`)
		if strings.Contains(string(page.Body), otpField) {
			t.Errorf("login page asks for an OTP before knowing the user")
		}
		assertPage(t, "wrong password", browse(t, m[1], url.Values{"username": {"dave"}, "password": {"wrong password"}}),
			http.StatusUnauthorized, "Incorrect username or password")
		assertPage(t, "sign in", browse(t, m[1], url.Values{"username": {"dave"}, "password": {passwordOf("dave")}}),
			http.StatusOK, "You are signed in")
	})}, "login", "--auth-type=web", "--browser=false")
	if code != 0 {
		t.Fatalf("npm login --auth-type=web exited %d:\n%s", code, out)
	}
	if !strings.Contains(out, "Logged in") {
		t.Errorf("npm login output lacks \"Logged in\":\n%s", out)
	}
	if got := strings.TrimSpace(dave.mustRun("", "whoami").Stdout); got != "dave" {
		t.Errorf("npm whoami after web login = %q, want dave", got)
	}

	// carol has 2FA: the page wants her OTP too. On a terminal this time.
	c := newClient(t, srv, npm)
	out, code = c.drive("", true, []step{onOutput(loginURLPattern, func(m []string) {
		assertConfirmURL(t, srv, m[1])
		assertPage(t, "sign in without the OTP", browse(t, m[1], url.Values{"username": {"carol"}, "password": {passwordOf("carol")}}),
			http.StatusUnauthorized, otpField, "one-time password")
		assertPage(t, "sign in with the OTP", browse(t, m[1], url.Values{"username": {"carol"}, "password": {passwordOf("carol")},
			"otp": {carol.code(t)}}), http.StatusOK, "You are signed in")
	})}, "login", "--auth-type=web", "--browser=false")
	if code != 0 {
		t.Fatalf("npm login --auth-type=web for a 2FA user exited %d:\n%s", code, out)
	}
	token := c.savedToken()
	if token == "" || token == carolSession {
		t.Fatalf("web login saved token %q, want a new session", token)
	}
	if got := strings.TrimSpace(c.mustRun("", "whoami").Stdout); got != "carol" {
		t.Errorf("npm whoami after web login = %q, want carol", got)
	}

	// The protocol npm polls: 202 with Retry-After until confirmed, then the
	// token once.
	res := srv.do(t, http.MethodPost, "-/v1/login", "", map[string]any{})
	var start struct {
		LoginURL string `json:"loginUrl"`
		DoneURL  string `json:"doneUrl"`
	}
	if res.Status != http.StatusOK {
		t.Fatalf("POST /-/v1/login: got %s, want 200", res)
	}
	decodeJSON(t, res.Body, &start)
	assertConfirmURL(t, srv, start.LoginURL)
	donePath := strings.TrimPrefix(start.DoneURL, srv.URL())
	if donePath == start.DoneURL {
		t.Fatalf("doneUrl %q is not on the server", start.DoneURL)
	}
	if res := srv.do(t, http.MethodGet, donePath, "", nil); res.Status != http.StatusAccepted || res.Header.Get("Retry-After") == "" {
		t.Errorf("doneUrl before confirming: got %s (Retry-After %q), want 202 with Retry-After", res, res.Header.Get("Retry-After"))
	}
	assertPage(t, "sign in", browse(t, start.LoginURL, url.Values{"username": {"dave"}, "password": {passwordOf("dave")}}),
		http.StatusOK, "You are signed in")
	res = srv.do(t, http.MethodGet, donePath, "", nil)
	var done struct {
		Token string `json:"token"`
	}
	if res.Status != http.StatusOK {
		t.Fatalf("doneUrl after confirming: got %s, want 200", res)
	}
	decodeJSON(t, res.Body, &done)
	if got := whoamiName(t, srv.whoami(t, done.Token)); got != "dave" {
		t.Errorf("whoami with the web login token = %q, want dave", got)
	}
	if res := srv.do(t, http.MethodGet, donePath, "", nil); res.Status != http.StatusNotFound {
		t.Errorf("doneUrl polled after the hand-over: got %s, want 404", res)
	}
}

func TestTwoFactorWebOTP(t *testing.T) {
	t.Parallel()
	srv, session, auth, c := startWithTFA(t, "alice")
	const pkg = "tfa-web"

	// Without a terminal npm does not start the browser flow.
	res := tryPublish(c, pkg, "1.0.0", "--browser=false")
	assertFailed(t, res, "EOTP")
	if strings.Contains(res.Output(), "Authenticate your account at") {
		t.Errorf("npm without a terminal offered the browser:\n%s", res)
	}
	assertVersions(t, srv, pkg)

	// On a terminal, with the default auth-type (web), npm prints the page
	// to confirm on and waits; the person confirms with password and OTP.
	dir := makePackage(t, pkgSpec{Name: pkg, Version: "1.0.0"})
	out, code := c.drive(dir, true, []step{onOutput(authURLPattern, func(m []string) {
		assertConfirmURL(t, srv, m[1])
		assertPage(t, "confirmation page", browse(t, m[1], nil), http.StatusOK,
			"Confirm with two-factor authentication", "alice", otpField)
		assertPage(t, "confirm", browse(t, m[1], url.Values{"password": {passwordOf("alice")}, "otp": {auth.code(t)}}),
			http.StatusOK, "Confirmed")
	})}, "publish", "--browser=false")
	if code != 0 {
		t.Fatalf("npm publish confirmed in the browser exited %d:\n%s", code, out)
	}
	assertVersions(t, srv, pkg, "1.0.0")

	// The same flow over HTTP, as npm does it, for a dist-tag change.
	web := map[string]string{"npm-auth-type": "web"}
	res2 := srv.doHeader(t, http.MethodPut, "-/package/"+pkg+"/dist-tags/beta", session, web, "1.0.0")
	assertOTPChallenge(t, "dist-tag without an OTP", res2)
	var challenge struct {
		AuthURL string `json:"authUrl"`
		DoneURL string `json:"doneUrl"`
	}
	decodeJSON(t, res2.Body, &challenge)
	assertConfirmURL(t, srv, challenge.AuthURL)
	donePath := strings.TrimPrefix(challenge.DoneURL, srv.URL())
	if donePath == challenge.DoneURL || donePath == "" {
		t.Fatalf("doneUrl %q is not on the server", challenge.DoneURL)
	}
	if res := srv.do(t, http.MethodGet, donePath, session, nil); res.Status != http.StatusAccepted || res.Header.Get("Retry-After") == "" {
		t.Errorf("doneUrl before confirming: got %s (Retry-After %q), want 202 with Retry-After", res, res.Header.Get("Retry-After"))
	}
	assertPage(t, "confirm with a wrong OTP", browse(t, challenge.AuthURL,
		url.Values{"password": {passwordOf("alice")}, "otp": {"000000"}}), http.StatusUnauthorized, otpField)
	if res := srv.do(t, http.MethodGet, donePath, session, nil); res.Status != http.StatusAccepted {
		t.Errorf("doneUrl after a wrong OTP: got %s, want 202", res)
	}
	assertPage(t, "confirm", browse(t, challenge.AuthURL,
		url.Values{"password": {passwordOf("alice")}, "otp": {auth.code(t)}}), http.StatusOK, "Confirmed")
	res2 = srv.do(t, http.MethodGet, donePath, session, nil)
	if res2.Status != http.StatusOK {
		t.Fatalf("doneUrl after confirming: got %s, want 200", res2)
	}
	var done struct {
		Token string `json:"token"`
	}
	decodeJSON(t, res2.Body, &done)
	if !regexp.MustCompile(`^[0-9]{16}$`).MatchString(done.Token) {
		t.Errorf("web OTP code = %q, want 16 digits", done.Token)
	}
	if res := srv.do(t, http.MethodGet, donePath, session, nil); res.Status != http.StatusNotFound {
		t.Errorf("doneUrl polled after the hand-over: got %s, want 404", res)
	}
	otp := map[string]string{"npm-otp": done.Token}
	if res := srv.doHeader(t, http.MethodPut, "-/package/"+pkg+"/dist-tags/beta", session, otp, "1.0.0"); res.Status/100 != 2 {
		t.Errorf("dist-tag with the web OTP code: got %s, want 2xx", res)
	}
	var tags map[string]string
	res2 = srv.do(t, http.MethodGet, "-/package/"+pkg+"/dist-tags", "", nil)
	decodeJSON(t, res2.Body, &tags)
	if tags["beta"] != "1.0.0" {
		t.Errorf("dist-tags after the confirmed change = %v, want beta: 1.0.0", tags)
	}
	// The code is good for one request.
	assertOTPChallenge(t, "dist-tag with the web OTP code again",
		srv.doHeader(t, http.MethodPut, "-/package/"+pkg+"/dist-tags/next", session, otp, "1.0.0"))
}
