// Package signing holds the registry's signing keys and makes the registry
// signatures that npm clients verify (pacote with verifySignatures, npm audit
// signatures): each version's dist.signatures carries an ECDSA P-256
// signature, ASN.1 DER and base64, over the SHA-256 of
// "<name>@<version>:<integrity>", and GET /-/npm/v1/keys lists the public
// keys by npm's key id. The keys live in the database, their private halves
// sealed with the server key, so every node sharing the database signs with
// the same key (docs/signatures.md).
package signing

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// KeyType and Scheme are what npm's keys endpoint says of an ECDSA P-256
// key signing SHA-256 digests, the only kind npm clients verify.
const (
	KeyType = "ecdsa-sha2-nistp256"
	Scheme  = "ecdsa-sha2-nistp256"
)

// Signature is one entry of a version's dist.signatures.
type Signature struct {
	KeyID string `json:"keyid"`
	// Sig is the base64 of the ASN.1 DER ECDSA signature.
	Sig string `json:"sig"`
}

// PublicKey is one entry of GET /-/npm/v1/keys, in npm's shape.
type PublicKey struct {
	// Expires is null for a key in use, else the time (ISO 8601, UTC, in
	// milliseconds) from which the key's signatures no longer count: a
	// version published at or after it fails verification.
	Expires *string `json:"expires"`
	KeyID   string  `json:"keyid"`
	KeyType string  `json:"keytype"`
	Scheme  string  `json:"scheme"`
	// Key is the base64 of the public key's SPKI DER (a PEM body without
	// its line breaks, which Node's crypto accepts).
	Key string `json:"key"`
}

// Message is what a registry signature signs: "<name>@<version>:<integrity>",
// integrity being the version's dist.integrity exactly as served.
func Message(name, version, integrity string) []byte {
	return []byte(name + "@" + version + ":" + integrity)
}

// Integrity is the integrity string a client puts in the signed message for
// a version's dist: dist.integrity when present, else the SHA-1 of
// dist.shasum in Subresource Integrity form, as pacote derives it. It
// reports false when neither is usable.
func Integrity(integrity, shasum string) (string, bool) {
	if integrity != "" {
		return integrity, true
	}
	b, err := hex.DecodeString(shasum)
	if err != nil || len(b) != sha1.Size {
		return "", false
	}
	return "sha1-" + base64.StdEncoding.EncodeToString(b), true
}

// KeyID is npm's id of a public key: "SHA256:" and the base64, without
// padding, of the SHA-256 of its SPKI DER.
func KeyID(spki []byte) string {
	sum := sha256.Sum256(spki)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// Key is a signing key: an ECDSA P-256 private key and its key id.
type Key struct {
	id      string
	spki    []byte
	private *ecdsa.PrivateKey
}

// GenerateKey makes a new P-256 key.
func GenerateKey() (*Key, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	return newKey(priv)
}

// ParseKey reads a key from its PKCS #8 DER, as MarshalPrivate writes it.
func ParseKey(pkcs8 []byte) (*Key, error) {
	k, err := x509.ParsePKCS8PrivateKey(pkcs8)
	if err != nil {
		return nil, fmt.Errorf("parse signing key: %w", err)
	}
	priv, ok := k.(*ecdsa.PrivateKey)
	if !ok || priv.Curve != elliptic.P256() {
		return nil, errors.New("parse signing key: not an ECDSA P-256 key")
	}
	return newKey(priv)
}

func newKey(priv *ecdsa.PrivateKey) (*Key, error) {
	spki, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("encode public key: %w", err)
	}
	return &Key{id: KeyID(spki), spki: spki, private: priv}, nil
}

// ID is the key's npm key id.
func (k *Key) ID() string { return k.id }

// PublicDER is the public key's SPKI DER.
func (k *Key) PublicDER() []byte { return append([]byte(nil), k.spki...) }

// MarshalPrivate is the private key's PKCS #8 DER: a secret, to be sealed
// before it is stored anywhere.
func (k *Key) MarshalPrivate() ([]byte, error) {
	b, err := x509.MarshalPKCS8PrivateKey(k.private)
	if err != nil {
		return nil, fmt.Errorf("encode signing key: %w", err)
	}
	return b, nil
}

// Sign signs name@version:integrity.
func (k *Key) Sign(name, version, integrity string) (Signature, error) {
	digest := sha256.Sum256(Message(name, version, integrity))
	sig, err := ecdsa.SignASN1(rand.Reader, k.private, digest[:])
	if err != nil {
		return Signature{}, fmt.Errorf("sign %s@%s: %w", name, version, err)
	}
	return Signature{KeyID: k.id, Sig: base64.StdEncoding.EncodeToString(sig)}, nil
}

// Verify reports whether sig is a valid signature of message by the public
// key spki (SPKI DER), as a client checks it.
func Verify(spki, message []byte, sig Signature) bool {
	pub, err := x509.ParsePKIXPublicKey(spki)
	if err != nil {
		return false
	}
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok || sig.KeyID != KeyID(spki) {
		return false
	}
	der, err := base64.StdEncoding.DecodeString(sig.Sig)
	if err != nil {
		return false
	}
	digest := sha256.Sum256(message)
	return ecdsa.VerifyASN1(ec, digest[:], der)
}

// PublicKeyOf is the keys endpoint's entry for the public key spki, expiring
// at expires (the zero time for a key in use).
func PublicKeyOf(spki []byte, expires time.Time) PublicKey {
	pk := PublicKey{KeyID: KeyID(spki), KeyType: KeyType, Scheme: Scheme, Key: base64.StdEncoding.EncodeToString(spki)}
	if !expires.IsZero() {
		s := ISOTime(expires)
		pk.Expires = &s
	}
	return pk
}

// ISOTime formats t as npm documents do (the packument's time field, the
// keys' expires): UTC, milliseconds, a Z.
func ISOTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
