package registry

import (
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
)

// bundleFor is a Sigstore bundle whose DSSE payload is statement.
func bundleFor(t *testing.T, mediaType, payloadType string, statement any) []byte {
	t.Helper()
	payload, err := json.Marshal(statement)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]any{"mediaType": mediaType, "dsseEnvelope": map[string]any{
		"payload": base64.StdEncoding.EncodeToString(payload), "payloadType": payloadType, "signatures": []any{}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func statementOf(subjects ...map[string]any) map[string]any {
	return map[string]any{"_type": "https://in-toto.io/Statement/v1", "subject": subjects,
		"predicateType": "https://slsa.dev/provenance/v1", "predicate": map[string]any{}}
}

func TestCheckProvenance(t *testing.T) {
	sum := sha512.Sum512([]byte("the tarball"))
	digest := hex.EncodeToString(sum[:])
	const bundleType, intoto = "application/vnd.dev.sigstore.bundle.v0.3+json", "application/vnd.in-toto+json"
	subject := func(name, d string) map[string]any {
		return map[string]any{"name": name, "digest": map[string]string{"sha512": d}}
	}
	tests := []struct {
		name, pkg string
		bundle    []byte
		want      string // "" for accepted, else a part of the message
	}{
		{"scoped", "@acme/lib", bundleFor(t, bundleType, intoto, statementOf(subject("pkg:npm/%40acme/lib@1.0.0", digest))), ""},
		{"unscoped", "lib", bundleFor(t, bundleType, intoto, statementOf(subject("pkg:npm/lib@1.0.0", digest))), ""},
		{"older media type", "lib", bundleFor(t, "application/vnd.dev.sigstore.bundle+json;version=0.2", intoto,
			statementOf(subject("pkg:npm/lib@1.0.0", digest))), ""},
		{"wrong digest", "lib", bundleFor(t, bundleType, intoto, statementOf(subject("pkg:npm/lib@1.0.0", strings.Repeat("0", 128)))),
			"digest does not match the tarball"},
		{"digest not hex", "lib", bundleFor(t, bundleType, intoto, statementOf(subject("pkg:npm/lib@1.0.0", "zz"))),
			"digest does not match the tarball"},
		{"no sha512 digest", "lib", bundleFor(t, bundleType, intoto, statementOf(map[string]any{"name": "pkg:npm/lib@1.0.0",
			"digest": map[string]string{"sha256": digest}})), "digest does not match the tarball"},
		{"another version", "lib", bundleFor(t, bundleType, intoto, statementOf(subject("pkg:npm/lib@1.0.1", digest))),
			`subject "pkg:npm/lib@1.0.1" does not match the package: pkg:npm/lib@1.0.0`},
		{"scope unescaped", "@acme/lib", bundleFor(t, bundleType, intoto, statementOf(subject("pkg:npm/@acme/lib@1.0.0", digest))),
			"does not match the package"},
		{"two subjects", "lib", bundleFor(t, bundleType, intoto, statementOf(subject("pkg:npm/lib@1.0.0", digest),
			subject("pkg:npm/lib@1.0.0", digest))), "exactly one subject, got 2"},
		{"no subject", "lib", bundleFor(t, bundleType, intoto, statementOf()), "exactly one subject, got 0"},
		{"not in-toto", "lib", bundleFor(t, bundleType, "text/plain", statementOf(subject("pkg:npm/lib@1.0.0", digest))),
			"not an in-toto statement"},
		{"not a bundle", "lib", bundleFor(t, "application/json", intoto, statementOf(subject("pkg:npm/lib@1.0.0", digest))),
			"not a Sigstore bundle"},
		{"no envelope", "lib", []byte(`{"mediaType":"` + bundleType + `","messageSignature":{}}`), "no DSSE envelope"},
		{"payload not base64", "lib", []byte(`{"mediaType":"` + bundleType + `","dsseEnvelope":{"payload":"!!","payloadType":"` + intoto + `"}}`),
			"not valid base64"},
		{"not JSON", "lib", []byte(`not json`), "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := checkProvenance(tt.pkg, "1.0.0", tt.bundle, sum)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want == "" && (p.PredicateType != "https://slsa.dev/provenance/v1" || string(p.Bundle) != string(tt.bundle)):
				t.Fatalf("accepted as %+v", p)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestAttestationsPath(t *testing.T) {
	for name, want := range map[string]string{
		"lib":       "/-/npm/v1/attestations/lib@1.0.0",
		"@acme/lib": "/-/npm/v1/attestations/@acme%2flib@1.0.0",
	} {
		if got := AttestationsPath(name, "1.0.0"); got != want {
			t.Errorf("AttestationsPath(%q) = %q, want %q", name, got, want)
		}
	}
}

// FuzzCheckProvenance: whatever the bundle, checkProvenance does not panic,
// and a bundle it accepts names exactly this package and version with the
// tarball's digest, and is kept byte for byte.
func FuzzCheckProvenance(f *testing.F) {
	sum := sha512.Sum512([]byte("the tarball"))
	digest := hex.EncodeToString(sum[:])
	good := func(name string) []byte {
		payload, _ := json.Marshal(map[string]any{"subject": []map[string]any{{"name": name,
			"digest": map[string]string{"sha512": digest}}}, "predicateType": "https://slsa.dev/provenance/v1"})
		b, _ := json.Marshal(map[string]any{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
			"dsseEnvelope": map[string]any{"payload": base64.StdEncoding.EncodeToString(payload),
				"payloadType": "application/vnd.in-toto+json"}})
		return b
	}
	f.Add("@acme/lib", good("pkg:npm/%40acme/lib@1.0.0"))
	f.Add("lib", good("pkg:npm/lib@1.0.0"))
	f.Add("lib", []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle+json","dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json"}}`))
	f.Fuzz(func(t *testing.T, name string, bundle []byte) {
		p, err := checkProvenance(name, "1.0.0", bundle, sum)
		if err != nil {
			return
		}
		if string(p.Bundle) != string(bundle) || p.PredicateType == "" {
			t.Fatalf("accepted bundle kept as %+v", p)
		}
		var b struct {
			DSSEEnvelope struct{ Payload string } `json:"dsseEnvelope"`
		}
		if json.Unmarshal(bundle, &b) != nil {
			t.Fatal("accepted a bundle that is not JSON")
		}
		payload, _ := base64.StdEncoding.DecodeString(b.DSSEEnvelope.Payload)
		var st struct {
			Subject []struct {
				Name   string
				Digest map[string]string
			}
		}
		if json.Unmarshal(payload, &st) != nil || len(st.Subject) != 1 || st.Subject[0].Name != ProvenanceSubject(name, "1.0.0") ||
			!strings.EqualFold(st.Subject[0].Digest["sha512"], digest) {
			t.Fatalf("accepted a statement that does not name %s@1.0.0 with the tarball's digest: %s", name, payload)
		}
	})
}
