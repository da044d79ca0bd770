// Package idtoken verifies the OpenID Connect ID tokens that CI jobs present
// for trusted publishing (GitHub Actions, GitHub Enterprise Server, GitLab,
// Gitea and Forgejo Actions, CircleCI, or any issuer with a discovery
// document): the signature against the issuer's published keys (found
// through discovery, cached, fetched again when the issuer rotates them),
// the issuer among those the operator trusts, the audience, and the token's
// times with a small allowance for clock skew. Only RS256 and ES256
// signatures are accepted: never "none", never HMAC.
//
// The verification itself is github.com/coreos/go-oidc over
// github.com/go-jose/go-jose: this package chooses the issuer, the
// algorithms and the limits, and reads the claims.
package idtoken

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

// Kind is the kind of CI an issuer is: it says which claims a trust
// configuration is matched against.
type Kind string

// The kinds of issuer.
const (
	// GitHub is GitHub Actions, GitHub Enterprise Server, and Gitea or
	// Forgejo Actions (which mint GitHub-shaped tokens).
	GitHub Kind = "github"
	// GitLab is GitLab.com or a self-managed GitLab.
	GitLab Kind = "gitlab"
	// CircleCI is CircleCI (one issuer per organization).
	CircleCI Kind = "circleci"
	// Generic is any other issuer; its Claims say which claims play the
	// parts of repository, workflow file and environment.
	Generic Kind = "generic"
)

// Kinds lists the kinds of issuer.
var Kinds = []Kind{GitHub, GitLab, CircleCI, Generic}

// The fields of a generic issuer's claim mapping.
const (
	FieldRepository  = "repository"
	FieldFile        = "file"
	FieldEnvironment = "environment"
)

// Issuer is one trusted issuer, as the operator configured it.
type Issuer struct {
	// URL is the issuer exactly as its tokens' iss claim says it.
	URL string `json:"url"`
	// Kind says how its tokens are matched against trust configurations.
	Kind Kind `json:"kind"`
	// JWKS, when set, is where the issuer's keys are, instead of discovery:
	// a file (read at start, for air-gapped setups) or an http(s) URL.
	JWKS string `json:"jwks,omitempty"`
	// Claims maps FieldRepository, FieldFile and FieldEnvironment to the
	// names of the claims that hold them, for a generic issuer.
	Claims map[string]string `json:"claims,omitempty"`
}

// Limits of what is read from a client or an issuer.
const (
	// MaxTokenBytes bounds a presented token; real ones are 1 to 3 KB.
	MaxTokenBytes = 16 << 10
	// maxIssuerResponse bounds a discovery document or key set.
	maxIssuerResponse = 1 << 20
	// retryDiscovery is how long an issuer whose discovery failed is not
	// asked again: a flood of tokens naming it costs it one request.
	retryDiscovery = 30 * time.Second
	// DefaultSkew is the allowance for clocks that disagree.
	DefaultSkew = time.Minute
)

// Algorithms are the only signature algorithms accepted.
var Algorithms = []string{string(jose.RS256), string(jose.ES256)}

var joseAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.ES256}

// The errors Verify returns, for callers to tell apart with errors.Is.
var (
	// ErrInvalid: the token is malformed, badly signed, for another
	// audience, expired, not yet valid, or signed with another algorithm.
	ErrInvalid = errors.New("invalid ID token")
	// ErrUntrustedIssuer: its issuer is not one the operator trusts.
	ErrUntrustedIssuer = errors.New("ID token from an issuer that is not trusted")
	// ErrIssuerUnavailable: the issuer's discovery document or keys could
	// not be fetched.
	ErrIssuerUnavailable = errors.New("the issuer's keys could not be fetched")
)

// Options configure a Verifier.
type Options struct {
	// Audience is the aud the tokens must carry: "npm:" and the registry's host name.
	Audience string
	// Skew is the allowance on expiry, not-before and issued-at; 0 means DefaultSkew.
	Skew time.Duration
	// Client fetches discovery documents and keys; nil means one with a
	// 10-second timeout. Responses over 1 MiB are refused either way.
	Client *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Verifier verifies ID tokens from a fixed set of trusted issuers.
type Verifier struct {
	opts    Options
	client  *http.Client
	issuers map[string]*issuer
}

// issuer is one trusted issuer and its verifier, made on first use.
type issuer struct {
	cfg    Issuer
	static oidc.KeySet // the keys of a JWKS file, when configured

	mu       sync.Mutex
	verifier *oidc.IDTokenVerifier
	failedAt time.Time
	failure  error
}

// New returns a Verifier for issuers. Key sets in files are read now, so a
// broken one stops the start; issuers themselves are asked on first use.
func New(issuers []Issuer, opts Options) (*Verifier, error) {
	if opts.Audience == "" {
		return nil, errors.New("idtoken: no audience")
	}
	if opts.Skew <= 0 {
		opts.Skew = DefaultSkew
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	client := opts.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	base := client.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	limited := *client
	limited.Transport = limitedTransport{base: base, max: maxIssuerResponse}
	v := &Verifier{opts: opts, client: &limited, issuers: map[string]*issuer{}}
	for _, cfg := range issuers {
		if _, dup := v.issuers[cfg.URL]; dup {
			return nil, fmt.Errorf("idtoken: issuer %s is listed twice", cfg.URL)
		}
		is := &issuer{cfg: cfg}
		if cfg.JWKS != "" && !IsURL(cfg.JWKS) {
			ks, err := readKeySet(cfg.JWKS)
			if err != nil {
				return nil, fmt.Errorf("idtoken: issuer %s: %w", cfg.URL, err)
			}
			is.static = ks
		}
		v.issuers[cfg.URL] = is
	}
	return v, nil
}

// Audience is the aud the Verifier requires.
func (v *Verifier) Audience() string { return v.opts.Audience }

// Issuers lists the trusted issuers.
func (v *Verifier) Issuers() []Issuer {
	out := make([]Issuer, 0, len(v.issuers))
	for _, is := range v.issuers {
		out = append(out, is.cfg)
	}
	return out
}

// IsURL reports whether a JWKS location is an http(s) URL rather than a file.
func IsURL(loc string) bool {
	return strings.HasPrefix(loc, "https://") || strings.HasPrefix(loc, "http://")
}

// Identity is a verified token: who the CI job is.
type Identity struct {
	// Issuer is the trusted issuer that signed it.
	Issuer Issuer
	// Subject is its sub claim.
	Subject string
	// Expiry is when it stops being valid (without the skew allowance).
	Expiry time.Time
	// ReplayKey identifies the token for replay protection: a hash of the
	// issuer and its jti, or of the whole token when it has no jti.
	ReplayKey []byte
	claims    map[string]json.RawMessage
}

// String returns a string claim; ok is false when it is missing or not a string.
func (id Identity) String(name string) (string, bool) {
	raw, found := id.claims[name]
	if !found {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// Strings returns a claim holding a list of strings (or one string).
func (id Identity) Strings(name string) ([]string, bool) {
	raw, found := id.claims[name]
	if !found {
		return nil, false
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err == nil {
		return list, true
	}
	if s, ok := id.String(name); ok {
		return []string{s}, true
	}
	return nil, false
}

// claims are the registered claims this package checks itself.
type claims struct {
	Issuer    string   `json:"iss"`
	ID        string   `json:"jti"`
	Expiry    *float64 `json:"exp"`
	NotBefore *float64 `json:"nbf"`
	IssuedAt  *float64 `json:"iat"`
}

// Verify checks raw and returns the identity it proves. Every refusal
// wraps ErrInvalid, ErrUntrustedIssuer or ErrIssuerUnavailable, with the
// reason (for the log: the client is told only that it is unauthorized).
func (v *Verifier) Verify(ctx context.Context, raw string) (Identity, error) {
	if len(raw) > MaxTokenBytes {
		return Identity{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalid, MaxTokenBytes)
	}
	// Which issuer to ask is read before the signature is checked: the
	// token is parsed (refusing every algorithm but RS256 and ES256) and
	// only its iss is looked at until the issuer's keys have verified it.
	jws, err := jose.ParseSignedCompact(raw, joseAlgorithms)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	var peek claims
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &peek); err != nil {
		return Identity{}, fmt.Errorf("%w: claims are not a JSON object: %v", ErrInvalid, err)
	}
	is, ok := v.issuers[peek.Issuer]
	if !ok {
		return Identity{}, fmt.Errorf("%w: %q", ErrUntrustedIssuer, peek.Issuer)
	}
	verifier, err := is.get(ctx, v)
	if err != nil {
		return Identity{}, err
	}
	tok, err := verifier.Verify(oidc.ClientContext(ctx, v.client), raw)
	if err != nil {
		if strings.Contains(err.Error(), "fetching keys") {
			return Identity{}, fmt.Errorf("%w: %s: %v", ErrIssuerUnavailable, is.cfg.URL, err)
		}
		return Identity{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	var c claims
	var all map[string]json.RawMessage
	if err := tok.Claims(&c); err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := tok.Claims(&all); err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	now := v.opts.Now()
	skew := v.opts.Skew
	switch {
	case c.Expiry == nil:
		return Identity{}, fmt.Errorf("%w: no expiry", ErrInvalid)
	case !now.Before(unix(*c.Expiry).Add(skew)):
		return Identity{}, fmt.Errorf("%w: expired at %s", ErrInvalid, unix(*c.Expiry).UTC().Format(time.RFC3339))
	case c.NotBefore != nil && now.Add(skew).Before(unix(*c.NotBefore)):
		return Identity{}, fmt.Errorf("%w: not valid before %s", ErrInvalid, unix(*c.NotBefore).UTC().Format(time.RFC3339))
	case c.IssuedAt != nil && now.Add(skew).Before(unix(*c.IssuedAt)):
		return Identity{}, fmt.Errorf("%w: issued in the future, at %s", ErrInvalid, unix(*c.IssuedAt).UTC().Format(time.RFC3339))
	}
	id := Identity{Issuer: is.cfg, Subject: tok.Subject, Expiry: unix(*c.Expiry), claims: all}
	h := sha256.New()
	h.Write([]byte(is.cfg.URL))
	h.Write([]byte{0})
	if c.ID != "" {
		h.Write([]byte("jti:" + c.ID))
	} else {
		h.Write([]byte("token:" + raw))
	}
	id.ReplayKey = h.Sum(nil)
	return id, nil
}

func unix(secs float64) time.Time {
	return time.Unix(0, 0).Add(time.Duration(secs * float64(time.Second)))
}

// get returns the issuer's verifier, making it on first use: through
// discovery, or from the configured key set. A failed discovery is
// remembered for retryDiscovery.
func (is *issuer) get(ctx context.Context, v *Verifier) (*oidc.IDTokenVerifier, error) {
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.verifier != nil {
		return is.verifier, nil
	}
	cfg := &oidc.Config{
		ClientID:             v.opts.Audience,
		SupportedSigningAlgs: Algorithms,
		// Expiry, not-before and issued-at are checked by Verify, with the
		// skew allowance go-oidc does not give on expiry.
		SkipExpiryCheck: true,
	}
	switch {
	case is.static != nil:
		is.verifier = oidc.NewVerifier(is.cfg.URL, is.static, cfg)
	case is.cfg.JWKS != "":
		keys := oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), v.client), is.cfg.JWKS)
		is.verifier = oidc.NewVerifier(is.cfg.URL, keys, cfg)
	default:
		if !is.failedAt.IsZero() && v.opts.Now().Sub(is.failedAt) < retryDiscovery {
			return nil, fmt.Errorf("%w: %s: %v (not asked again for %s)", ErrIssuerUnavailable, is.cfg.URL, is.failure, retryDiscovery)
		}
		// The provider keeps the client for its key set, and its own
		// context: a request that ends does not stop a key fetch others wait on.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		p, err := oidc.NewProvider(oidc.ClientContext(dctx, v.client), is.cfg.URL)
		if err != nil {
			is.failedAt, is.failure = v.opts.Now(), err
			return nil, fmt.Errorf("%w: %s: %v", ErrIssuerUnavailable, is.cfg.URL, err)
		}
		is.verifier = p.Verifier(cfg)
	}
	return is.verifier, nil
}

// readKeySet reads a JWKS file: the public RSA and ECDSA keys in it.
func readKeySet(path string) (oidc.KeySet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read key set: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxIssuerResponse+1))
	if err != nil {
		return nil, fmt.Errorf("read key set %s: %w", path, err)
	}
	if len(data) > maxIssuerResponse {
		return nil, fmt.Errorf("key set %s is larger than %d bytes", path, maxIssuerResponse)
	}
	return ParseKeySet(data)
}

// ParseKeySet reads a JWKS document ({"keys": [...]}) into a key set of
// its public keys; private keys are refused, so a secret never sits in a
// file meant to be public.
func ParseKeySet(data []byte) (oidc.KeySet, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("key set: %w", err)
	}
	ks := &oidc.StaticKeySet{}
	for i, k := range set.Keys {
		if !k.IsPublic() {
			return nil, fmt.Errorf("key set: key %d (%q) is not a public key", i+1, k.KeyID)
		}
		if !k.Valid() {
			return nil, fmt.Errorf("key set: key %d (%q) is not valid", i+1, k.KeyID)
		}
		ks.PublicKeys = append(ks.PublicKeys, k.Key)
	}
	if len(ks.PublicKeys) == 0 {
		return nil, errors.New("key set: no keys")
	}
	return ks, nil
}

// limitedTransport refuses responses larger than max bytes.
type limitedTransport struct {
	base http.RoundTripper
	max  int64
}

func (t limitedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > t.max {
		resp.Body.Close()
		return nil, fmt.Errorf("%s: answer of %d bytes is larger than %d", r.URL.Redacted(), resp.ContentLength, t.max)
	}
	resp.Body = &limitedBody{ReadCloser: resp.Body, left: t.max}
	return resp, nil
}

// limitedBody fails a read past its limit instead of truncating silently.
type limitedBody struct {
	io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells a body of exactly the limit from a longer one.
		var one [1]byte
		if n, _ := b.ReadCloser.Read(one[:]); n > 0 {
			return 0, errors.New("answer is larger than the limit")
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}
