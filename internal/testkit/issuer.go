package testkit

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Issuer is an OIDC issuer for tests, on a loopback port: its own key pair,
// a discovery document at /.well-known/openid-configuration, its key set at
// /jwks, and a GitHub Actions-style token request endpoint at /token (what
// ACTIONS_ID_TOKEN_REQUEST_URL names: GET with ?audience=, answered with
// {"value": token} to the bearer of RequestToken). It signs tokens with
// go-jose; tests make good ones and bad ones with Sign and SignWith.
type Issuer struct {
	t testing.TB
	// URL is the issuer's URL, the iss of its tokens.
	URL string
	// RequestToken is what the token request endpoint wants as its bearer
	// (ACTIONS_ID_TOKEN_REQUEST_TOKEN).
	RequestToken string

	mu        sync.Mutex
	key       *IssuerKey
	published []*IssuerKey
	claims    map[string]any // the claims /token puts in its tokens
	requests  []string       // audiences asked for at /token
	keyFetch  int
}

// IssuerKey is a signing key and its key id.
type IssuerKey struct {
	ID        string
	Algorithm jose.SignatureAlgorithm
	Private   crypto.Signer
}

// NewIssuerKey makes a key for alg (RS256 or ES256).
func NewIssuerKey(t testing.TB, alg jose.SignatureAlgorithm) *IssuerKey {
	t.Helper()
	var k crypto.Signer
	var err error
	switch alg {
	case jose.RS256:
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.ES256:
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		t.Fatalf("testkit: no key for %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	var id [6]byte
	_, _ = rand.Read(id[:])
	return &IssuerKey{ID: fmt.Sprintf("%s-%x", alg, id), Algorithm: alg, Private: k}
}

// JWK is the key's public half as a JSON Web Key.
func (k *IssuerKey) JWK() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.Private.Public(), KeyID: k.ID, Algorithm: string(k.Algorithm), Use: "sig"}
}

// NewIssuer starts an issuer signing with a fresh RS256 key, until t ends.
func NewIssuer(t testing.TB) *Issuer {
	t.Helper()
	is := &Issuer{t: t, RequestToken: "request-token-for-tests", claims: map[string]any{}}
	is.key = NewIssuerKey(t, jose.RS256)
	is.published = []*IssuerKey{is.key}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeIssuerJSON(w, map[string]any{
			"issuer": is.URL, "jwks_uri": is.URL + "/jwks",
			"response_types_supported":              []string{"id_token"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
			"claims_supported":                      []string{"sub", "aud", "exp", "iat", "iss", "jti", "nbf"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		writeIssuerJSON(w, is.KeySet())
		is.mu.Lock()
		is.keyFetch++
		is.mu.Unlock()
	})
	mux.HandleFunc("GET /token", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+is.RequestToken {
			w.WriteHeader(http.StatusUnauthorized)
			writeIssuerJSON(w, map[string]string{"message": "bad request token"})
			return
		}
		aud := r.URL.Query().Get("audience")
		is.mu.Lock()
		is.requests = append(is.requests, aud)
		claims := map[string]any{}
		for k, v := range is.claims {
			claims[k] = v
		}
		is.mu.Unlock()
		if aud != "" {
			claims["aud"] = aud
		}
		writeIssuerJSON(w, map[string]string{"value": is.Sign(claims)})
	})
	is.URL = Serve(t, mux)
	return is
}

func writeIssuerJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// KeySet is the JWKS the issuer publishes.
func (is *Issuer) KeySet() jose.JSONWebKeySet {
	is.mu.Lock()
	defer is.mu.Unlock()
	var set jose.JSONWebKeySet
	for _, k := range is.published {
		set.Keys = append(set.Keys, k.JWK())
	}
	return set
}

// KeySetJSON is KeySet as a JWKS document.
func (is *Issuer) KeySetJSON() []byte {
	b, err := json.Marshal(is.KeySet())
	if err != nil {
		is.t.Fatal(err)
	}
	return b
}

// KeyFetches counts the requests for the key set so far.
func (is *Issuer) KeyFetches() int {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.keyFetch
}

// Rotate makes a new signing key of alg and publishes it; the old key stays
// published when keepOld is set, else it is withdrawn.
func (is *Issuer) Rotate(alg jose.SignatureAlgorithm, keepOld bool) *IssuerKey {
	k := NewIssuerKey(is.t, alg)
	is.mu.Lock()
	defer is.mu.Unlock()
	if keepOld {
		is.published = append(is.published, k)
	} else {
		is.published = []*IssuerKey{k}
	}
	is.key = k
	return k
}

// SetClaims sets the claims the token request endpoint puts in its tokens
// (iss, iat, nbf, exp and jti are added; aud is the audience asked for).
func (is *Issuer) SetClaims(claims map[string]any) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.claims = claims
}

// Audiences are the audiences asked for at the token request endpoint so far.
func (is *Issuer) Audiences() []string {
	is.mu.Lock()
	defer is.mu.Unlock()
	return append([]string(nil), is.requests...)
}

// Claims are the standard claims of a token valid for ten minutes from
// now, for aud, plus extra.
func (is *Issuer) Claims(aud string, extra map[string]any) map[string]any {
	now := time.Now()
	var jti [12]byte
	_, _ = rand.Read(jti[:])
	c := map[string]any{
		"iss": is.URL, "aud": aud, "iat": now.Unix(), "nbf": now.Unix() - 5,
		"exp": now.Add(10 * time.Minute).Unix(), "jti": fmt.Sprintf("%x", jti),
	}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

// Sign signs claims with the issuer's current key. Claims missing iss,
// iat, nbf, exp or jti get the defaults of Claims.
func (is *Issuer) Sign(claims map[string]any) string {
	is.mu.Lock()
	k := is.key
	is.mu.Unlock()
	aud, _ := claims["aud"].(string)
	full := is.Claims(aud, nil)
	for key, v := range claims {
		full[key] = v
	}
	return SignJWT(is.t, k, full)
}

// SignJWT signs claims with k as a compact JWS, naming the key id.
func SignJWT(t testing.TB, k *IssuerKey, claims map[string]any) string {
	t.Helper()
	return signCompact(t, jose.SigningKey{Algorithm: k.Algorithm, Key: k.Private}, k.ID, claims)
}

// signCompact signs claims with key as a compact JWT whose header names kid.
func signCompact(t testing.TB, key jose.SigningKey, kid string, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(key, (&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), kid))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// UnsignedJWT is a token with alg "none" and no signature, for attacks.
func UnsignedJWT(t testing.TB, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return b64url([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64url(payload) + "."
}

// HMACJWT is a token signed with HS256 and secret: the key confusion
// attack, when secret is an issuer's public key.
func HMACJWT(t testing.TB, secret []byte, kid string, claims map[string]any) string {
	t.Helper()
	return signCompact(t, jose.SigningKey{Algorithm: jose.HS256, Key: secret}, kid, claims)
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
