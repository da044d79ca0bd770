package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// hookSink is a webhook receiver on loopback that keeps the deliveries
// whose X-Npm-Signature verifies under its secret, as a receiver would
// check it (docs/webhooks.md); while refusing is set it answers 503.
type hookSink struct {
	url    string
	mu     sync.Mutex
	secret string
	got    []map[string]any
	bad    int
	refuse bool
}

func newHookSink(t *testing.T, secret string) *hookSink {
	s := &hookSink{secret: secret}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.refuse {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		m := hmac.New(sha256.New, []byte(s.secret))
		m.Write(body)
		var doc map[string]any
		if !hmac.Equal([]byte(r.Header.Get("X-Npm-Signature")), []byte("sha256="+hex.EncodeToString(m.Sum(nil)))) ||
			json.Unmarshal(body, &doc) != nil {
			s.bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		s.got = append(s.got, doc)
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL + "/npm-hook"
	return s
}

func (s *hookSink) set(secret string, refuse bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secret, s.refuse = secret, refuse
}

// waitFor waits until n verified deliveries arrived and returns them.
func (s *hookSink) waitFor(t *testing.T, what string, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.mu.Lock()
		got, bad := append([]map[string]any(nil), s.got...), s.bad
		s.mu.Unlock()
		if bad > 0 {
			t.Fatalf("%s: %d deliveries whose signature did not verify", what, bad)
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d deliveries of %d after 30s: %v", what, len(got), n, got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestHooksNpm10 drives webhooks with npm 10's npm hook (the last npm that
// has it): add, ls, update and rm as the command prints them; a publish
// with npm is delivered, signed, to the receiver; a delivery refused by the
// receiver until the server restarts is delivered after the restart.
func TestHooksNpm10(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "--hook-allow", "127.0.0.0/8", "--hook-retry", "300ms")
	alice := userClient(t, srv, npm10(t), "alice")
	alice.publishSpec(pkgSpec{Name: "hooked", Version: "1.0.0"})
	sink := newHookSink(t, "first-secret")

	res := alice.mustRun("", "hook", "add", "hooked", sink.url, "first-secret")
	if !strings.Contains(res.Stdout, "+ hooked") || !strings.Contains(res.Stdout, sink.url) {
		t.Fatalf("npm hook add printed:\n%s", res)
	}
	res = alice.mustRun("", "hook", "ls")
	m := regexp.MustCompile(`Hook ([0-9a-f]{32}): hooked`).FindStringSubmatch(res.Stdout)
	if m == nil || !strings.Contains(res.Stdout, "You have 1 hook configured.") || !strings.Contains(res.Stdout, "Never triggered") {
		t.Fatalf("npm hook ls printed:\n%s", res)
	}
	id := m[1]

	alice.publishSpec(pkgSpec{Name: "hooked", Version: "1.1.0"})
	got := sink.waitFor(t, "the publish of 1.1.0", 1)
	if got[0]["event"] != "package:publish" || got[0]["name"] != "hooked" || got[0]["version"] != "1.1.0" {
		t.Fatalf("delivery: %v", got[0])
	}
	deadline := time.Now().Add(10 * time.Second)
	for res = alice.mustRun("", "hook", "ls", "hooked"); !strings.Contains(res.Stdout, `response code was "200"`); res = alice.mustRun("", "hook", "ls", "hooked") {
		if time.Now().After(deadline) {
			t.Fatalf("npm hook ls after a delivery printed:\n%s", res)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// npm hook update: a new secret; the receiver refuses until the server
	// has restarted, and the delivery of 1.2.0 arrives after it.
	res = alice.mustRun("", "hook", "update", id, sink.url, "second-secret")
	if !strings.Contains(res.Stdout, "+ hooked") {
		t.Fatalf("npm hook update printed:\n%s", res)
	}
	sink.set("second-secret", true)
	alice.publishSpec(pkgSpec{Name: "hooked", Version: "1.2.0"})
	srv.Restart(t)
	sink.set("second-secret", false)
	got = sink.waitFor(t, "the publish of 1.2.0 after the restart", 2)
	if got[1]["version"] != "1.2.0" {
		t.Fatalf("after the restart: %v", got[1])
	}

	res = alice.mustRun("", "hook", "rm", id)
	if !strings.Contains(res.Stdout, "- hooked") || !strings.Contains(res.Stdout, sink.url) {
		t.Fatalf("npm hook rm printed:\n%s", res)
	}
	if res = alice.mustRun("", "hook", "ls"); !strings.Contains(res.Stdout, "You don't have any hooks configured yet.") {
		t.Fatalf("npm hook ls after rm printed:\n%s", res)
	}

	// Without the allow-list a loopback or metadata endpoint is refused.
	plain := startServer(t)
	bob := userClient(t, plain, npm10(t), "bob")
	bob.publishSpec(pkgSpec{Name: "plain", Version: "1.0.0"})
	for _, url := range []string{sink.url, "http://169.254.169.254/latest/meta-data/"} {
		res := bob.run("", "hook", "add", "plain", url, "secret")
		if res.Code == 0 || !strings.Contains(res.Stderr, "may not reach") {
			t.Errorf("npm hook add %s without the allow-list:\n%s", url, res)
		}
	}
}
