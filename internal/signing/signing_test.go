package signing

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The known vector: testdata/p256.pem is a P-256 key made with
//
//	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256
//
// and the values below were computed from it with openssl alone:
//
//	openssl pkey -in p256.pem -pubout -outform DER | openssl dgst -sha256 -binary | base64 | tr -d =
//	printf %s 'demo@1.0.0:sha512-abc' | openssl dgst -sha256 -sign p256.pem | base64 -w0
const (
	vectorKeyID   = "SHA256:/lIbNV3gkWr1rl4aeBPQI5EBdWKvX8NJgwe7yX8j3gw"
	vectorMessage = "demo@1.0.0:sha512-abc"
	vectorSig     = "MEUCIQDKGdZsIqSJ6Uuhw97Ejdn8y8N7lviTY7OnpPJrPpOSyQIgC4yGmXRigaCLVOnYbqllOL5reM9KQDs2o0d5Mnr4rUk="
	// vectorSPKI is testdata/p256.pub.pem's body: the key endpoint's "key".
	vectorSPKI = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEYY/4tU1cTKONfPDKCbeEt8w3YvIeDmckpx62+VBETBS8thSS+BGU8zS+EHkqsuHGM8P/NstCaJ/8VkATKYRRsw=="
)

func vectorKey(t testing.TB) *Key {
	t.Helper()
	b, err := os.ReadFile("testdata/p256.pem")
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatal("testdata/p256.pem: no PEM block")
	}
	k, err := ParseKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// openssl returns the path of the openssl command; a machine without it
// skips, except on CI, where it fails.
func openssl(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("openssl is not installed (CI needs it: apt-get install openssl)")
		}
		t.Skip("openssl is not installed")
	}
	return p
}

func TestKeyIDOfKnownKey(t *testing.T) {
	k := vectorKey(t)
	if k.ID() != vectorKeyID {
		t.Errorf("key id %s, want %s", k.ID(), vectorKeyID)
	}
	if got := base64.StdEncoding.EncodeToString(k.PublicDER()); got != vectorSPKI {
		t.Errorf("SPKI %s, want %s", got, vectorSPKI)
	}
	if strings.HasSuffix(k.ID(), "=") {
		t.Errorf("key id %s keeps base64 padding", k.ID())
	}
}

// TestKeyIDAgreesWithOpenSSL computes the key id of fresh keys with openssl
// too.
func TestKeyIDAgreesWithOpenSSL(t *testing.T) {
	bin := openssl(t)
	for range 3 {
		k, err := GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		pub := filepath.Join(t.TempDir(), "pub.pem")
		if err := os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: k.PublicDER()}), 0o600); err != nil {
			t.Fatal(err)
		}
		der, err := exec.Command(bin, "pkey", "-pubin", "-in", pub, "-outform", "DER").Output()
		if err != nil {
			t.Fatalf("openssl pkey: %v", err)
		}
		cmd := exec.Command(bin, "dgst", "-sha256", "-binary")
		cmd.Stdin = bytes.NewReader(der)
		sum, err := cmd.Output()
		if err != nil {
			t.Fatalf("openssl dgst: %v", err)
		}
		want := "SHA256:" + strings.TrimRight(base64.StdEncoding.EncodeToString(sum), "=")
		if k.ID() != want {
			t.Errorf("key id %s, openssl says %s", k.ID(), want)
		}
	}
}

// TestVerifyKnownSignature checks openssl's signature of the known vector,
// and that what a client must refuse is refused: another message, another
// key id, and the raw r‖s form, which is not what npm clients read.
func TestVerifyKnownSignature(t *testing.T) {
	spki, _ := base64.StdEncoding.DecodeString(vectorSPKI)
	good := Signature{KeyID: vectorKeyID, Sig: vectorSig}
	if !Verify(spki, []byte(vectorMessage), good) {
		t.Fatal("openssl's signature of the known vector does not verify")
	}
	der, _ := base64.StdEncoding.DecodeString(vectorSig)
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(der, &rs); err != nil {
		t.Fatal(err)
	}
	raw := append(rs.R.FillBytes(make([]byte, 32)), rs.S.FillBytes(make([]byte, 32))...)
	for _, c := range []struct {
		name string
		msg  string
		sig  Signature
	}{
		{"other version", "demo@1.0.1:sha512-abc", good},
		{"other integrity", "demo@1.0.0:sha512-abd", good},
		{"other key id", vectorMessage, Signature{KeyID: "SHA256:x", Sig: vectorSig}},
		{"raw r||s", vectorMessage, Signature{KeyID: vectorKeyID, Sig: base64.StdEncoding.EncodeToString(raw)}},
		{"not base64", vectorMessage, Signature{KeyID: vectorKeyID, Sig: "%%%"}},
	} {
		if Verify(spki, []byte(c.msg), c.sig) {
			t.Errorf("%s: verified", c.name)
		}
	}
}

// TestSignatureVerifiedByOpenSSL signs with the known key and has openssl
// verify the signature, as a client would with the key endpoint's key.
func TestSignatureVerifiedByOpenSSL(t *testing.T) {
	bin := openssl(t)
	k := vectorKey(t)
	sig, err := k.Sign("@scope/demo", "2.0.0-beta.1", "sha512-Zm9v")
	if err != nil {
		t.Fatal(err)
	}
	if sig.KeyID != vectorKeyID {
		t.Errorf("signature key id %s", sig.KeyID)
	}
	der, err := base64.StdEncoding.DecodeString(sig.Sig)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pub := write("pub.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: k.PublicDER()}))
	sigFile := write("sig.der", der)
	for _, c := range []struct {
		msg  string
		want bool
	}{
		{"@scope/demo@2.0.0-beta.1:sha512-Zm9v", true},
		{"@scope/demo@2.0.0-beta.1:sha512-Zm9w", false},
		{"@scope/demo@2.0.0:sha512-Zm9v", false},
	} {
		out, err := exec.Command(bin, "dgst", "-sha256", "-verify", pub, "-signature", sigFile, write("msg", []byte(c.msg))).CombinedOutput()
		if got := err == nil && strings.Contains(string(out), "Verified OK"); got != c.want {
			t.Errorf("openssl verify of %q: %v (%s), want %v", c.msg, got, out, c.want)
		}
	}
	if !Verify(k.PublicDER(), Message("@scope/demo", "2.0.0-beta.1", "sha512-Zm9v"), sig) {
		t.Error("Verify refuses the signature openssl accepts")
	}
}

func TestMessageAndIntegrity(t *testing.T) {
	if got := string(Message("@a/b", "1.0.0", "sha512-xyz==")); got != "@a/b@1.0.0:sha512-xyz==" {
		t.Errorf("message %q", got)
	}
	for _, c := range []struct {
		integrity, shasum, want string
		ok                      bool
	}{
		{"sha512-abc==", "da39a3ee5e6b4b0d3255bfef95601890afd80709", "sha512-abc==", true},
		// pacote's fallback: ssri.fromHex(shasum, 'sha1').
		{"", "da39a3ee5e6b4b0d3255bfef95601890afd80709", "sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwk=", true},
		{"", "not hex", "", false},
		{"", "da39a3ee", "", false},
		{"", "", "", false},
	} {
		got, ok := Integrity(c.integrity, c.shasum)
		if got != c.want || ok != c.ok {
			t.Errorf("Integrity(%q, %q) = %q, %v; want %q, %v", c.integrity, c.shasum, got, ok, c.want, c.ok)
		}
	}
}

// TestPublicKeyShape is npm's shape of a key, in use and expired.
func TestPublicKeyShape(t *testing.T) {
	spki, _ := base64.StdEncoding.DecodeString(vectorSPKI)
	for _, c := range []struct {
		expires time.Time
		want    string
	}{
		{time.Time{}, `{"expires":null,"keyid":"` + vectorKeyID + `","keytype":"ecdsa-sha2-nistp256","scheme":"ecdsa-sha2-nistp256","key":"` + vectorSPKI + `"}`},
		{time.Date(2026, 12, 5, 10, 11, 12, 13e6, time.FixedZone("x", 3600)),
			`{"expires":"2026-12-05T09:11:12.013Z","keyid":"` + vectorKeyID + `","keytype":"ecdsa-sha2-nistp256","scheme":"ecdsa-sha2-nistp256","key":"` + vectorSPKI + `"}`},
	} {
		b, err := json.Marshal(PublicKeyOf(spki, c.expires))
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != c.want {
			t.Errorf("key JSON\n got %s\nwant %s", b, c.want)
		}
	}
}

func TestParseKeyRefusesOtherKeys(t *testing.T) {
	if _, err := ParseKey([]byte("not DER")); err == nil {
		t.Error("garbage parsed")
	}
	// A P-384 key is not one npm clients verify.
	b, err := os.ReadFile("testdata/p384.pem")
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if _, err := ParseKey(blk.Bytes); err == nil || !strings.Contains(err.Error(), "P-256") {
		t.Errorf("P-384 key: %v", err)
	}
	// A marshalled key parses back to the same key.
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	der, err := k.MarshalPrivate()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseKey(der)
	if err != nil || back.ID() != k.ID() || !back.private.Equal(k.private) {
		t.Errorf("round trip: %v", err)
	}
	pub, err := x509.ParsePKIXPublicKey(k.PublicDER())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := pub.(*ecdsa.PublicKey); !ok {
		t.Errorf("public key is a %T", pub)
	}
}

// BenchmarkSign: one registry signature, as a publish makes it.
func BenchmarkSign(b *testing.B) {
	k := vectorKey(b)
	for b.Loop() {
		if _, err := k.Sign("@scope/demo", "1.0.0", "sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg=="); err != nil {
			b.Fatal(err)
		}
	}
}
