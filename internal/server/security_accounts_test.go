package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/store/pgtest"
	"github.com/gatehouse-registry/gatehouse/internal/totp"
)

// The account side of the security test suite (issue 14): each test is named
// for the attack it holds shut, over HTTP as a client would try it.

// behindProxy makes the registry believe X-Forwarded-For from loopback, so
// that a test can speak from many client addresses.
func behindProxy(c *config.Config) {
	c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
}

// fromAddr is the header that makes a request come from addr behind the proxy.
func fromAddr(addr string) []string { return []string{"X-Forwarded-For", addr} }

// send is one request from a goroutine: it returns the status, or 0 and the
// error, instead of failing the test from outside its goroutine.
func send(method, url, tok string, body any, header ...string) (int, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}

// burst sends n requests at once, spread over the registries' URLs, and
// counts the answers other than 429.
func burst(t *testing.T, urls []string, n int, method, path, tok string, body any, header ...string) int {
	t.Helper()
	var mu sync.Mutex
	answered := 0
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, err := send(method, urls[i%len(urls)]+path, tok, body, header...)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			if status != http.StatusTooManyRequests {
				answered++
			}
		}()
	}
	wg.Wait()
	return answered
}

// onEveryDatabase runs fn with one registry on SQLite, one on PostgreSQL,
// and two on one PostgreSQL database (two nodes sharing it and their key).
func onEveryDatabase(t *testing.T, fn func(t *testing.T, nodes []*testRegistry)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, []*testRegistry{newTestRegistry(t)}) })
	t.Run("postgres", func(t *testing.T) {
		u, _ := pgtest.NewDatabase(t, pgtest.AdminURL(t, "the lockout on PostgreSQL"), "gatehouse_security")
		fn(t, []*testRegistry{newTestRegistry(t, func(c *config.Config) { c.Database = u })})
	})
	t.Run("two nodes on postgres", func(t *testing.T) {
		u, _ := pgtest.NewDatabase(t, pgtest.AdminURL(t, "the lockout across nodes"), "gatehouse_security")
		key := filepath.Join(t.TempDir(), "shared.key")
		node := func(c *config.Config) { c.Database, c.KeyFile = u, key }
		fn(t, []*testRegistry{newTestRegistry(t, node), newTestRegistry(t, node)})
	})
}

func urlsOf(nodes []*testRegistry) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.url)
	}
	return out
}

// TestSecurityLockoutBurstOfWrongOTPs: a thief with a session of a user
// with 2FA sends 200 wrong one-time passwords at once (an email change, which
// needs only the OTP); at most 5 are answered other than 429, and the right
// OTP after them is refused too. Before, 156 of 200 were checked and the
// account ended unlocked.
func TestSecurityLockoutBurstOfWrongOTPs(t *testing.T) {
	onEveryDatabase(t, func(t *testing.T, nodes []*testRegistry) {
		tr := nodes[0]
		alice := tr.user("alice")
		secret, _ := tr.enable2FA(alice, "password-alice", "auth-only")
		step := totp.Step(time.Now())
		wrong := ""
		for d := 0; wrong == ""; d++ {
			c := fmt.Sprintf("%06d", d)
			if c != totp.Code(secret, step-1) && c != totp.Code(secret, step) && c != totp.Code(secret, step+1) {
				wrong = c
			}
		}
		change := map[string]any{"email": "thief@example.com"}
		if n := burst(t, urlsOf(nodes), 200, "POST", "/-/npm/v1/user", alice, change, "npm-otp", wrong); n > 5 {
			t.Fatalf("%d of 200 parallel wrong OTPs answered other than 429, want at most 5", n)
		}
		res := nodes[len(nodes)-1].do("POST", "/-/npm/v1/user", alice, change, "npm-otp", otpAt(secret, 1))
		if res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") == "" {
			t.Fatalf("the right OTP after the burst: %d %s, want 429 with Retry-After", res.status, res.body)
		}
		if email := tr.do("GET", "/-/npm/v1/user", alice, nil).json(t)["email"]; email != "alice@example.com" {
			t.Fatalf("the email changed to %v", email)
		}
	})
}

// TestSecurityLockoutBurstOfWrongPasswords: 200 wrong passwords at once, on
// token creation with a stolen session and on npm login: at most 5 answers
// other than 429 each, and the right password is refused after them.
func TestSecurityLockoutBurstOfWrongPasswords(t *testing.T) {
	onEveryDatabase(t, func(t *testing.T, nodes []*testRegistry) {
		tr := nodes[0]
		alice := tr.user("alice")
		wrong := map[string]any{"password": "not the password", "readonly": true}
		if n := burst(t, urlsOf(nodes), 200, "POST", "/-/npm/v1/tokens", alice, wrong); n > 5 {
			t.Fatalf("%d of 200 parallel wrong passwords answered other than 429, want at most 5", n)
		}
		res := nodes[len(nodes)-1].createToken(alice, map[string]any{"password": "password-alice", "readonly": true})
		if res.status != http.StatusTooManyRequests {
			t.Fatalf("the right password after the burst: %d %s, want 429", res.status, res.body)
		}

		tr.user("bob")
		login := map[string]string{"name": "bob", "password": "not the password"}
		if n := burst(t, urlsOf(nodes), 200, "PUT", "/-/user/org.couchdb.user:bob", "", login); n > 5 {
			t.Fatalf("%d of 200 parallel wrong logins answered other than 429, want at most 5", n)
		}
		res = nodes[len(nodes)-1].do("PUT", "/-/user/org.couchdb.user:bob", "", map[string]string{"name": "bob", "password": "password-bob"})
		if res.status != http.StatusTooManyRequests {
			t.Fatalf("the right password after the burst: %d %s, want 429", res.status, res.body)
		}
	})
}

// TestSecurityNobodyCanLockAnotherUserOut: five wrong passwords from an
// attacker's address lock that address out, not alice: she still logs in
// with npm login and the website from hers. Before, anyone could lock any
// user out of every password path, again and again.
func TestSecurityNobodyCanLockAnotherUserOut(t *testing.T) {
	tr := newTestRegistry(t, behindProxy)
	tr.user("alice")
	attacker := fromAddr("198.51.100.9")
	for i := range 5 {
		res := tr.do("PUT", "/-/user/org.couchdb.user:alice", "", map[string]string{"name": "alice", "password": fmt.Sprint("guess ", i)}, attacker...)
		if res.status != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d %s", i+1, res.status, res.body)
		}
	}
	right := map[string]string{"name": "alice", "password": "password-alice"}
	res := tr.do("PUT", "/-/user/org.couchdb.user:alice", "", right, attacker...)
	if res.status != http.StatusTooManyRequests || !strings.Contains(res.errorText(t), "Too many failed password attempts") {
		t.Fatalf("the attacker's address after five guesses: %d %s, want 429", res.status, res.body)
	}
	if res := tr.do("PUT", "/-/user/org.couchdb.user:alice", "", right, fromAddr("192.0.2.10")...); res.status != http.StatusCreated {
		t.Fatalf("alice from her own address: %d %s", res.status, res.body)
	}
}

// TestSecurityFailedLoginsAreLimitedPerAddress: one address failing to log in
// as many different users (a password spray, which no user's counter sees)
// is stopped after 20 failures, on npm login and the website's sign-in
// alike; other addresses are not.
func TestSecurityFailedLoginsAreLimitedPerAddress(t *testing.T) {
	tr := newTestRegistry(t, behindProxy)
	sprayer := fromAddr("203.0.113.50")
	for i := range 20 {
		tr.user(fmt.Sprint("user", i))
	}
	for i := range 20 {
		name := fmt.Sprint("user", i)
		res := tr.do("PUT", "/-/user/org.couchdb.user:"+name, "", map[string]string{"name": name, "password": "Winter2026!"}, sprayer...)
		if res.status == http.StatusTooManyRequests {
			t.Fatalf("failure %d already refused: %s", i+1, res.body)
		}
	}
	tr.user("carol")
	res := tr.do("PUT", "/-/user/org.couchdb.user:carol", "", map[string]string{"name": "carol", "password": "password-carol"}, sprayer...)
	if res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") == "" ||
		!strings.Contains(res.errorText(t), "Too many failed logins from your address") {
		t.Fatalf("after 20 failures from one address: %d %v %s, want 429 with Retry-After", res.status, res.header, res.body)
	}
	// The website's sign-in shares the address's budget.
	if status, body := signInOnWebsite(t, tr.url, "carol", "password-carol", sprayer...); status != http.StatusTooManyRequests ||
		!strings.Contains(body, "Too many failed sign-ins from your address") {
		t.Fatalf("website sign-in from the same address: %d %s", status, body)
	}
	res = tr.do("PUT", "/-/user/org.couchdb.user:carol", "", map[string]string{"name": "carol", "password": "password-carol"}, fromAddr("203.0.113.51")...)
	if res.status != http.StatusCreated {
		t.Fatalf("another address: %d %s", res.status, res.body)
	}
}

// signInOnWebsite loads the sign-in page and posts its form, as a browser
// does, with header on both requests; it returns the answer's status and body.
func signInOnWebsite(t *testing.T, base, user, password string, header ...string) (int, string) {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(req *http.Request) (int, string) {
		req.Header.Set("Accept", "text/html")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	req, _ := http.NewRequest("GET", base+"/login", nil)
	_, page := get(req)
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF field on the sign-in page: %s", page)
	}
	form := url.Values{"csrf": {m[1]}, "username": {user}, "password": {password}}
	req, _ = http.NewRequest("POST", base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return get(req)
}

// TestSecurityWebLoginStartsAreRateLimited: POST /-/v1/login, which needs
// no account and writes a row, is limited per address: 10 at once, then one
// every 6 seconds, with a clear 429 and Retry-After; other addresses are not
// held up. Before, one client wrote about 200 rows a second.
func TestSecurityWebLoginStartsAreRateLimited(t *testing.T) {
	tr := newTestRegistry(t, behindProxy)
	flood := fromAddr("198.51.100.70")
	for i := range 10 {
		if res := tr.do("POST", "/-/v1/login", "", map[string]any{}, flood...); res.status != http.StatusOK {
			t.Fatalf("start %d: %d %s", i+1, res.status, res.body)
		}
	}
	res := tr.do("POST", "/-/v1/login", "", map[string]any{}, flood...)
	if res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") == "" ||
		!strings.Contains(res.errorText(t), "Too many web logins started from your address") {
		t.Fatalf("the eleventh start: %d %v %s, want 429 with Retry-After", res.status, res.header, res.body)
	}
	if res := tr.do("POST", "/-/v1/login", "", map[string]any{}, fromAddr("198.51.100.71")...); res.status != http.StatusOK {
		t.Fatalf("another address: %d %s", res.status, res.body)
	}
}

// webSession signs in on the website as user and returns a client holding
// the session cookie, and whether a page behind the sign-in opens with it.
func webSession(t *testing.T, base, user, password string) (signedIn func() bool) {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Accept", "text/html")
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	_, page := get("/login")
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF field on the sign-in page")
	}
	form := url.Values{"csrf": {m[1]}, "username": {user}, "password": {password}}
	req, _ := http.NewRequest("POST", base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("website sign-in as %s: %d", user, res.StatusCode)
	}
	return func() bool {
		res, _ := get("/settings/" + user + "/profile")
		return res.StatusCode == http.StatusOK
	}
}

// TestSecurityPasswordChangeEndsOtherSessions: npm profile set password
// ends every other session of the user (npm logins and the website), so
// that whoever signed in with the old password is out; the session making
// the change and the user's access tokens stay (the npm CLI cannot ask;
// the website can, TestSecurityPasswordChangeOnTheWebsite). Before, every
// session lived on.
func TestSecurityPasswordChangeEndsOtherSessions(t *testing.T) {
	tr := newTestRegistry(t)
	mine := tr.user("alice")
	thief := tr.do("PUT", "/-/user/org.couchdb.user:alice", "", map[string]string{"name": "alice", "password": "password-alice"}).json(t)["token"].(string)
	web := webSession(t, tr.url, "alice", "password-alice")
	res := tr.createToken(mine, map[string]any{"password": "password-alice", "readonly": true})
	if res.status != http.StatusCreated {
		t.Fatalf("create a token: %d %s", res.status, res.body)
	}
	readOnly := res.json(t)["token"].(string)
	if !web() {
		t.Fatal("the website session does not work before the change")
	}

	// npm profile set password sends the profile back with the new password.
	change := map[string]any{"email": "alice@example.com", "password": map[string]string{"old": "password-alice", "new": "a new password for alice"}}
	if res := tr.do("POST", "/-/npm/v1/user", mine, change); res.status != http.StatusOK {
		t.Fatalf("change the password: %d %s", res.status, res.body)
	}
	for _, c := range []struct {
		what, tok string
		want      int
	}{{"the session that changed it", mine, http.StatusOK}, {"another npm login", thief, http.StatusUnauthorized},
		{"an access token", readOnly, http.StatusOK}} {
		if res := tr.do("GET", "/-/whoami", c.tok, nil); res.status != c.want {
			t.Errorf("%s after the change: %d, want %d", c.what, res.status, c.want)
		}
	}
	if web() {
		t.Error("the website session lives on after the password change")
	}
}

// TestSecurityEmailChangeNeedsThePassword: a stolen session alone cannot
// change the email (the first step of taking the account over). Without
// 2FA, npm profile set email (which cannot send a password) is refused with
// a message saying where to do it; with 2FA, the OTP confirms it. Sending
// the email unchanged (as npm profile set does for any field) needs
// neither. Before, the session alone changed it.
func TestSecurityEmailChangeNeedsThePassword(t *testing.T) {
	tr := newTestRegistry(t)
	alice := tr.user("alice")
	res := tr.do("POST", "/-/npm/v1/user", alice, map[string]any{"email": "thief@example.com"})
	if res.status != http.StatusForbidden || !strings.Contains(res.errorText(t), "Changing your email needs your current password") {
		t.Fatalf("email change with a session alone: %d %s, want 403", res.status, res.body)
	}
	if res := tr.do("POST", "/-/npm/v1/user", alice, map[string]any{"email": "alice@example.com"}); res.status != http.StatusOK {
		t.Fatalf("the same email sent back: %d %s", res.status, res.body)
	}
	// With the password change in the same body, the new password confirms it.
	both := map[string]any{"email": "alice@new.example", "password": map[string]string{"old": "password-alice", "new": "a new password for alice"}}
	if res := tr.do("POST", "/-/npm/v1/user", alice, both); res.status != http.StatusOK {
		t.Fatalf("password and email together: %d %s", res.status, res.body)
	}
	if email := tr.do("GET", "/-/npm/v1/user", alice, nil).json(t)["email"]; email != "alice@new.example" {
		t.Fatalf("email %v after the change", email)
	}

	bob := tr.user("bob")
	secret, _ := tr.enable2FA(bob, "password-bob", "auth-only")
	wantOTPChallenge(t, tr.do("POST", "/-/npm/v1/user", bob, map[string]any{"email": "thief@example.com"}))
	if res := tr.do("POST", "/-/npm/v1/user", bob, map[string]any{"email": "bob@new.example"}, "npm-otp", otpAt(secret, 0)); res.status != http.StatusOK {
		t.Fatalf("email change with the OTP: %d %s", res.status, res.body)
	}
	if email := tr.do("GET", "/-/npm/v1/user", bob, nil).json(t)["email"]; email != "bob@new.example" {
		t.Fatalf("bob's email %v after the change", email)
	}
}
