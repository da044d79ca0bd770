package server

import (
	"encoding/base32"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
	"github.com/gatehouse-registry/gatehouse/internal/totp"
)

// enable2FA turns 2FA on for the session's user in mode and returns the
// secret and the recovery codes.
func (tr *testRegistry) enable2FA(session, password, mode string) ([]byte, []string) {
	tr.t.Helper()
	res := tr.do("POST", "/-/npm/v1/user", session, map[string]any{"tfa": map[string]string{"password": password, "mode": mode}})
	if res.status != 200 {
		tr.t.Fatalf("enable 2FA: %d %s", res.status, res.body)
	}
	u, err := url.Parse(res.json(tr.t)["tfa"].(string))
	if err != nil || u.Scheme != "otpauth" {
		tr.t.Fatalf("not an otpauth URL: %s", res.body)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(u.Query().Get("secret"))
	if err != nil {
		tr.t.Fatal(err)
	}
	// Confirm with the previous step's code, leaving this step and the next to the test.
	res = tr.do("POST", "/-/npm/v1/user", session, map[string]any{"tfa": []string{otpAt(secret, -1)}})
	if res.status != 200 {
		tr.t.Fatalf("confirm 2FA: %d %s", res.status, res.body)
	}
	var codes []string
	for _, c := range res.json(tr.t)["tfa"].([]any) {
		codes = append(codes, c.(string))
	}
	return secret, codes
}

// otpAt is the code of secret offset steps from now.
// A code of a past step is taken only with a few seconds left of this one, so
// that the server still reads it inside its window.
func otpAt(secret []byte, offset int64) string {
	if offset < 0 {
		testkit.WaitOutStepEnd(totp.Period, 5*time.Second)
	}
	return totp.Code(secret, totp.Step(time.Now())+offset)
}

func wantOTPChallenge(t *testing.T, res response) {
	t.Helper()
	if res.status != 401 || res.header.Get("WWW-Authenticate") != "OTP" || res.errorText(t) != "This operation requires a one-time password." {
		t.Fatalf("want the OTP challenge, got %d %v %s", res.status, res.header.Get("WWW-Authenticate"), res.body)
	}
}

func TestTwoFactorEnableAndProfile(t *testing.T) {
	tr := newTestRegistry(t)
	alice := tr.user("alice")
	if tfa := tr.do("GET", "/-/npm/v1/user", alice, nil).json(t)["tfa"]; tfa != false {
		t.Fatalf("tfa before enabling = %v", tfa)
	}
	res := tr.do("POST", "/-/npm/v1/user", alice, map[string]any{"tfa": map[string]string{"password": "wrong", "mode": "auth-only"}})
	if res.status != 401 {
		t.Fatalf("enable with a wrong password: %d %s", res.status, res.body)
	}
	secret, codes := tr.enable2FA(alice, "password-alice", "auth-only")
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes", len(codes))
	}
	prof := tr.do("GET", "/-/npm/v1/user", alice, nil).json(t)
	if tfa := prof["tfa"].(map[string]any); tfa["mode"] != "auth-only" || tfa["pending"] != false {
		t.Fatalf("profile tfa = %v", prof["tfa"])
	}
	// Changing the mode needs the password and an OTP.
	change := map[string]any{"tfa": map[string]string{"password": "password-alice", "mode": "auth-and-writes"}}
	wantOTPChallenge(t, tr.do("POST", "/-/npm/v1/user", alice, change))
	res = tr.do("POST", "/-/npm/v1/user", alice, change, "npm-otp", otpAt(secret, 1))
	if res.status != 200 || res.json(t)["tfa"].(map[string]any)["mode"] != "auth-and-writes" {
		t.Fatalf("mode change: %d %s", res.status, res.body)
	}
	// Disabling needs an OTP too; a recovery code does it, once.
	disable := map[string]any{"tfa": map[string]string{"password": "password-alice", "mode": "disable"}}
	wantOTPChallenge(t, tr.do("POST", "/-/npm/v1/user", alice, disable))
	if res := tr.do("POST", "/-/npm/v1/user", alice, disable, "npm-otp", codes[0]); res.status != 200 || res.json(t)["tfa"] != false {
		t.Fatalf("disable with a recovery code: %d %s", res.status, res.body)
	}
}

func TestOTPChallengesPerModeAndToken(t *testing.T) {
	tr := newTestRegistry(t)
	alice := tr.user("alice")
	for _, v := range []string{"1.0.0"} {
		if res := tr.do("PUT", "/demo", alice, publishBody(t, "demo", v)); res.status != 201 {
			t.Fatal(res.status)
		}
	}
	mk := func(body map[string]any) string {
		body["password"] = "password-alice"
		return tr.mustToken(alice, body)
	}
	automation := mk(map[string]any{"automation": true})
	publishTok := mk(map[string]any{"readonly": false})
	bypass := mk(map[string]any{"name": "bypass", "packages_all": true, "packages_and_scopes_permission": "read-write", "bypass_2fa": true})
	plain := mk(map[string]any{"name": "plain", "packages_all": true, "packages_and_scopes_permission": "read-write"})

	secret, codes := tr.enable2FA(alice, "password-alice", "auth-and-writes")
	version := 0
	next := func() map[string]any {
		version++
		return publishBody(t, "demo", "1.1."+strconv.Itoa(version))
	}

	// A publish token and a non-bypass granular token are asked for an OTP.
	wantOTPChallenge(t, tr.do("PUT", "/demo", publishTok, next()))
	wantOTPChallenge(t, tr.do("PUT", "/demo", plain, next()))
	// Automation and bypass tokens publish without one.
	if res := tr.do("PUT", "/demo", automation, next()); res.status != 201 {
		t.Fatalf("automation publish: %d %s", res.status, res.body)
	}
	if res := tr.do("PUT", "/demo", bypass, next()); res.status != 201 {
		t.Fatalf("bypass publish: %d %s", res.status, res.body)
	}
	// With an OTP; the same OTP again is a replay.
	code := otpAt(secret, 0)
	if res := tr.do("PUT", "/demo", publishTok, next(), "npm-otp", code); res.status != 201 {
		t.Fatalf("publish with OTP: %d %s", res.status, res.body)
	}
	wantOTPChallenge(t, tr.do("PUT", "/demo", plain, next(), "npm-otp", code))
	// A recovery code works once.
	if res := tr.do("PUT", "/demo", plain, next(), "npm-otp", codes[3]); res.status != 201 {
		t.Fatalf("publish with a recovery code: %d %s", res.status, res.body)
	}
	wantOTPChallenge(t, tr.do("PUT", "/demo", plain, next(), "npm-otp", codes[3]))
	// Other writes: dist-tags ask too.
	wantOTPChallenge(t, tr.do("PUT", "/-/package/demo/dist-tags/beta", publishTok, `"1.0.0"`))
	// Password login asks for the OTP.
	login := map[string]string{"name": "alice", "password": "password-alice"}
	wantOTPChallenge(t, tr.do("PUT", "/-/user/org.couchdb.user:alice", "", login))
	if res := tr.do("PUT", "/-/user/org.couchdb.user:alice", "", login, "npm-otp", codes[5]); res.status != 201 {
		t.Fatalf("login with OTP: %d %s", res.status, res.body)
	}
	// Token creation asks for it too.
	wantOTPChallenge(t, tr.createToken(alice, map[string]any{"password": "password-alice", "readonly": true}))
	// Bypass tokens are refused governance actions.
	pk := tr.do("GET", "/demo", alice, nil, "Accept", "application/json").json(t)
	res := tr.do("PUT", "/demo/-rev/"+pk["_rev"].(string), bypass, map[string]any{"maintainers": []map[string]string{{"name": "alice"}, {"name": "nobody"}}})
	if res.status != 403 {
		t.Fatalf("bypass token changing owners: %d %s", res.status, res.body)
	}

	// mfa=publish: even automation tokens need an OTP.
	setMFA := map[string]any{"publish_requires_tfa": true, "automation_token_overrides_tfa": false}
	wantOTPChallenge(t, tr.do("POST", "/-/package/demo/access", alice, setMFA))
	if res := tr.do("POST", "/-/package/demo/access", alice, setMFA, "npm-otp", otpAt(secret, 1)); res.status != 200 {
		t.Fatalf("set mfa=publish: %d %s", res.status, res.body)
	}
	if got := tr.do("GET", "/-/package/demo/access", alice, nil).json(t)["mfa"]; got != "publish" {
		t.Fatalf("mfa = %v", got)
	}
	wantOTPChallenge(t, tr.do("PUT", "/demo", automation, next()))
	wantOTPChallenge(t, tr.do("PUT", "/demo", bypass, next()))
}

func TestLockoutAfterFiveFailures(t *testing.T) {
	tr := newTestRegistry(t)
	tr.user("alice")
	for i := 0; i < 5; i++ {
		res := tr.do("PUT", "/-/user/org.couchdb.user:alice", "", map[string]string{"name": "alice", "password": "wrong"})
		if res.status != 401 {
			t.Fatalf("attempt %d: %d", i+1, res.status)
		}
	}
	res := tr.do("PUT", "/-/user/org.couchdb.user:alice", "", map[string]string{"name": "alice", "password": "password-alice"})
	if res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") == "" || !strings.Contains(res.errorText(t), "Too many failed password attempts") {
		t.Fatalf("sixth attempt with the right password: %d %v %s", res.status, res.header, res.body)
	}
}

func TestRequire2FA(t *testing.T) {
	tr := newTestRegistry(t, func(c *config.Config) { c.Require2FA = true })
	alice := tr.user("alice")
	res := tr.do("PUT", "/demo", alice, publishBody(t, "demo", "1.0.0"))
	if res.status != 403 || !strings.Contains(res.errorText(t), "requires two-factor authentication") {
		t.Fatalf("publish without 2FA: %d %s", res.status, res.body)
	}
	if res := tr.createToken(alice, map[string]any{"password": "password-alice", "readonly": true}); res.status != 403 {
		t.Fatalf("token without 2FA: %d %s", res.status, res.body)
	}
	tr.enable2FA(alice, "password-alice", "auth-only")
	if res := tr.do("PUT", "/demo", alice, publishBody(t, "demo", "1.0.0")); res.status != 201 {
		t.Fatalf("publish once 2FA is on (auth-only asks no OTP for writes): %d %s", res.status, res.body)
	}
}
