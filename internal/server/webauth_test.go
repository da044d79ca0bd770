package server

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// postForm submits a browser form and returns the page.
func (tr *testRegistry) postForm(pageURL string, form url.Values) response {
	tr.t.Helper()
	res, err := http.PostForm(pageURL, form)
	if err != nil {
		tr.t.Fatal(err)
	}
	defer res.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := res.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return response{res.StatusCode, res.Header, []byte(b.String())}
}

func TestWebLogin(t *testing.T) {
	tr := newTestRegistry(t)
	tr.user("alice")
	start := tr.do("POST", "/-/v1/login", "", map[string]any{}).json(t)
	loginURL, doneURL := start["loginUrl"].(string), start["doneUrl"].(string)
	if !strings.HasPrefix(loginURL, tr.url+"/-/web/login/") || !strings.HasPrefix(doneURL, tr.url+"/-/v1/login/done/") {
		t.Fatalf("urls: %v", start)
	}
	done := strings.TrimPrefix(doneURL, tr.url)
	if res := tr.do("GET", done, "", nil); res.status != 202 || res.header.Get("Retry-After") == "" {
		t.Fatalf("pending poll: %d %v", res.status, res.header)
	}
	page := tr.do("GET", strings.TrimPrefix(loginURL, tr.url), "", nil)
	if page.status != 200 || !strings.Contains(string(page.body), `<label for="password">Password</label>`) ||
		page.header.Get("Content-Security-Policy") == "" || page.header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("login page: %d %v", page.status, page.header)
	}
	if res := tr.postForm(loginURL, url.Values{"username": {"alice"}, "password": {"nope"}}); res.status != 401 ||
		!strings.Contains(string(res.body), "Incorrect username or password") {
		t.Fatalf("wrong password: %d", res.status)
	}
	if res := tr.do("GET", done, "", nil); res.status != 202 {
		t.Fatalf("still pending after a failed attempt: %d", res.status)
	}
	if res := tr.postForm(loginURL, url.Values{"username": {"alice"}, "password": {"password-alice"}}); res.status != 200 ||
		!strings.Contains(string(res.body), "You are signed in") {
		t.Fatalf("sign in: %d %s", res.status, res.body)
	}
	res := tr.do("GET", done, "", nil)
	tok, _ := res.json(t)["token"].(string)
	if res.status != 200 || tok == "" {
		t.Fatalf("done: %d %s", res.status, res.body)
	}
	if who := tr.do("GET", "/-/whoami", tok, nil); who.json(t)["username"] != "alice" {
		t.Fatalf("whoami with the web login token: %s", who.body)
	}
	if res := tr.do("GET", done, "", nil); res.status != 404 {
		t.Fatalf("the token is handed over once; second poll: %d", res.status)
	}
	if res := tr.do("POST", "/-/v1/login", "", map[string]any{"create": true}); res.status != 404 {
		t.Fatalf("web adduser must fall back to the terminal: %d", res.status)
	}
}

func TestWebOTP(t *testing.T) {
	tr := newTestRegistry(t)
	alice := tr.user("alice")
	secret, _ := tr.enable2FA(alice, "password-alice", "auth-and-writes")
	res := tr.do("PUT", "/demo", alice, publishBody(t, "demo", "1.0.0"), "npm-auth-type", "web", "npm-command", "publish")
	wantOTPChallenge(t, res)
	body := res.json(t)
	authURL, doneURL := body["authUrl"].(string), body["doneUrl"].(string)
	if authURL == "" || doneURL == "" {
		t.Fatalf("no web challenge: %s", res.body)
	}
	done := strings.TrimPrefix(doneURL, tr.url)
	page := tr.do("GET", strings.TrimPrefix(authURL, tr.url), "", nil)
	if !strings.Contains(string(page.body), "npm publish") || !strings.Contains(string(page.body), "One-time password") {
		t.Fatalf("confirm page: %s", page.body)
	}
	if res := tr.postForm(authURL, url.Values{"password": {"password-alice"}, "otp": {otpAt(secret, 0)}}); res.status != 200 ||
		!strings.Contains(string(res.body), "Confirmed") {
		t.Fatalf("confirm: %d %s", res.status, res.body)
	}
	code, _ := tr.do("GET", done, "", nil).json(t)["token"].(string)
	if len(code) != 16 {
		t.Fatalf("web OTP code %q", code)
	}
	if res := tr.do("PUT", "/demo", alice, publishBody(t, "demo", "1.0.0"), "npm-otp", code); res.status != 201 {
		t.Fatalf("publish with the web OTP: %d %s", res.status, res.body)
	}
	wantOTPChallenge(t, tr.do("PUT", "/demo", alice, publishBody(t, "demo", "1.0.1"), "npm-otp", code))
	// Without npm-auth-type: web the challenge stays a plain one.
	if _, ok := tr.do("PUT", "/demo", alice, publishBody(t, "demo", "1.0.2")).json(t)["authUrl"]; ok {
		t.Fatal("a plain challenge carries authUrl")
	}
}
