package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

// records parses every line of a JSON log; a line that is not a JSON object
// fails the test.
func records(t *testing.T, text string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not a JSON object: %v\n%s", err, line)
		}
		out = append(out, m)
	}
	return out
}

// TestJSONLogs sends requests carrying secrets of every kind (a password, a
// bearer token, a session cookie, a secret in the query string, a token in
// the path) and a request that fails inside, then checks the JSON log: every
// line parses, every request line has its fields and the id echoed in
// X-Request-Id, the failure's line carries the same id, and no secret
// appears anywhere.
func TestJSONLogs(t *testing.T) {
	logs := &testkit.SyncBuffer{}
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	tr := openRegistry(t, cfg, NewLogger(logs, "debug", true))

	const password = "password-alice" // what tr.user sends
	alice := tr.user("alice")
	secrets := []string{password, alice, "cookie-secret-value", "query-secret-value"}
	ids := map[string]string{} // request id → what the request was
	note := func(what string, res response) {
		t.Helper()
		id := res.header.Get("X-Request-Id")
		if id == "" {
			t.Fatalf("%s: no X-Request-Id in the answer", what)
		}
		ids[id] = what
	}
	note("login again with the password", tr.do("PUT", "/-/user/org.couchdb.user:alice", "",
		map[string]string{"name": "alice", "password": password}))
	note("whoami with the token", tr.do("GET", "/-/whoami", alice, nil))
	note("read with a cookie and a secret query", tr.do("GET", "/-/v1/search?text=x&token=query-secret-value", alice, nil,
		"Cookie", "gatehouse_session=cookie-secret-value"))
	second := tr.mustToken(alice, map[string]any{"password": password, "readonly": true})
	secrets = append(secrets, second)
	note("revoke a token by its whole string in the path", tr.do("DELETE", "/-/npm/v1/tokens/token/"+second, alice, nil))
	note("logout with the token in the path", tr.do("DELETE", "/-/user/token/"+alice, alice, nil))

	// A failure inside a request: the database is gone.
	third := tr.user("bob")
	secrets = append(secrets, third, "password-bob")
	if err := tr.srv.store.Close(); err != nil {
		t.Fatal(err)
	}
	failed := tr.do("GET", "/-/whoami", third, nil)
	if failed.status != http.StatusInternalServerError {
		t.Fatalf("whoami on a closed database = %d, want 500", failed.status)
	}
	note("whoami on a closed database", failed)
	failedID := failed.header.Get("X-Request-Id")

	// Each access line is written once its handler returns, which can be
	// just after the client has read the answer.
	var recs []map[string]any
	for deadline := time.Now().Add(5 * time.Second); ; {
		recs = records(t, logs.String())
		seen := 0
		for _, r := range recs {
			if id, _ := r["request_id"].(string); r["msg"] == "request" && ids[id] != "" {
				seen++
			}
		}
		if seen == len(ids) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}

	requestLines := map[string]map[string]any{}
	var failureLine map[string]any
	for _, r := range recs {
		id, _ := r["request_id"].(string)
		switch r["msg"] {
		case "request":
			requestLines[id] = r
			for _, field := range []string{"time", "level", "request_id", "method", "route", "path", "status", "bytes", "duration", "client"} {
				if _, ok := r[field]; !ok {
					t.Errorf("request line without %q: %v", field, r)
				}
			}
			if r["client"] != "127.0.0.1" {
				t.Errorf("request line with client %v, want 127.0.0.1", r["client"])
			}
		case "request failed":
			failureLine = r
		}
	}
	for id, what := range ids {
		if _, ok := requestLines[id]; !ok {
			t.Errorf("%s: no request line with its X-Request-Id %s", what, id)
		}
	}
	want := map[string]struct {
		route, path string
		status      float64
	}{
		"whoami with the token":                          {"whoami", "/-/whoami", 200},
		"login again with the password":                  {"login", "/-/user/org.couchdb.user:alice", 201},
		"read with a cookie and a secret query":          {"search", "/-/v1/search", 200},
		"revoke a token by its whole string in the path": {"tokens", "/-/npm/v1/tokens/token/[redacted]", 204},
		"logout with the token in the path":              {"logout", "/-/user/token/[redacted]", 200},
		"whoami on a closed database":                    {"whoami", "/-/whoami", 500},
	}
	for id, what := range ids {
		r, w := requestLines[id], want[what]
		if r == nil {
			continue
		}
		if r["route"] != w.route || r["path"] != w.path || r["status"] != w.status {
			t.Errorf("%s: logged route %v path %v status %v, want %s %s %v", what, r["route"], r["path"], r["status"], w.route, w.path, w.status)
		}
	}
	if failureLine == nil {
		t.Errorf("the failure inside a request was not logged")
	} else if failureLine["request_id"] != failedID || failureLine["level"] != "ERROR" {
		t.Errorf("failure logged as %v, want level ERROR and request_id %s", failureLine, failedID)
	}

	text := logs.String()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("the log holds a secret in the clear: %q", s)
		}
	}
	for _, s := range []string{"Authorization", "Bearer", "Cookie", "token=", "password"} {
		if strings.Contains(text, s) {
			t.Errorf("the log mentions %q", s)
		}
	}
}

// TestTextLogs checks the default format: key=value lines with the same fields.
func TestTextLogs(t *testing.T) {
	logs := &testkit.SyncBuffer{}
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	tr := openRegistry(t, cfg, NewLogger(logs, "info", false))
	res := tr.do("GET", "/missing-package", "", nil)
	id := res.header.Get("X-Request-Id")
	wantLine := []string{"msg=request", "request_id=" + id, "method=GET", "route=packument", "path=/missing-package", "status=404", "bytes=", "duration=", "client=127.0.0.1"}
	for deadline := time.Now().Add(5 * time.Second); ; {
		found := false
		for _, line := range strings.Split(logs.String(), "\n") {
			all := true
			for _, w := range wantLine {
				all = all && strings.Contains(line, w)
			}
			found = found || all
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with all of %q:\n%s", wantLine, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Probes are logged at debug level only.
	tr.do("GET", "/-/ping", "", nil)
	tr.do("GET", "/-/ready", "", nil)
	tr.do("GET", "/-/whoami", "", nil) // logged after the probes: once it is there, they would be too
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), "route=whoami"); {
		if time.Now().After(deadline) {
			t.Fatalf("no line for whoami:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Contains(logs.String(), "route=ping") || strings.Contains(logs.String(), "route=ready") {
		t.Errorf("probes logged at info level:\n%s", logs.String())
	}
}

// TestRequestID checks where a request's id comes from: a sane X-Request-Id
// from a trusted proxy is kept, anything else is replaced by a fresh id.
func TestRequestID(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name     string
		remote   string
		incoming string
		trusted  []netip.Prefix
		keep     bool
	}{
		{"none given", "10.1.1.1:443", "", proxies, false},
		{"from a trusted proxy", "10.1.1.1:443", "proxy-id-0123:abc.def_9", proxies, true},
		{"a UUID from a trusted proxy", "10.1.1.1:443", "0b9c7e5a-3f7e-4c1b-9a51-2d7e0c6f4a10", proxies, true},
		{"from an untrusted peer", "192.0.2.7:5000", "client-chosen-id", proxies, false},
		{"no proxy trusted", "10.1.1.1:443", "proxy-id", nil, false},
		{"a newline (log forging)", "10.1.1.1:443", "abc\nmsg=forged", proxies, false},
		{"a space", "10.1.1.1:443", "abc def", proxies, false},
		{"a quote", "10.1.1.1:443", `abc"def`, proxies, false},
		{"too long", "10.1.1.1:443", strings.Repeat("a", 129), proxies, false},
		{"longest kept", "10.1.1.1:443", strings.Repeat("a", 128), proxies, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen string
			h := requestContext(tt.trusted)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen, _ = requestID(r.Context())
			}))
			req := httptest.NewRequest("GET", "/-/ping", nil)
			req.RemoteAddr = tt.remote
			if tt.incoming != "" {
				req.Header.Set("X-Request-Id", tt.incoming)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			echoed := rec.Header().Get("X-Request-Id")
			if echoed != seen || seen == "" {
				t.Fatalf("echoed %q, context holds %q: want the same, not empty", echoed, seen)
			}
			if tt.keep && seen != tt.incoming {
				t.Errorf("id %q, want the proxy's %q kept", seen, tt.incoming)
			}
			if !tt.keep && (seen == tt.incoming || len(seen) != 16 || strings.Trim(seen, "0123456789abcdef") != "") {
				t.Errorf("id %q, want a fresh 16-hex-digit id", seen)
			}
		})
	}
}

// TestRequestValues checks the one context value requestContext makes: it
// answers the request id and the client address, leaves every other key
// to its parent (cancellation included), and a value set on top of it
// (auth.WithClientIP) still wins.
func TestRequestValues(t *testing.T) {
	type parentKey struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), parentKey{}, "kept"))
	ip := netip.MustParseAddr("2001:db8::7")
	ctx := newRequestValues(parent, "0123abcd", ip)
	tests := []struct {
		name      string
		got, want any
	}{
		{"client address", auth.ClientIP(ctx), ip},
		{"parent's value", ctx.Value(parentKey{}), "kept"},
		{"header", ctx.idHeader[:], []string{"0123abcd"}},
		{"address set on top", auth.ClientIP(auth.WithClientIP(ctx, netip.MustParseAddr("192.0.2.1"))), netip.MustParseAddr("192.0.2.1")},
		{"no request id elsewhere", func() bool { _, ok := requestID(context.Background()); return ok }(), false},
		{"no address elsewhere", auth.ClientIP(context.Background()), netip.Addr{}},
	}
	if id, ok := requestID(ctx); !ok || id != "0123abcd" {
		t.Errorf("request id %q (%v), want 0123abcd", id, ok)
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	child, stop := context.WithCancel(ctx)
	defer stop()
	cancel()
	select {
	case <-child.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("cancelling the parent did not reach a context made from the request's")
	}
	if ctx.Err() == nil {
		t.Fatal("the request's context is not cancelled with its parent")
	}
}
