package keyring

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestLoadCreatesOnceAndKeeps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "server.key")
	k1, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 || info.Size() != secretLen {
		t.Fatalf("secret file: %v %v", info, err)
	}
	k2, err := Load(path)
	if err != nil || !bytes.Equal(k1.secret, k2.secret) {
		t.Fatalf("second load differs: %v", err)
	}
	if err := os.WriteFile(path, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil {
		t.Fatal("a truncated secret file was accepted")
	}
}

func TestSealer(t *testing.T) {
	k := New(bytes.Repeat([]byte{7}, 32))
	totp, _ := k.Sealer("totp")
	other, _ := k.Sealer("other")
	sealed, err := totp.Seal([]byte("secret"), []byte("user:1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("secret")) {
		t.Fatal("plaintext visible in sealed value")
	}
	got, err := totp.Open(sealed, []byte("user:1"))
	if err != nil || string(got) != "secret" {
		t.Fatalf("open: %q %v", got, err)
	}
	tests := []struct {
		name   string
		s      *Sealer
		sealed []byte
		aad    string
	}{
		{"another user's row", totp, sealed, "user:2"},
		{"another purpose's key", other, sealed, "user:1"},
		{"tampered", totp, append(append([]byte{}, sealed[:len(sealed)-1]...), sealed[len(sealed)-1]^1), "user:1"},
		{"too short", totp, sealed[:5], "user:1"},
	}
	for _, tt := range tests {
		if _, err := tt.s.Open(tt.sealed, []byte(tt.aad)); err == nil {
			t.Errorf("%s: opened", tt.name)
		}
	}
	again, _ := New(bytes.Repeat([]byte{7}, 32)).Sealer("totp")
	if got, err := again.Open(sealed, []byte("user:1")); err != nil || string(got) != "secret" {
		t.Fatal("the same secret must derive the same key")
	}
}
