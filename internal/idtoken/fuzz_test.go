package idtoken

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzVerify feeds arbitrary strings to the whole verification path (JWS
// parsing, the issuer look-up, signature, claims). The verifier trusts one
// issuer whose key set is testdata/fuzz-jwks.json, at a fixed time, so the
// committed seed "valid" (testdata/fuzz/FuzzVerify) verifies and every
// mutation of it must not: no panic, and nothing but a correctly signed
// token of that issuer and audience is ever accepted.
func FuzzVerify(f *testing.F) {
	at := time.Date(2030, 1, 1, 0, 10, 0, 0, time.UTC)
	const iss = "https://fuzz.invalid"
	v, err := New([]Issuer{{URL: iss, Kind: GitHub, JWKS: "testdata/fuzz-jwks.json"}},
		Options{Audience: aud, Now: func() time.Time { return at }})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, raw string) {
		id, err := v.Verify(context.Background(), raw)
		if err != nil {
			return
		}
		if id.Issuer.URL != iss || len(id.ReplayKey) != 32 || id.Expiry.Before(at.Add(-time.Minute)) {
			t.Fatalf("accepted %q as %+v", raw, id)
		}
		if repo, _ := id.String("repository"); repo != "o/r" {
			t.Fatalf("accepted a token whose claims differ from the signed seed: %q", raw)
		}
	})
}

// TestFuzzSeedsVerify keeps the seed corpus meaningful: the valid seed is
// accepted (so mutations start from a token that gets all the way
// through), the others are not.
func TestFuzzSeedsVerify(t *testing.T) {
	at := time.Date(2030, 1, 1, 0, 10, 0, 0, time.UTC)
	v, err := New([]Issuer{{URL: "https://fuzz.invalid", Kind: GitHub, JWKS: "testdata/fuzz-jwks.json"}},
		Options{Audience: aud, Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"valid": true, "none": false, "hmac": false, "garbage": false} {
		raw := readSeed(t, "testdata/fuzz/FuzzVerify/"+name)
		if _, err := v.Verify(context.Background(), raw); (err == nil) != want {
			t.Errorf("seed %s: accepted=%v, want %v (%v)", name, err == nil, want, err)
		}
	}
}

// readSeed reads the string of a one-value seed file of go test's corpus format.
func readSeed(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\nstring(")
	if !ok {
		t.Fatalf("%s: not a string seed", path)
	}
	s, err := strconv.Unquote(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), ")")))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return s
}
