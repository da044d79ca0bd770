package testkit

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
)

// WriteFile writes content to path (mode 0644), making the folders it
// lacks; it fails t when it cannot.
func WriteFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// RandomBytes returns n random bytes: content no other test shares, and
// that compression cannot shrink.
func RandomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}
