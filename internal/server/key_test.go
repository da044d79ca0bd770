package server

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/config"
)

// TestServerKeyMustMatch opens servers on one database with key files of
// their own, as nodes would: the key the database was first used with is
// remembered (as a fingerprint), and a server with another key refuses to
// start, naming the key file and not the key.
func TestServerKeyMustMatch(t *testing.T) {
	dir := t.TempDir()
	open := func(keyFile string) (*Server, error) {
		cfg := config.Default()
		cfg.DataDir = filepath.Join(dir, "data")
		cfg.KeyFile = keyFile
		srv, err := Open(context.Background(), cfg, NewLogger(io.Discard, "error", false))
		if err == nil {
			t.Cleanup(func() { srv.Close() })
		}
		return srv, err
	}
	shared := filepath.Join(dir, "secrets", "shared.key")
	if _, err := open(shared); err != nil {
		t.Fatalf("first server: %v", err)
	}
	key, err := os.ReadFile(shared)
	if err != nil || len(key) != 32 {
		t.Fatalf("key file: %d bytes, %v", len(key), err)
	}
	copied := filepath.Join(dir, "copy.key")
	if err := os.WriteFile(copied, key, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		keyFile string
		ok      bool
	}{
		{"the same file", shared, true},
		{"a copy of the key", copied, true},
		{"a new key (server.key in the data folder)", "", false},
		{"another new key", filepath.Join(dir, "other.key"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := open(tt.keyFile)
			if tt.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "not the key this database was first used with") {
				t.Fatalf("got %v, want a refusal", err)
			}
			want := tt.keyFile
			if want == "" {
				want = filepath.Join(dir, "data", "server.key")
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("the refusal %q does not name the key file %s", err, want)
			}
			other, _ := os.ReadFile(want)
			if len(other) != 32 {
				t.Fatalf("the new key file holds %d bytes", len(other))
			}
			for _, shown := range []string{string(other), hex.EncodeToString(other), base64.StdEncoding.EncodeToString(other)} {
				if strings.Contains(err.Error(), shown) {
					t.Errorf("the refusal shows the key: %v", err)
				}
			}
		})
	}
}
