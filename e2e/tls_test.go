package e2e

import (
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

// TestTLS: gatehouse serves HTTPS itself (--tls-cert, --tls-key) to npm,
// which trusts a test CA (cafile in its npmrc): publish and install over
// HTTPS. A renewed certificate written over the files is served without a
// restart (the serial a client sees changes), SIGHUP reloads too, and a
// broken replacement leaves the old certificate serving.
func TestTLS(t *testing.T) {
	t.Parallel()
	ca := testkit.NewCA(t)
	dir := t.TempDir()
	certFile, keyFile, caFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.pem")
	write := func(name string, b []byte) {
		t.Helper()
		// Written in place, as a renewal tool that rewrites the files does.
		if err := os.WriteFile(name, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	renew := func(serial int64) {
		c, k := ca.Issue(t, serial)
		write(certFile, c)
		write(keyFile, k)
	}
	renew(1001)
	write(caFile, ca.CertPEM)
	srv := startServerWith(t, serverSetup{ca: ca.Pool(),
		args: []string{"--tls-cert", certFile, "--tls-key", keyFile, "--url", "https://127.0.0.1:{port}"}})

	serial := func() int64 {
		t.Helper()
		conn, err := tls.Dial("tcp", srv.addr, &tls.Config{RootCAs: ca.Pool()})
		if err != nil {
			t.Fatalf("TLS handshake: %v", err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	waitSerial := func(want int64, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for got := serial(); got != want; got = serial() {
			if time.Now().After(deadline) {
				t.Fatalf("the client sees serial %d, want %d", got, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if got := serial(); got != 1001 {
		t.Fatalf("serial %d, want 1001", got)
	}

	// npm over HTTPS, trusting the test CA.
	tlsClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, ForceAttemptHTTP2: true}}
	req, _ := http.NewRequest("PUT", srv.URL()+couchUserPath("alice"), strings.NewReader(
		`{"name":"alice","password":"`+passwordOf("alice")+`","email":"alice@example.com"}`))
	req.Header.Set("Content-Type", "application/json")
	res, err := tlsClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		Token string `json:"token"`
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	decodeJSON(t, body, &created)
	if res.StatusCode != http.StatusCreated || res.ProtoMajor != 2 {
		t.Fatalf("sign up over HTTPS: %d over %s", res.StatusCode, res.Proto)
	}
	npm := npm11(t)
	withCA := func(c *npmClient) *npmClient {
		c.writeRC(c.readRC() + "cafile=" + caFile + "\n")
		return c
	}
	alice := withCA(newClient(t, srv, npm)).login(created.Token)
	alice.publishSpec(pkgSpec{Name: "tls-lib", Version: "1.0.0"})
	reader := withCA(newClient(t, srv, npm))
	project := makeProject(t, map[string]string{"tls-lib": "1.0.0"})
	reader.mustRun(project, "install")
	assertInstalled(t, project, "tls-lib", "1.0.0")
	// Without the CA, npm refuses the certificate.
	untrusting := newClient(t, srv, npm)
	untrusting.writeRC(untrusting.readRC() + "fetch-retries=0\n") // a refused certificate is not retried
	untrusting.mustFail(makeProject(t, map[string]string{"tls-lib": "1.0.0"}),
		[]string{"SELF_SIGNED", "UNABLE_TO_VERIFY", "unable to get local issuer", "self-signed"}, "install")

	// Renewed over the files: served without a restart.
	renew(1002)
	waitSerial(1002, 15*time.Second)
	project = makeProject(t, map[string]string{"tls-lib": "1.0.0"})
	reader.mustRun(project, "install")
	assertInstalled(t, project, "tls-lib", "1.0.0")

	// SIGHUP: the process stays up and reads the files at once.
	hup := func() {
		t.Helper()
		srv.mu.Lock()
		cmd := srv.cmd
		srv.mu.Unlock()
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	hup()
	if !srv.LogHas(func(logs string) bool { return strings.Contains(logs, "the TLS certificate files are unchanged") }) {
		t.Fatal("SIGHUP: the log does not say the files were read again")
	}
	renew(1003)
	hup()
	waitSerial(1003, 15*time.Second)
	if !srv.running() {
		t.Fatal("gatehouse stopped on SIGHUP")
	}

	// A broken replacement (a certificate whose key is not the one beside
	// it): the old certificate keeps serving, and the log says why.
	broken, _ := ca.Issue(t, 1004)
	write(certFile, broken)
	hup()
	if !srv.LogHas(func(logs string) bool {
		return strings.Contains(logs, "do not load: still serving the certificate before")
	}) {
		t.Error("the log does not say the new pair did not load")
	}
	time.Sleep(3 * time.Second) // past a poll of the files
	if got := serial(); got != 1003 {
		t.Errorf("after a broken replacement the client sees serial %d, want 1003", got)
	}
	project = makeProject(t, map[string]string{"tls-lib": "1.0.0"})
	reader.mustRun(project, "install")
	assertInstalled(t, project, "tls-lib", "1.0.0")
}
