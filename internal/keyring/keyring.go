// Package keyring holds the server secret and the keys derived from it. The
// secret is 32 random bytes in a file (created on first start, mode 0600);
// each use gets its own key, derived with HKDF-SHA256 and a purpose label, so
// a key for one purpose never decrypts another's data.
package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

const secretLen = 32

// Keyring is the server secret.
type Keyring struct {
	secret []byte
}

// Load reads the secret file at path, creating it with a new random secret if
// it does not exist. Several processes starting together on one path all end
// up with the same secret: the file appears whole (written aside, then
// linked into place) or not at all, and the first to link it wins.
func Load(path string) (*Keyring, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := create(path); err != nil {
			return nil, err
		}
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read server secret %s: %w", path, err)
	}
	if len(b) != secretLen {
		return nil, fmt.Errorf("server secret %s holds %d bytes, want %d", path, len(b), secretLen)
	}
	return &Keyring{secret: b}, nil
}

// create writes a new random secret to path unless a file is there already.
func create(path string) error {
	b := make([]byte, secretLen)
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("generate server secret: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("create folder for %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, ".server-key-*")
	if err != nil {
		return fmt.Errorf("create server secret %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, werr := f.Write(b)
	if err := errors.Join(werr, f.Chmod(0o600), f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("write server secret %s: %w", path, err)
	}
	// Link, unlike rename, fails when path exists: another process's
	// secret, already in place, is kept.
	err = os.Link(tmp, path)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return nil
	}
	// A file system without hard links: create the file exclusively
	// instead (a process reading it before it is written fails, and
	// is restarted).
	f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create server secret %s: %w", path, err)
	}
	_, werr = f.Write(b)
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("write server secret %s: %w", path, err)
	}
	return nil
}

// Parse reads a secret given as text (the GATEHOUSE_KEY environment
// variable): 32 bytes written as 64 hexadecimal digits, or in base64
// (standard or URL alphabet, padded or not). Its errors never repeat the
// text, which is a secret.
func Parse(material string) (*Keyring, error) {
	material = strings.TrimSpace(material)
	if b, err := hex.DecodeString(material); err == nil {
		if len(b) != secretLen {
			return nil, fmt.Errorf("the key holds %d bytes in hexadecimal, want %d", len(b), secretLen)
		}
		return &Keyring{secret: b}, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(material); err == nil {
			if len(b) != secretLen {
				return nil, fmt.Errorf("the key holds %d bytes in base64, want %d", len(b), secretLen)
			}
			return &Keyring{secret: b}, nil
		}
	}
	return nil, fmt.Errorf("the key is neither %d hexadecimal digits nor %d bytes in base64 "+
		"(make one with: head -c 32 /dev/urandom | base64)", 2*secretLen, secretLen)
}

// New returns a keyring over secret (for tests and tools).
func New(secret []byte) *Keyring { return &Keyring{secret: append([]byte(nil), secret...)} }

// Fingerprint identifies the secret without revealing it: a value derived
// with its own purpose label, safe to store where the secret must not go (the
// database), so that processes can check they share one secret.
func (k *Keyring) Fingerprint() (string, error) {
	fp, err := hkdf.Key(sha256.New, k.secret, nil, "gatehouse key fingerprint", 16)
	if err != nil {
		return "", fmt.Errorf("derive key fingerprint: %w", err)
	}
	return hex.EncodeToString(fp), nil
}

// Key derives a 32-byte key for purpose (a MAC key, say), apart from every
// other purpose's.
func (k *Keyring) Key(purpose string) ([]byte, error) {
	key, err := hkdf.Key(sha256.New, k.secret, nil, "gatehouse "+purpose, 32)
	if err != nil {
		return nil, fmt.Errorf("derive key for %s: %w", purpose, err)
	}
	return key, nil
}

// Sealer encrypts and decrypts small values for one purpose (AES-256-GCM).
type Sealer struct {
	aead    cipher.AEAD
	purpose string
}

// Sealer derives the key for purpose.
func (k *Keyring) Sealer(purpose string) (*Sealer, error) {
	key, err := hkdf.Key(sha256.New, k.secret, nil, "gatehouse "+purpose, 32)
	if err != nil {
		return nil, fmt.Errorf("derive key for %s: %w", purpose, err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("cipher for %s: %w", purpose, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("gcm for %s: %w", purpose, err)
	}
	return &Sealer{aead: aead, purpose: purpose}, nil
}

// Seal encrypts plaintext; aad binds it to its owner (a user id, say), so a
// sealed value copied to another row does not open.
func (s *Sealer) Seal(plaintext, aad []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("nonce: %w", err)
	}
	return s.aead.Seal(nonce, nonce, plaintext, aad), nil
}

// Open decrypts what Seal returned for the same aad.
func (s *Sealer) Open(sealed, aad []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, fmt.Errorf("open %s: sealed value too short", s.purpose)
	}
	out, err := s.aead.Open(nil, sealed[:n], sealed[n:], aad)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", s.purpose, err)
	}
	return out, nil
}
