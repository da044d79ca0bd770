package server

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/sso"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
)

// ssoBrowser is a browser for the single sign-on pages: a cookie jar,
// redirects not followed, so that each hop can be looked at (and changed).
type ssoBrowser struct {
	t *testing.T
	c *http.Client
}

func newSSOBrowser(t *testing.T) *ssoBrowser {
	jar, _ := cookiejar.New(nil)
	return &ssoBrowser{t: t, c: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *ssoBrowser) get(rawURL string) *http.Response {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	res.Body.Close()
	return res
}

// TestSSOCallbackRefusals goes through the website's sign-in with the test
// provider, over HTTP: a sign-in that works, then one refusal each for a
// state that is not the browser's, a callback in a browser that did not
// start the sign-in (login CSRF), a token for another nonce, another
// audience, another issuer, an expired token, and a provider that does not
// admit the person. None sets a session cookie; each is an audit event.
// The registry is private (read_access authenticated): the pages of the
// sign-in stay open to the visitors who must sign in.
func TestSSOCallbackRefusals(t *testing.T) {
	op := testkit.NewProvider(t)
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte(op.ClientSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	tr := newTestRegistry(t, func(c *config.Config) {
		c.URL = "http://127.0.0.1/"
		c.ReadAccess = "authenticated"
		c.SSOProviders = []sso.Provider{{Name: "corp", Issuer: op.Issuer(), ClientID: op.ClientID,
			ClientSecretFile: secret, AllowedDomains: []string{"corp.test"}, CreateUsers: true}}
	})
	person := func(sub, login, email string) *mockoidc.MockUser {
		return &mockoidc.MockUser{Subject: sub, Email: email, EmailVerified: true, PreferredUsername: login}
	}
	tamper := func(sub string, f func(c *mockoidc.IDTokenClaims)) mockoidc.User {
		return testkit.Tampered{MockUser: person(sub, sub, sub+"@corp.test"), Tamper: f}
	}
	op.AddUser("alice", person("sub-alice", "alice", "alice@corp.test"))
	op.AddUser("mallory", person("sub-mallory", "mallory", "mallory@evil.test"))
	op.AddUser("nonce", tamper("sub-nonce", func(c *mockoidc.IDTokenClaims) { c.Nonce = "another" }))
	op.AddUser("audience", tamper("sub-audience", func(c *mockoidc.IDTokenClaims) { c.Audience = jwt.ClaimStrings{"another"} }))
	op.AddUser("issuer", tamper("sub-issuer", func(c *mockoidc.IDTokenClaims) { c.Issuer = "http://127.0.0.1:1/oidc" }))
	op.AddUser("expired", tamper("sub-expired", func(c *mockoidc.IDTokenClaims) {
		c.IssuedAt = jwt.NewNumericDate(time.Now().Add(-2 * time.Hour))
		c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Hour))
	}))

	// signIn starts a sign-in in b, signs in at the provider as login, and
	// delivers the callback (its query changed by change) to deliver.
	signIn := func(b *ssoBrowser, login string, change func(q url.Values), deliver *ssoBrowser) *http.Response {
		t.Helper()
		res := b.get(tr.url + "/-/web/sso/corp/start?next=/settings")
		if res.StatusCode != http.StatusFound || !strings.HasPrefix(res.Header.Get("Location"), op.Issuer()) {
			t.Fatalf("start: %s to %q", res.Status, res.Header.Get("Location"))
		}
		var flow *http.Cookie
		for _, c := range res.Cookies() {
			if c.Name == "gatehouse_sso" {
				flow = c
			}
		}
		if flow == nil || !flow.HttpOnly || flow.SameSite != http.SameSiteLaxMode || flow.Path != "/-/web/sso/" || flow.MaxAge <= 0 {
			t.Fatalf("the flow cookie: %+v", flow)
		}
		authURL, _ := url.Parse(res.Header.Get("Location"))
		q := authURL.Query()
		q.Set("login", login)
		authURL.RawQuery = q.Encode()
		res = b.get(authURL.String())
		back, err := url.Parse(res.Header.Get("Location"))
		if res.StatusCode != http.StatusFound || err != nil || back.Path != "/-/web/sso/corp/callback" {
			t.Fatalf("provider: %s to %q", res.Status, res.Header.Get("Location"))
		}
		cq := back.Query()
		if change != nil {
			change(cq)
		}
		return deliver.get(tr.url + back.Path + "?" + cq.Encode())
	}
	session := func(res *http.Response) bool {
		for _, c := range res.Cookies() {
			if c.Name == "gatehouse_session" && c.Value != "" {
				return true
			}
		}
		return false
	}

	b := newSSOBrowser(t)
	res := signIn(b, "alice", nil, b)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/settings" || !session(res) {
		t.Fatalf("alice's sign-in: %s to %q, session %v", res.Status, res.Header.Get("Location"), session(res))
	}

	tests := []struct {
		name, login string
		change      func(q url.Values)
		elsewhere   bool
		status      int
	}{
		{"another state", "alice", func(q url.Values) { q.Set("state", q.Get("state")+"x") }, false, http.StatusUnauthorized},
		{"no state", "alice", func(q url.Values) { q.Del("state") }, false, http.StatusUnauthorized},
		{"another browser", "alice", nil, true, http.StatusUnauthorized},
		{"nonce", "nonce", nil, false, http.StatusUnauthorized},
		{"audience", "audience", nil, false, http.StatusUnauthorized},
		{"issuer", "issuer", nil, false, http.StatusUnauthorized},
		{"expired", "expired", nil, false, http.StatusUnauthorized},
		{"outside the allowed domains", "mallory", nil, false, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newSSOBrowser(t)
			deliver := b
			if tt.elsewhere {
				deliver = newSSOBrowser(t)
			}
			res := signIn(b, tt.login, tt.change, deliver)
			if res.StatusCode != tt.status || session(res) {
				t.Fatalf("got %s (session cookie %v), want %d and none", res.Status, session(res), tt.status)
			}
		})
	}

	if err := tr.srv.Audit.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	var refused, signedIn int
	if _, err := tr.srv.Audit.Export(t.Context(), audit.Operator(), audit.Filter{}, 0, 0, func(e audit.Event) error {
		if e.Action == audit.SignIn && strings.Contains(e.Detail, "corp ("+op.Issuer()+")") {
			switch e.Outcome {
			case audit.Failure:
				refused += int(e.Count)
			case audit.Success:
				signedIn++
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if signedIn != 1 || refused != len(tests) {
		t.Fatalf("audit: %d sign-ins and %d refusals through corp, want 1 and %d", signedIn, refused, len(tests))
	}
}
