// Package e2e drives a real gatehouse binary with the real npm, pnpm, yarn
// and bun command-line clients. Every test starts its own server on a free
// loopback port with its own data folder, and every client runs with an
// isolated home, user config and cache, pointed only at that server.
package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

const (
	// readyTimeout bounds how long a started server may take to answer /-/ping.
	readyTimeout = 10 * time.Second
	// stopTimeout bounds how long a server may take to exit after SIGTERM.
	stopTimeout = 20 * time.Second
	// binaryVersion is stamped into the test binary, so `gatehouse version`
	// has something known to print.
	binaryVersion = "v0.0.0-e2e"
)

// gatehouseBin is the binary TestMain builds once for the whole package.
var gatehouseBin string

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if testing.Short() {
		// Every test here starts the binary; -short skips them all, so
		// there is nothing to build.
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "gatehouse-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: make temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	gatehouseBin = filepath.Join(dir, "gatehouse")
	build := exec.Command("go", "build", "-o", gatehouseBin,
		"-ldflags", "-X main.version="+binaryVersion,
		"github.com/gatehouse-registry/gatehouse/cmd/gatehouse")
	build.Stdout = os.Stderr
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building cmd/gatehouse failed:", err)
		return 1
	}
	return m.Run()
}

// server is one running gatehouse process.
type server struct {
	addr    string         // 127.0.0.1:PORT
	dataDir string         // --data
	args    []string       // the extra serve flags it was started with
	env     []string       // the GATEHOUSE_* settings it was started with
	ca      *x509.CertPool // set when it serves HTTPS (see serverSetup)
	logs    *testkit.SyncBuffer

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has been waited for
	waitErr error
}

// startServer starts gatehouse on a free loopback port with a fresh data
// folder, waits until /-/ping answers, and stops it (SIGTERM, expecting exit
// status 0) when the test ends. extraArgs are added to `gatehouse serve`;
// "{port}" in them is replaced by the port.
func startServer(t *testing.T, extraArgs ...string) *server {
	t.Helper()
	return startServerWith(t, serverSetup{args: extraArgs})
}

// serverSetup says how to start a server beyond the defaults.
type serverSetup struct {
	// dataDir is the --data folder; "" makes a fresh one. A folder the
	// caller made must have been made before startServerWith is called, so
	// that it is removed after the server has stopped.
	dataDir string
	// env holds GATEHOUSE_* settings (such as a database URL, which would
	// show in the process list as a flag).
	env []string
	// args are extra `gatehouse serve` flags, as for startServer.
	args []string
	// ca, when set, is the pool of the CA that issued the certificate of
	// a server serving HTTPS (--tls-cert): its URL is https, and the
	// readiness probe trusts ca.
	ca *x509.CertPool
}

// startServerWith is startServer with a setup.
func startServerWith(t *testing.T, setup serverSetup) *server {
	t.Helper()
	s := newServer(t, setup)
	if err := s.launchOnFreePort(); err != nil {
		t.Fatalf("start gatehouse: %v\nserver log:\n%s", err, s.logs.String())
	}
	s.stopAtEnd(t)
	return s
}

// newServer prepares a server of setup without starting it.
func newServer(t *testing.T, setup serverSetup) *server {
	t.Helper()
	if testing.Short() {
		t.Skip("e2e: skipped with -short (starts the gatehouse binary and the npm CLI)")
	}
	if setup.dataDir == "" {
		setup.dataDir = t.TempDir() // registered before the stop, so removed after it
	}
	return &server{dataDir: setup.dataDir, args: setup.args, env: setup.env, ca: setup.ca, logs: &testkit.SyncBuffer{}}
}

// launchOnFreePort starts the server on a free loopback port, trying
// another port when the one picked was taken meanwhile. It reports instead
// of failing the test, so several servers may be launched at once.
func (s *server) launchOnFreePort() error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if s.addr, err = freeAddr(); err != nil {
			return err
		}
		if err = s.launch(); err == nil {
			return nil
		}
		if !strings.Contains(s.logs.String(), "address already in use") {
			return err
		}
	}
	return err
}

// stopAtEnd stops the server (expecting a clean exit) when the test ends,
// and shows its log if the test failed.
func (s *server) stopAtEnd(t *testing.T) {
	t.Cleanup(func() {
		if s.running() {
			s.stopAndCheck(t)
		}
		if t.Failed() {
			t.Logf("gatehouse log (%s):\n%s", s.addr, tail(s.logs.String(), 16<<10))
		}
	})
}

// freeAddr finds a loopback port nobody listens on right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return "", fmt.Errorf("close probe listener: %w", err)
	}
	return addr, nil
}

// launch starts the process on s.addr and waits until it is ready. In the
// extra flags, {port} stands for the port picked for it.
func (s *server) launch() error {
	args := []string{"serve", "--listen", s.addr, "--data", s.dataDir}
	for _, a := range s.args {
		args = append(args, strings.ReplaceAll(a, "{port}", s.Port()))
	}
	cmd := exec.Command(gatehouseBin, args...)
	cmd.Stdout = s.logs
	cmd.Stderr = s.logs
	cmd.Env = append(gatehouseEnv(), s.env...)
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	s.mu.Lock()
	s.cmd, s.exited, s.waitErr = cmd, exited, nil
	s.mu.Unlock()
	go func() {
		err := cmd.Wait()
		s.mu.Lock()
		s.waitErr = err
		s.mu.Unlock()
		close(exited)
	}()

	client := &http.Client{Timeout: time.Second}
	if s.ca != nil {
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.ca}}
	}
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("gatehouse exited before it was ready: %v", s.exitErr())
		default:
		}
		resp, err := client.Get(s.URL() + "-/ping")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	<-exited
	return fmt.Errorf("GET /-/ping did not answer 200 within %v", readyTimeout)
}

func (s *server) running() bool {
	s.mu.Lock()
	exited := s.exited
	s.mu.Unlock()
	if exited == nil {
		return false
	}
	select {
	case <-exited:
		return false
	default:
		return true
	}
}

func (s *server) exitErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waitErr
}

// URL is the server's base URL with a trailing slash, as npm wants it.
func (s *server) URL() string {
	if s.ca != nil {
		return "https://" + s.addr + "/"
	}
	return "http://" + s.addr + "/"
}

// Port is the port the server listens on.
func (s *server) Port() string {
	_, port, _ := net.SplitHostPort(s.addr)
	return port
}

// Logs returns everything the server has written to stderr so far.
func (s *server) Logs() string { return s.logs.String() }

// LogHas reports whether the server's log shows match within a few seconds:
// the log is written off the request path, so a line may come shortly after
// the answer to its request.
func (s *server) LogHas(match func(logs string) bool) bool {
	deadline := time.Now().Add(5 * time.Second)
	for !match(s.Logs()) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// DataDir is the server's --data folder.
func (s *server) DataDir() string { return s.dataDir }

// Stop sends SIGTERM and fails the test unless the server exits with status
// 0 in time.
func (s *server) Stop(t *testing.T) {
	t.Helper()
	s.stopAndCheck(t)
}

func (s *server) stopAndCheck(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("send SIGTERM to gatehouse: %v", err)
	}
	select {
	case <-exited:
	case <-time.After(stopTimeout):
		_ = cmd.Process.Kill()
		<-exited
		t.Errorf("gatehouse did not exit within %v of SIGTERM", stopTimeout)
		return
	}
	if err := s.exitErr(); err != nil {
		t.Errorf("gatehouse exited after SIGTERM with %v, want status 0", err)
	}
}

// Kill sends SIGKILL and waits for the process to be gone, as a crash would.
func (s *server) Kill(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("SIGKILL gatehouse: %v", err)
	}
	<-exited
}

// Restart stops the server with SIGTERM (expecting a clean exit) and starts
// it again on the same port, data folder and flags.
func (s *server) Restart(t *testing.T) {
	t.Helper()
	if s.running() {
		s.Stop(t)
	}
	s.Start(t)
}

// Start starts a stopped or killed server again on the same port, data
// folder and flags.
func (s *server) Start(t *testing.T) {
	t.Helper()
	if s.running() {
		t.Fatal("Start: gatehouse is still running")
	}
	var err error
	// The port was ours a moment ago; retry briefly in case the kernel has
	// not let go of it yet.
	for attempt := 0; attempt < 5; attempt++ {
		if err = s.launch(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("restart gatehouse on %s: %v\nserver log:\n%s", s.addr, err, tail(s.Logs(), 16<<10))
}

// gatehouse runs the binary with args (an admin command such as `user add`)
// and returns its combined output and exit code.
func runGatehouse(t *testing.T, stdin string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gatehouseBin, args...)
	cmd.Env = gatehouseEnv()
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("run gatehouse %s: %v", strings.Join(args, " "), err)
		}
		code = exit.ExitCode()
	}
	return string(out), code
}

// gatehouseEnv is the process environment without GATEHOUSE_* settings, so
// only the flags a test passes configure the server.
func gatehouseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(strings.ToUpper(kv), "GATEHOUSE_") {
			env = append(env, kv)
		}
	}
	return env
}

// tail returns at most the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// httpResult is one direct HTTP exchange with the server.
type httpResult = testkit.Response

// do sends one request to the server. path is relative to the base URL (no
// leading slash); token, when set, goes in a Bearer header; body, when not
// nil, is sent as JSON.
func (s *server) do(t *testing.T, method, path, token string, body any) httpResult {
	t.Helper()
	return testkit.Do(t, method, s.URL()+path, token, body, "Accept", "application/json")
}

// couchUserPath is the path npm uses to create or log in a user.
func couchUserPath(name string) string {
	return "-/user/org.couchdb.user:" + url.PathEscape(name)
}

// couchUserDoc is the body npm sends to create or log in a user.
func couchUserDoc(name, password, email string) map[string]any {
	return map[string]any{
		"_id":      "org.couchdb.user:" + name,
		"name":     name,
		"password": password,
		"email":    email,
		"type":     "user",
		"roles":    []string{},
		"date":     time.Now().UTC().Format(time.RFC3339),
	}
}

// couchLogin sends npm's legacy create-or-login request.
func (s *server) couchLogin(t *testing.T, name, password string) httpResult {
	t.Helper()
	return s.do(t, http.MethodPut, couchUserPath(name), "", couchUserDoc(name, password, emailOf(name)))
}

// emailOf is the address the tests give to a user.
func emailOf(name string) string { return name + "@example.com" }

// passwordOf is the password the tests give to a user.
func passwordOf(name string) string { return "correct horse battery staple " + name }

// createUser creates an account through the couch PUT (as `npm adduser`
// does) and returns the session token the server hands back.
func (s *server) createUser(t *testing.T, name string) string {
	t.Helper()
	res := s.couchLogin(t, name, passwordOf(name))
	if res.Status != http.StatusCreated {
		t.Fatalf("create user %s: got %s, want 201", name, res)
	}
	var doc struct {
		OK    bool   `json:"ok"`
		ID    string `json:"id"`
		Token string `json:"token"`
	}
	if err := json.Unmarshal(res.Body, &doc); err != nil {
		t.Fatalf("create user %s: decode %q: %v", name, res.Body, err)
	}
	if !doc.OK || doc.ID != "org.couchdb.user:"+name || doc.Token == "" {
		t.Fatalf("create user %s: unexpected answer %s", name, res.Body)
	}
	return doc.Token
}

// whoami asks the server directly who token belongs to.
func (s *server) whoami(t *testing.T, token string) httpResult {
	t.Helper()
	return s.do(t, http.MethodGet, "-/whoami", token, nil)
}

// decodeJSON unmarshals b into v and fails the test with b on error.
func decodeJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	testkit.DecodeJSON(t, b, v)
}

// assertJSONError checks that an error answer has npm's {"error": "..."} shape.
func assertJSONError(t *testing.T, res httpResult) {
	t.Helper()
	var doc struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(res.Body, &doc); err != nil || doc.Error == "" {
		t.Errorf("error answer %s is not JSON {\"error\": \"...\"}", res)
	}
}
