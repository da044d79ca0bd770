package server

import (
	"bytes"
	"context"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

// TestSecurityServerKeyFromTheEnvironment: with GATEHOUSE_KEY the server key
// never touches the data folder (a copy of the folder, or of its backups,
// no longer opens the two-factor secrets), two-factor secrets sealed with it
// open again after a restart with the same key, a server given another key
// refuses the database, and the key shows in no log line.
func TestSecurityServerKeyFromTheEnvironment(t *testing.T) {
	key := hex.EncodeToString(bytes.Repeat([]byte{0x5e, 0xc2}, 16))
	data := t.TempDir()
	logs := &testkit.SyncBuffer{}
	cfgWith := func(k string) config.Config {
		cfg := config.Default()
		cfg.DataDir = data
		cfg.MaxBodySize = 1 << 20
		cfg.Key = k
		return cfg
	}
	tr := openRegistry(t, cfgWith(key), NewLogger(logs, "debug", false))
	alice := tr.user("alice")
	secret, _ := tr.enable2FA(alice, "password-alice", "auth-only")
	if _, err := os.Stat(filepath.Join(data, "server.key")); !os.IsNotExist(err) {
		t.Fatalf("a key file in the data folder: %v", err)
	}
	tr.srv.Close()

	// The same key again: the sealed two-factor secret opens, so the OTP
	// is checked (a wrong key could not check it).
	again := openRegistry(t, cfgWith(key), NewLogger(logs, "debug", false))
	res := again.do("POST", "/-/npm/v1/tokens", alice, map[string]any{"password": "password-alice", "readonly": true},
		"npm-otp", otpAt(secret, 0))
	if res.status != http.StatusCreated {
		t.Fatalf("token creation with an OTP after a restart with the same key: %d %s", res.status, res.body)
	}
	again.srv.Close()

	other := hex.EncodeToString(bytes.Repeat([]byte{0x11}, 32))
	_, err := Open(context.Background(), cfgWith(other), NewLogger(logs, "debug", false))
	if err == nil || !strings.Contains(err.Error(), "GATEHOUSE_KEY") || strings.Contains(err.Error(), other) {
		t.Fatalf("another key: %v, want a refusal naming GATEHOUSE_KEY and not the key", err)
	}
	for _, k := range []string{key, other, strings.ToUpper(key)} {
		if strings.Contains(logs.String(), k) {
			t.Fatal("the key is in the log")
		}
	}
}
