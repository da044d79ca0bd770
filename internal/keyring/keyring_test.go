package keyring

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
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

// TestLoadTogether starts several loads of one missing file at once, as nodes
// starting together on a shared key file do: all get the same whole secret.
func TestLoadTogether(t *testing.T) {
	for round := range 20 {
		path := filepath.Join(t.TempDir(), "server.key")
		const n = 8
		keys := make([]*Keyring, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { keys[i], errs[i] = Load(path) })
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("round %d, load %d: %v", round, i, errs[i])
			}
			if !bytes.Equal(keys[i].secret, keys[0].secret) {
				t.Fatalf("round %d: load %d got another secret than load 0", round, i)
			}
		}
		entries, err := os.ReadDir(filepath.Dir(path))
		if err != nil || len(entries) != 1 {
			t.Fatalf("round %d: the folder holds %v (%v), want the key alone", round, entries, err)
		}
	}
}

func TestFingerprint(t *testing.T) {
	a, b := New(bytes.Repeat([]byte{7}, 32)), New(bytes.Repeat([]byte{8}, 32))
	fa, err := a.Fingerprint()
	if err != nil {
		t.Fatal(err)
	}
	again, _ := New(bytes.Repeat([]byte{7}, 32)).Fingerprint()
	fb, _ := b.Fingerprint()
	if fa != again || fa == fb || len(fa) != 32 {
		t.Fatalf("fingerprints: %q, again %q, other secret %q", fa, again, fb)
	}
	if strings.Contains(fa, hex.EncodeToString(a.secret[:8])) {
		t.Fatal("the fingerprint shows the secret")
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
