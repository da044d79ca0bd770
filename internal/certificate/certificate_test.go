package certificate

import (
	"context"
	"crypto/tls"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

// pair writes a certificate and key as the files cert.pem and key.pem in dir,
// each replaced whole (written beside it, then renamed over it), as
// certificate tools do, so a poll never reads half a file. Between the two
// renames the files hold the new certificate and the old key.
func pair(t *testing.T, dir string, certPEM, keyPEM []byte) (string, string) {
	t.Helper()
	c, k := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for _, f := range []struct {
		name string
		data []byte
	}{{c, certPEM}, {k, keyPEM}} {
		if err := os.WriteFile(f.name+".new", f.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(f.name+".new", f.name); err != nil {
			t.Fatal(err)
		}
	}
	return c, k
}

func TestReload(t *testing.T) {
	ca := testkit.NewCA(t)
	dir := t.TempDir()
	c1, k1 := ca.Issue(t, 101)
	certFile, keyFile := pair(t, dir, c1, k1)
	k, err := New(certFile, keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := k.Serial().Int64(); got != 101 {
		t.Fatalf("serial %d, want 101", got)
	}
	if changed, err := k.Reload(); changed || err != nil {
		t.Fatalf("unchanged files: changed %v, %v", changed, err)
	}
	c2, k2 := ca.Issue(t, 102)
	pair(t, dir, c2, k2)
	if changed, err := k.Reload(); !changed || err != nil || k.Serial().Int64() != 102 {
		t.Fatalf("renewed: changed %v, %v, serial %d", changed, err, k.Serial())
	}
	cfg := k.TLSConfig()
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion %x", cfg.MinVersion)
	}
	if got, _ := cfg.GetCertificate(nil); got.Leaf.SerialNumber.Int64() != 102 {
		t.Errorf("GetCertificate serves %d", got.Leaf.SerialNumber)
	}

	// Broken replacements keep the pair served.
	_, otherKey := ca.Issue(t, 103)
	c4, _ := ca.Issue(t, 104)
	broken := []struct {
		name       string
		cert, key  []byte
		wantErrSub string
	}{
		{"a key of another certificate", c4, otherKey, "private key does not match"},
		{"half a certificate", c4[:len(c4)/2], k2, "cert.pem"},
		{"empty files", nil, nil, "cert.pem"},
		{"a key where the certificate goes", k2, k2, "cert.pem"},
	}
	for _, b := range broken {
		t.Run(b.name, func(t *testing.T) {
			pair(t, dir, b.cert, b.key)
			changed, err := k.Reload()
			if changed || err == nil || !strings.Contains(err.Error(), b.wantErrSub) {
				t.Fatalf("changed %v, error %v; want an error naming %q", changed, err, b.wantErrSub)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Fatalf("the error quotes the key: %v", err)
			}
			if k.Serial().Int64() != 102 {
				t.Fatalf("serving %d after a broken replacement", k.Serial())
			}
		})
	}
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Reload(); err == nil || k.Serial().Int64() != 102 {
		t.Fatalf("missing key: %v, serving %d", err, k.Serial())
	}
}

func TestNewRefuses(t *testing.T) {
	ca := testkit.NewCA(t)
	c, key := ca.Issue(t, 7)
	dir := t.TempDir()
	certFile, keyFile := pair(t, dir, c, key)
	big := filepath.Join(dir, "big.pem")
	if err := os.WriteFile(big, make([]byte, maxFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, cert, key, want string }{
		{"no key", certFile, "", "go together"},
		{"no certificate", "", keyFile, "go together"},
		{"missing file", filepath.Join(dir, "none.pem"), keyFile, "none.pem"},
		{"oversized file", big, keyFile, "larger than"},
		{"swapped", keyFile, certFile, "cert"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cert, tt.key, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

// TestWatch: a change of the files is served within a poll, a SIGHUP
// reloads at once, and a broken pair is logged once and not served.
func TestWatch(t *testing.T) {
	ca := testkit.NewCA(t)
	dir := t.TempDir()
	c1, k1 := ca.Issue(t, 1)
	certFile, keyFile := pair(t, dir, c1, k1)
	var logs testkit.SyncBuffer
	k, err := New(certFile, keyFile, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	hup := make(chan os.Signal, 1)
	// watch runs Watch polling every interval until stop is called.
	watch := func(interval time.Duration) (stop func()) {
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { defer close(done); k.Watch(ctx, interval, hup) }()
		return func() { cancel(); <-done }
	}
	stop := watch(20 * time.Millisecond)
	waitSerial := func(want int64) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); k.Serial().Int64() != want; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("serving %d, want %d; log:\n%s", k.Serial(), want, logs.String())
			}
		}
	}
	c2, k2 := ca.Issue(t, 2)
	pair(t, dir, c2, k2)
	waitSerial(2)

	// A broken pair: logged once, whatever the polls, and the old pair stays.
	// (A poll between the two renames above may have logged the new
	// certificate with the old key already: count from here.)
	before := strings.Count(logs.String(), "do not load")
	pair(t, dir, c1, k2)
	time.Sleep(200 * time.Millisecond)
	if n := strings.Count(logs.String(), "do not load") - before; n != 1 || k.Serial().Int64() != 2 {
		t.Fatalf("broken pair: logged %d times, serving %d:\n%s", n, k.Serial(), logs.String())
	}

	// SIGHUP: the watcher with a long poll reloads at once.
	stop()
	stop = watch(time.Hour)
	defer stop()
	c3, k3 := ca.Issue(t, 3)
	pair(t, dir, c3, k3)
	hup <- os.Interrupt
	waitSerial(3)
}
