package sso_test

import (
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/keyring"
	"github.com/gatehouse-registry/gatehouse/internal/sso"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
)

const redirect = "http://127.0.0.1:1/-/web/sso/corp/callback"

func setup(t *testing.T) (*testkit.Provider, *sso.Relying) {
	t.Helper()
	op := testkit.NewProvider(t)
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte(op.ClientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sealer, err := keyring.New([]byte("0123456789abcdef0123456789abcdef")).Sealer("sso test")
	if err != nil {
		t.Fatal(err)
	}
	rp, err := sso.New([]sso.Provider{{Name: "corp", Title: "Corp", Issuer: op.Issuer(), ClientID: op.ClientID,
		ClientSecretFile: secret, Scopes: []string{"email", "profile", "groups"}}}, sealer, sso.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return op, rp
}

// authorize plays the browser at the provider: it signs in as login and
// returns the callback's state and code.
func authorize(t *testing.T, authURL, login string) (state, code string) {
	t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("login", login)
	u.RawQuery = q.Encode()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound {
		t.Fatalf("authorize: %s", res.Status)
	}
	back, err := url.Parse(res.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(back.String(), redirect) {
		t.Fatalf("redirected to %q, want the callback", res.Header.Get("Location"))
	}
	return back.Query().Get("state"), back.Query().Get("code")
}

func alice() *mockoidc.MockUser {
	return &mockoidc.MockUser{Subject: "sub-alice", Email: "alice@corp.test", EmailVerified: true,
		PreferredUsername: "alice", Groups: []string{"eng", "ops"}}
}

func TestFlow(t *testing.T) {
	op, rp := setup(t)
	op.AddUser("alice", alice())
	authURL, sealed, err := rp.Start(t.Context(), "corp", redirect, sso.Flow{Next: "/settings", Login: "L"})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(authURL)
	q := u.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" ||
		q.Get("state") == "" || q.Get("redirect_uri") != redirect || !strings.Contains(q.Get("scope"), "openid") {
		t.Fatalf("authorization URL lacks PKCE, nonce, state or scope: %s", authURL)
	}
	if strings.Contains(sealed, q.Get("state")) || strings.Contains(sealed, q.Get("nonce")) {
		t.Fatal("the flow cookie shows the state or the nonce in the clear")
	}
	f, err := rp.Open("corp", sealed)
	if err != nil {
		t.Fatal(err)
	}
	if f.Next != "/settings" || f.Login != "L" || f.State != q.Get("state") || f.Nonce != q.Get("nonce") {
		t.Fatalf("flow read back: %+v", f)
	}
	state, code := authorize(t, authURL, "alice")
	id, err := rp.Finish(t.Context(), f, redirect, state, code, "")
	if err != nil {
		t.Fatal(err)
	}
	want := sso.Identity{Provider: "corp", Issuer: op.Issuer(), Subject: "sub-alice", Email: "alice@corp.test",
		EmailVerified: true, UserName: "alice", Groups: []string{"eng", "ops"}}
	if id.Provider != want.Provider || id.Issuer != want.Issuer || id.Subject != want.Subject || id.Email != want.Email ||
		!id.EmailVerified || id.UserName != want.UserName || strings.Join(id.Groups, ",") != "eng,ops" {
		t.Fatalf("identity %+v, want %+v", id, want)
	}
	// A code is good once.
	if _, err := rp.Finish(t.Context(), f, redirect, state, code, ""); err == nil {
		t.Fatal("a code exchanged twice was accepted")
	}
}

// TestRefusals: each way a callback can be wrong is refused, and with
// Unauthorized: another state, a token for another nonce, audience or
// issuer, an expired token, a flow sealed for another provider or
// tampered with, a flow expired.
func TestRefusals(t *testing.T) {
	tamper := func(f func(c *mockoidc.IDTokenClaims)) mockoidc.User {
		return testkit.Tampered{MockUser: alice(), Tamper: f}
	}
	cases := []struct {
		name  string
		user  mockoidc.User
		state func(string) string
		want  error
	}{
		{name: "state", user: alice(), state: func(s string) string { return s[:len(s)-1] + "x" }, want: sso.ErrState},
		{name: "no state", user: alice(), state: func(string) string { return "" }, want: sso.ErrState},
		{name: "nonce", user: tamper(func(c *mockoidc.IDTokenClaims) { c.Nonce = "another" }), want: sso.ErrNonce},
		{name: "no nonce", user: tamper(func(c *mockoidc.IDTokenClaims) { c.Nonce = "" }), want: sso.ErrNonce},
		{name: "audience", user: tamper(func(c *mockoidc.IDTokenClaims) { c.Audience = jwt.ClaimStrings{"another-client"} }),
			want: sso.ErrIDToken},
		{name: "issuer", user: tamper(func(c *mockoidc.IDTokenClaims) { c.Issuer = "http://127.0.0.1:1/oidc" }),
			want: sso.ErrIDToken},
		{name: "expired", user: tamper(func(c *mockoidc.IDTokenClaims) {
			c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Minute))
			c.IssuedAt = jwt.NewNumericDate(time.Now().Add(-time.Hour))
		}), want: sso.ErrIDToken},
		{name: "no subject", user: tamper(func(c *mockoidc.IDTokenClaims) { c.Subject = "" }), want: sso.ErrIDToken},
	}
	op, rp := setup(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			op.AddUser(c.name, c.user)
			authURL, sealed, err := rp.Start(t.Context(), "corp", redirect, sso.Flow{})
			if err != nil {
				t.Fatal(err)
			}
			f, err := rp.Open("corp", sealed)
			if err != nil {
				t.Fatal(err)
			}
			state, code := authorize(t, authURL, c.name)
			if c.state != nil {
				state = c.state(state)
			}
			_, err = rp.Finish(t.Context(), f, redirect, state, code, "")
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if !fault.Is(err, fault.Unauthorized) {
				t.Fatalf("%v: not Unauthorized", err)
			}
		})
	}

	t.Run("signature", func(t *testing.T) {
		// A token signed by another key, the provider's discovery and
		// published keys unchanged: a key id the relying party does not
		// know makes it fetch the keys again, and find none that verifies.
		defer op.Forge(t)()
		op.AddUser("sig", alice())
		authURL, sealed, err := rp.Start(t.Context(), "corp", redirect, sso.Flow{})
		if err != nil {
			t.Fatal(err)
		}
		f, _ := rp.Open("corp", sealed)
		state, code := authorize(t, authURL, "sig")
		if _, err := rp.Finish(t.Context(), f, redirect, state, code, ""); !errors.Is(err, sso.ErrIDToken) {
			t.Fatalf("a token signed by another key: %v", err)
		}
	})

	t.Run("flow", func(t *testing.T) {
		_, sealed, err := rp.Start(t.Context(), "corp", redirect, sso.Flow{})
		if err != nil {
			t.Fatal(err)
		}
		for name, s := range map[string]string{"empty": "", "garbage": "!!!", "flipped": flip(sealed)} {
			if _, err := rp.Open("corp", s); !errors.Is(err, sso.ErrNoFlow) {
				t.Errorf("%s flow: %v", name, err)
			}
		}
		if _, err := rp.Open("other", sealed); !errors.Is(err, sso.ErrNoFlow) {
			t.Errorf("a flow of corp opened for another provider: %v", err)
		}
	})

	t.Run("provider error", func(t *testing.T) {
		_, sealed, _ := rp.Start(t.Context(), "corp", redirect, sso.Flow{})
		f, _ := rp.Open("corp", sealed)
		_, err := rp.Finish(t.Context(), f, redirect, f.State, "", "access_denied\n<script>")
		if !fault.Is(err, fault.Unauthorized) || strings.ContainsAny(err.Error(), "\n") {
			t.Fatalf("provider error: %v", err)
		}
	})
}

func TestExpiredFlow(t *testing.T) {
	op := testkit.NewProvider(t)
	t.Setenv("TEST_SSO_SECRET", op.ClientSecret)
	sealer, _ := keyring.New([]byte("0123456789abcdef0123456789abcdef")).Sealer("sso test")
	now := time.Now()
	rp, err := sso.New([]sso.Provider{{Name: "corp", Issuer: op.Issuer(), ClientID: op.ClientID,
		ClientSecretEnv: "TEST_SSO_SECRET"}}, sealer, sso.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	_, sealed, err := rp.Start(t.Context(), "corp", redirect, sso.Flow{})
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(sso.FlowTTL + time.Second)
	if _, err := rp.Open("corp", sealed); !errors.Is(err, sso.ErrNoFlow) {
		t.Fatalf("an expired flow: %v", err)
	}
}

func flip(s string) string {
	b := []byte(s)
	if b[10] == 'A' {
		b[10] = 'B'
	} else {
		b[10] = 'A'
	}
	return string(b)
}

func TestCheck(t *testing.T) {
	ok := sso.Provider{Name: "corp", Issuer: "https://id.example.test", ClientID: "c", ClientSecretEnv: "S"}
	cases := []struct {
		name   string
		change func(p *sso.Provider)
		want   string
	}{
		{"ok", func(*sso.Provider) {}, ""},
		{"loopback http", func(p *sso.Provider) { p.Issuer = "http://127.0.0.1:9/x" }, ""},
		{"name", func(p *sso.Provider) { p.Name = "Corp SSO" }, "name must be"},
		{"plain http", func(p *sso.Provider) { p.Issuer = "http://id.example.test" }, "must be https"},
		{"no client", func(p *sso.Provider) { p.ClientID = "" }, "client_id is required"},
		{"no secret", func(p *sso.Provider) { p.ClientSecretEnv = "" }, "exactly one of"},
		{"two secrets", func(p *sso.Provider) { p.ClientSecretFile = "/x" }, "exactly one of"},
		{"domain", func(p *sso.Provider) { p.AllowedDomains = []string{"@corp.test"} }, "allowed domain"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := ok
			c.change(&p)
			err := sso.Check([]sso.Provider{p})
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
	if err := sso.Check([]sso.Provider{ok, ok}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("a provider listed twice: %v", err)
	}
}

// TestSecretNeverShown: a secret that cannot be read is named by where it
// was looked for; a secret read is in no error.
func TestSecretNeverShown(t *testing.T) {
	sealer, _ := keyring.New([]byte("0123456789abcdef0123456789abcdef")).Sealer("sso test")
	_, err := sso.New([]sso.Provider{{Name: "corp", Issuer: "https://id.example.test", ClientID: "c",
		ClientSecretEnv: "GATEHOUSE_TEST_NO_SUCH_VAR"}}, sealer, sso.Options{Getenv: func(string) string { return "" }})
	if err == nil || !strings.Contains(err.Error(), "$GATEHOUSE_TEST_NO_SUCH_VAR is empty") {
		t.Fatalf("empty secret: %v", err)
	}
	// Discovery failing (nothing listens) names the provider, not the secret.
	rp, err := sso.New([]sso.Provider{{Name: "corp", Issuer: "http://127.0.0.1:1", ClientID: "c",
		ClientSecretEnv: "X"}}, sealer, sso.Options{Getenv: func(string) string { return "s3cr3t-value" }})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = rp.Start(t.Context(), "corp", redirect, sso.Flow{})
	if !fault.Is(err, fault.Upstream) || strings.Contains(err.Error(), "s3cr3t-value") {
		t.Fatalf("discovery failure: %v", err)
	}
	if _, _, err := rp.Start(t.Context(), "nope", redirect, sso.Flow{}); !fault.Is(err, fault.NotFound) {
		t.Fatalf("unknown provider: %v", err)
	}
}
