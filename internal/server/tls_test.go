package server

import (
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

// TestTLS: with tls_cert and tls_key the registry's address speaks HTTPS
// only, TLS 1.2 and up, HTTP/2 to a client that offers it; the website's
// cookies are Secure; a renewed certificate written over the files is
// served without a restart, and a broken one is not; the metrics address
// stays plain HTTP.
func TestTLS(t *testing.T) {
	ca := testkit.NewCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	write := func(serial int64) {
		c, k := ca.Issue(t, serial)
		if err := os.WriteFile(certFile, c, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keyFile, k, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(41)
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.TLSCert, cfg.TLSKey = certFile, keyFile
	l := serveListening(t, cfg)
	t.Cleanup(func() {
		l.stop()
		if err := <-l.served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	base := "https://" + l.registry

	client := func(tc *tls.Config) *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	get := func(c *http.Client, path string) (*http.Response, error) {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Accept", "text/html")
		res, err := c.Do(req)
		if err == nil {
			res.Body.Close()
		}
		return res, err
	}
	serial := func() int64 {
		t.Helper()
		res, err := get(client(&tls.Config{RootCAs: ca.Pool()}), "/-/ping")
		if err != nil {
			t.Fatal(err)
		}
		return res.TLS.PeerCertificates[0].SerialNumber.Int64()
	}

	res, err := get(client(&tls.Config{RootCAs: ca.Pool()}), "/login")
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.ProtoMajor != 2 || res.TLS.Version < tls.VersionTLS12 {
		t.Errorf("GET /login: %d over %s, TLS %x", res.StatusCode, res.Proto, res.TLS.Version)
	}
	if got := res.TLS.PeerCertificates[0].SerialNumber.Int64(); got != 41 {
		t.Errorf("serial %d, want 41", got)
	}
	cookies := res.Cookies()
	if len(cookies) == 0 {
		t.Fatal("the sign-in page set no cookie")
	}
	for _, c := range cookies {
		if !c.Secure {
			t.Errorf("cookie %s is not Secure over HTTPS", c.Name)
		}
	}
	if _, err := get(client(&tls.Config{RootCAs: ca.Pool(), MaxVersion: tls.VersionTLS11}), "/-/ping"); err == nil {
		t.Error("a TLS 1.1 client was served")
	}
	if _, err := get(client(&tls.Config{}), "/-/ping"); err == nil {
		t.Error("a client that does not trust the CA was served")
	}
	plain, err := http.Get("http://" + l.registry + "/-/ping")
	if err == nil {
		plain.Body.Close()
		if plain.StatusCode == http.StatusOK {
			t.Error("plain HTTP was served on the TLS address")
		}
	}
	metrics, err := http.Get("http://" + l.metrics + "/metrics")
	if err != nil || metrics.StatusCode != http.StatusOK {
		t.Errorf("metrics over plain HTTP: %v %v", metrics, err)
	} else {
		metrics.Body.Close()
	}

	// Renewed over the files: served from the next handshake on.
	write(42)
	waitFor(t, 4*certificatePoll, "the renewed certificate", func() bool { return serial() == 42 })
	// A broken replacement (a key of another certificate) is not served.
	c, _ := ca.Issue(t, 43)
	if err := os.WriteFile(certFile, c, 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * certificatePoll)
	if got := serial(); got != 42 {
		t.Errorf("after a broken replacement: serial %d, want 42 still", got)
	}
}

// TestTLSSettingsRefused: a pair that does not load stops the start, with
// an error naming the file and not the key.
func TestTLSSettingsRefused(t *testing.T) {
	ca := testkit.NewCA(t)
	dir := t.TempDir()
	c, k := ca.Issue(t, 1)
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, c, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, k, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, cert, key string }{
		{"certificate without key", certFile, ""},
		{"key without certificate", "", keyFile},
		{"swapped", keyFile, certFile},
		{"missing", filepath.Join(dir, "none.crt"), keyFile},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.DataDir = t.TempDir()
			cfg.TLSCert, cfg.TLSKey = tt.cert, tt.key
			srv, err := Open(context.Background(), cfg, quietLogger())
			if err == nil {
				srv.Close()
				t.Fatal("Open succeeded")
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Fatalf("the error quotes the key: %v", err)
			}
		})
	}
}
