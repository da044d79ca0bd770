package idtoken

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/testkit"
	jose "github.com/go-jose/go-jose/v4"
)

const aud = "npm:registry.test"

func newVerifier(t *testing.T, issuers ...Issuer) *Verifier {
	t.Helper()
	v, err := New(issuers, Options{Audience: aud})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestVerify covers every reason a token is refused, beside good tokens of
// both accepted algorithms.
func TestVerify(t *testing.T) {
	is := testkit.NewIssuer(t)
	v := newVerifier(t, Issuer{URL: is.URL, Kind: GitHub})
	other := testkit.NewIssuerKey(t, jose.RS256) // a key the issuer never published
	rsaKey := other.Private.(*rsa.PrivateKey)
	rs384 := &testkit.IssuerKey{ID: other.ID, Algorithm: jose.RS384, Private: rsaKey}
	now := time.Now()
	good := func(extra map[string]any) map[string]any {
		return is.Claims(aud, extra)
	}
	// The issuer's public key, in the forms an attacker would try as an HMAC secret.
	pub := is.KeySet().Keys[0]
	der, err := x509.MarshalPKIXPublicKey(pub.Key)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})

	tests := []struct {
		name  string
		token func() string
		want  error // nil: accepted
	}{
		{"RS256 from the issuer", func() string { return is.Sign(good(map[string]any{"sub": "repo:o/r"})) }, nil},
		{"expired within the skew allowance", func() string {
			return is.Sign(good(map[string]any{"exp": now.Add(-30 * time.Second).Unix()}))
		}, nil},
		{"alg none", func() string { return testkit.UnsignedJWT(t, good(nil)) }, ErrInvalid},
		{"HS256 keyed with the issuer's public key (PEM)", func() string {
			return testkit.HMACJWT(t, pemKey, pub.KeyID, good(nil))
		}, ErrInvalid},
		{"HS256 keyed with the issuer's public key (DER)", func() string {
			return testkit.HMACJWT(t, der, pub.KeyID, good(nil))
		}, ErrInvalid},
		{"RS384, an algorithm not allowed", func() string { return testkit.SignJWT(t, rs384, good(nil)) }, ErrInvalid},
		{"signed by a key the issuer never published", func() string { return testkit.SignJWT(t, other, good(nil)) }, ErrInvalid},
		{"signed by an unknown key naming the issuer's key id", func() string {
			return testkit.SignJWT(t, &testkit.IssuerKey{ID: pub.KeyID, Algorithm: jose.RS256, Private: rsaKey}, good(nil))
		}, ErrInvalid},
		{"wrong audience", func() string { return is.Sign(good(map[string]any{"aud": "npm:other.test"})) }, ErrInvalid},
		{"audience of the public registry", func() string {
			return is.Sign(good(map[string]any{"aud": "npm:public-registry.invalid"}))
		}, ErrInvalid},
		{"expired", func() string { return is.Sign(good(map[string]any{"exp": now.Add(-2 * time.Minute).Unix()})) }, ErrInvalid},
		{"not valid yet", func() string { return is.Sign(good(map[string]any{"nbf": now.Add(5 * time.Minute).Unix()})) }, ErrInvalid},
		{"issued in the future", func() string { return is.Sign(good(map[string]any{"iat": now.Add(5 * time.Minute).Unix()})) }, ErrInvalid},
		{"issuer not trusted", func() string { return is.Sign(good(map[string]any{"iss": "https://ci.other.invalid"})) }, ErrUntrustedIssuer},
		{"too long", func() string {
			return is.Sign(good(map[string]any{"pad": strings.Repeat("x", MaxTokenBytes)}))
		}, ErrInvalid},
		{"not a JWT", func() string { return "not.a.jwt" }, ErrInvalid},
		{"empty", func() string { return "" }, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := v.Verify(context.Background(), tt.token())
			if tt.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if id.Issuer.URL != is.URL || len(id.ReplayKey) != 32 {
					t.Fatalf("identity %+v", id)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// TestNoExpiry: a token without exp, signed by a key the issuer publishes,
// is refused for that reason alone.
func TestNoExpiry(t *testing.T) {
	is := testkit.NewIssuer(t)
	v := newVerifier(t, Issuer{URL: is.URL, Kind: GitHub})
	c := is.Claims(aud, nil)
	delete(c, "exp")
	k := is.Rotate(jose.RS256, true)
	_, err := v.Verify(context.Background(), testkit.SignJWT(t, k, c))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "no expiry") {
		t.Fatalf("got %v, want the missing expiry refused", err)
	}
}

func TestES256(t *testing.T) {
	is := testkit.NewIssuer(t)
	is.Rotate(jose.ES256, false)
	v := newVerifier(t, Issuer{URL: is.URL, Kind: GitLab})
	id, err := v.Verify(context.Background(), is.Sign(is.Claims(aud, map[string]any{"sub": "project_path:g/p", "project_path": "g/p"})))
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := id.String("project_path"); !ok || s != "g/p" || id.Subject != "project_path:g/p" {
		t.Fatalf("claims: %q %v %q", s, ok, id.Subject)
	}
}

// TestKeyRotation: the issuer withdraws its key for a new one; the
// verifier, holding the old key set, fetches the new one on the first
// token it cannot verify, and the withdrawn key stops working.
func TestKeyRotation(t *testing.T) {
	is := testkit.NewIssuer(t)
	v := newVerifier(t, Issuer{URL: is.URL, Kind: GitHub})
	oldKey := is.Rotate(jose.RS256, false)
	if _, err := v.Verify(context.Background(), is.Sign(is.Claims(aud, nil))); err != nil {
		t.Fatal(err)
	}
	fetches := is.KeyFetches()
	// Cached: a second token costs no fetch.
	if _, err := v.Verify(context.Background(), is.Sign(is.Claims(aud, nil))); err != nil {
		t.Fatal(err)
	}
	if got := is.KeyFetches(); got != fetches {
		t.Fatalf("key set fetched again for a known key: %d fetches, had %d", got, fetches)
	}
	is.Rotate(jose.ES256, false)
	if _, err := v.Verify(context.Background(), is.Sign(is.Claims(aud, nil))); err != nil {
		t.Fatalf("token of the new key: %v", err)
	}
	if is.KeyFetches() <= fetches {
		t.Fatal("the rotated key set was not fetched")
	}
	if _, err := v.Verify(context.Background(), testkit.SignJWT(t, oldKey, is.Claims(aud, nil))); !errors.Is(err, ErrInvalid) {
		t.Fatalf("token of the withdrawn key: %v", err)
	}
}

// TestJWKSOverride: an air-gapped setup names the key set, in a file or at
// a URL, and the issuer's own address is never asked.
func TestJWKSOverride(t *testing.T) {
	is := testkit.NewIssuer(t)
	const url = "https://ci.airgapped.invalid"
	file := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(file, is.KeySetJSON(), 0o600); err != nil {
		t.Fatal(err)
	}
	var served atomic.Int32
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		_, _ = w.Write(is.KeySetJSON())
	}))
	defer keys.Close()
	for _, jwks := range []string{file, keys.URL} {
		t.Run(jwks, func(t *testing.T) {
			v := newVerifier(t, Issuer{URL: url, Kind: GitHub, JWKS: jwks})
			id, err := v.Verify(context.Background(), is.Sign(is.Claims(aud, map[string]any{"iss": url, "sub": "s"})))
			if err != nil {
				t.Fatal(err)
			}
			if id.Issuer.URL != url {
				t.Fatalf("issuer %q", id.Issuer.URL)
			}
			other := testkit.NewIssuerKey(t, jose.ES256)
			if _, err := v.Verify(context.Background(), testkit.SignJWT(t, other, is.Claims(aud, map[string]any{"iss": url}))); !errors.Is(err, ErrInvalid) {
				t.Fatalf("a key outside the set: %v", err)
			}
		})
	}
	if served.Load() == 0 {
		t.Fatal("the key set URL was never asked")
	}
}

func TestJWKSFileRefusesPrivateKeys(t *testing.T) {
	k := testkit.NewIssuerKey(t, jose.ES256)
	priv := jose.JSONWebKey{Key: k.Private, KeyID: k.ID, Algorithm: "ES256"}
	b, err := priv.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseKeySet([]byte(`{"keys":[` + string(b) + `]}`)); err == nil || !strings.Contains(err.Error(), "not a public key") {
		t.Fatalf("private key accepted: %v", err)
	}
	if _, err := ParseKeySet([]byte(`{"keys":[]}`)); err == nil {
		t.Fatal("empty key set accepted")
	}
	file := filepath.Join(t.TempDir(), "missing.json")
	if _, err := New([]Issuer{{URL: "https://x.invalid", Kind: GitHub, JWKS: file}}, Options{Audience: aud}); err == nil {
		t.Fatal("a missing key set file was accepted at start")
	}
}

// TestIssuerUnavailable: an issuer that does not answer makes a refusal
// of its own kind, and is not asked again at once.
func TestIssuerUnavailable(t *testing.T) {
	var asked atomic.Int32
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	is := testkit.NewIssuer(t)
	v := newVerifier(t, Issuer{URL: down.URL, Kind: GitHub})
	tok := is.Sign(is.Claims(aud, map[string]any{"iss": down.URL}))
	for range 3 {
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrIssuerUnavailable) {
			t.Fatalf("got %v", err)
		}
	}
	if n := asked.Load(); n != 1 {
		t.Fatalf("the issuer was asked %d times, want once", n)
	}
}

// TestOversizedKeySet: an issuer's answer is bounded.
func TestOversizedKeySet(t *testing.T) {
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"keys":[],"pad":"`))
		chunk := []byte(strings.Repeat("x", 64<<10))
		for range 40 {
			_, _ = w.Write(chunk)
		}
		_, _ = w.Write([]byte(`"}`))
	}))
	defer big.Close()
	is := testkit.NewIssuer(t)
	v := newVerifier(t, Issuer{URL: "https://ci.big.invalid", Kind: GitHub, JWKS: big.URL})
	_, err := v.Verify(context.Background(), is.Sign(is.Claims(aud, map[string]any{"iss": "https://ci.big.invalid"})))
	if !errors.Is(err, ErrIssuerUnavailable) {
		t.Fatalf("got %v", err)
	}
}

// TestReplayKey: the same jti gives the same key; a token without one is
// identified by its own bytes; issuers keep their jtis apart.
func TestReplayKey(t *testing.T) {
	is := testkit.NewIssuer(t)
	v := newVerifier(t, Issuer{URL: is.URL, Kind: GitHub})
	key := func(claims map[string]any) string {
		id, err := v.Verify(context.Background(), is.Sign(claims))
		if err != nil {
			t.Fatal(err)
		}
		return string(id.ReplayKey)
	}
	a := key(is.Claims(aud, map[string]any{"jti": "same"}))
	b := key(is.Claims(aud, map[string]any{"jti": "same", "sub": "different bytes"}))
	c := key(is.Claims(aud, map[string]any{"jti": "other"}))
	if a != b || a == c {
		t.Fatal("jti does not identify the token")
	}
	noJTI := is.Claims(aud, nil)
	delete(noJTI, "jti")
	k := is.Rotate(jose.RS256, true)
	tok := testkit.SignJWT(t, k, noJTI)
	id1, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	id2, _ := v.Verify(context.Background(), tok)
	noJTI["sub"] = "x"
	id3, _ := v.Verify(context.Background(), testkit.SignJWT(t, k, noJTI))
	if string(id1.ReplayKey) != string(id2.ReplayKey) || string(id1.ReplayKey) == string(id3.ReplayKey) {
		t.Fatal("a token without jti is not identified by its bytes")
	}
}

func TestNewRefusesDuplicatesAndNoAudience(t *testing.T) {
	if _, err := New(nil, Options{}); err == nil {
		t.Fatal("no audience accepted")
	}
	if _, err := New([]Issuer{{URL: "https://a.invalid"}, {URL: "https://a.invalid"}}, Options{Audience: aud}); err == nil {
		t.Fatal("duplicate issuer accepted")
	}
}
