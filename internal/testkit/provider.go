package testkit

import (
	"html/template"
	"net"
	"net/http"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
)

// Provider is an OpenID provider on loopback for single sign-on tests:
// oauth2-proxy's mockoidc (discovery, keys, authorization with PKCE,
// token endpoint, signed ID tokens), with a sign-in page in front of its
// authorization endpoint, so that a browser signs in by typing a user
// name and pressing a button, as at a company's provider.
type Provider struct {
	*mockoidc.MockOIDC

	mu    sync.Mutex
	users map[string]mockoidc.User
	// genuine, when set, is the key pair whose keys the provider publishes
	// while another signs its tokens (Forge).
	genuine *mockoidc.Keypair
}

// NewProvider starts a test provider on 127.0.0.1, shut down when t ends.
// Its users are added with AddUser; a name nobody added is refused.
func NewProvider(t testing.TB) *Provider {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatalf("test provider: %v", err)
	}
	p := &Provider{MockOIDC: m, users: map[string]mockoidc.User{}}
	if err := m.AddMiddleware(p.signInPage); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return p
}

// AddUser lets the person named login sign in as u.
func (p *Provider) AddUser(login string, u mockoidc.User) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.users[login] = u
}

// Forge makes the provider sign its tokens with a new key of its own
// while it goes on publishing its genuine keys, until the returned
// function is called: a token whose signature its issuer's keys do not
// verify.
func (p *Provider) Forge(t testing.TB) (restore func()) {
	t.Helper()
	forger, err := mockoidc.RandomKeypair(2048)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.genuine, p.Keypair = p.Keypair, forger
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.Keypair, p.genuine = p.genuine, nil
	}
}

// Tampered is a user whose ID token is changed by Tamper before it is
// signed: a provider that misbehaves (another audience, issuer, nonce, an
// expired token), for the tests of what the relying party refuses.
type Tampered struct {
	*mockoidc.MockUser
	Tamper func(c *mockoidc.IDTokenClaims)
}

// Claims implements mockoidc.User.
func (u Tampered) Claims(scope []string, c *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	copied := *c.RegisteredClaims
	c = &mockoidc.IDTokenClaims{Nonce: c.Nonce, RegisteredClaims: &copied}
	u.Tamper(c)
	return u.MockUser.Claims(scope, c)
}

var providerPage = template.Must(template.New("p").Parse(`<!doctype html>
<title>Test provider</title>
<h1>Sign in to the test provider</h1>
{{if .Error}}<p id="provider-error">{{.Error}}</p>{{end}}
<form method="get" action="/oidc/authorize">
{{range $k, $vs := .Params}}{{range $vs}}<input type="hidden" name="{{$k}}" value="{{.}}">{{end}}{{end}}
<label for="provider-login">User</label> <input id="provider-login" name="login">
<button id="provider-submit" type="submit">Sign in</button>
</form>`))

// signInPage answers the authorization endpoint with a sign-in form until
// it is sent back with a login; then the user of that name is handed to
// mockoidc's authorization, which redirects back with a code.
func (p *Provider) signInPage(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case mockoidc.AuthorizationEndpoint:
		case mockoidc.JWKSEndpoint, mockoidc.TokenEndpoint:
			// The key pair is read and changed under the lock.
			p.mu.Lock()
			defer p.mu.Unlock()
			if r.URL.Path == mockoidc.JWKSEndpoint && p.genuine != nil {
				keys, err := p.genuine.JWKS()
				if err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(keys)
				return
			}
			next.ServeHTTP(w, r)
			return
		default:
			next.ServeHTTP(w, r)
			return
		}
		q := r.URL.Query()
		login := q.Get("login")
		q.Del("login")
		p.mu.Lock()
		defer p.mu.Unlock()
		u, ok := p.users[login]
		if !ok {
			msg := ""
			if login != "" {
				msg = "Unknown user " + login
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_ = providerPage.Execute(w, map[string]any{"Params": q, "Error": msg})
			return
		}
		// Queued and popped under the lock: two sign-ins at once each get
		// their own user.
		p.QueueUser(u)
		r.URL.RawQuery = q.Encode()
		next.ServeHTTP(w, r)
	})
}
