package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
	"github.com/gatehouse-registry/gatehouse/internal/token"
)

// TestMetricsAfterRealRequests sends requests of every kind the metrics
// count, scrapes /metrics and checks each counter moved, with the right
// labels and nothing from the paths or the tokens in any label.
func TestMetricsAfterRealRequests(t *testing.T) {
	tr := newTestRegistry(t)
	metricsURL := testkit.Serve(t, tr.srv.metricsHandler())

	unknown, err := token.NewFormat("").Generate()
	if err != nil {
		t.Fatal(err)
	}
	malformed := "npm_" + strings.Repeat("A", 36)

	alice := tr.user("alice") // 1: login
	steps := []struct {
		method, path, tok string
		body              any
		status            int
	}{
		{"PUT", "/secret-demo", alice, publishBody(t, "secret-demo", "1.0.0"), 201}, // 2: publish
		{"PUT", "/secret-demo", alice, publishBody(t, "secret-demo", "1.0.0"), 403}, // 3: publish over a version
		{"GET", "/secret-demo", "", nil, 200},                                       // 4
		{"GET", "/secret-demo", "", nil, 200},                                       // 5
		{"GET", "/nope-missing", "", nil, 404},                                      // 6
		{"GET", "/secret-demo", malformed, nil, 200},                                // 7: bad checksum, read anonymously
		{"GET", "/secret-demo", unknown, nil, 200},                                  // 8: unknown token, read anonymously
		{"GET", "/secret-demo/-/secret-demo-1.0.0.tgz", "", nil, 200},               // 9
		{"GET", "/-/ping", "", nil, 200},                                            // 10
		{"GET", "/-/ready", "", nil, 200},                                           // 11
		{"GET", "/metrics", "", nil, 404},                                           // 12: not on the registry's address
		{"GET", "/-/whoami", alice, nil, 200},                                       // 13
		{"BREW", "/secret-demo", "", nil, 405},                                      // 14: a method nobody knows
	}
	for i, st := range steps {
		res := tr.do(st.method, st.path, st.tok, st.body)
		if res.status != st.status {
			t.Fatalf("step %d: %s %s = %d, want %d: %s", i+2, st.method, st.path, res.status, st.status, res.body)
		}
		if st.path == "/metrics" && strings.Contains(string(res.body), "gatehouse_") {
			t.Fatalf("the registry's address serves metrics: %s", res.body)
		}
	}
	total := float64(1 + len(steps))

	// A request is counted once its handler returns, which can be just after
	// the client has read the answer: wait for the last one.
	families := testkit.ScrapeUntil(t, metricsURL+"/metrics", 5*time.Second, func(m testkit.Metrics) bool {
		return m.Sum("gatehouse_http_requests_total") >= total
	})

	checks := []struct {
		family string
		labels []string
		want   float64
	}{
		{"gatehouse_http_requests_total", nil, total},
		{"gatehouse_http_requests_total", []string{"route", "login", "method", "PUT", "code", "201"}, 1},
		{"gatehouse_http_requests_total", []string{"route", "publish", "method", "PUT", "code", "201"}, 1},
		{"gatehouse_http_requests_total", []string{"route", "publish", "method", "PUT", "code", "403"}, 1},
		{"gatehouse_http_requests_total", []string{"route", "packument", "method", "GET", "code", "200"}, 4},
		{"gatehouse_http_requests_total", []string{"route", "packument", "method", "GET", "code", "404"}, 2},
		{"gatehouse_http_requests_total", []string{"route", "tarball", "method", "GET", "code", "200"}, 1},
		{"gatehouse_http_requests_total", []string{"route", "ping", "method", "GET", "code", "200"}, 1},
		{"gatehouse_http_requests_total", []string{"route", "ready", "method", "GET", "code", "200"}, 1},
		{"gatehouse_http_requests_total", []string{"route", "whoami", "method", "GET", "code", "200"}, 1},
		{"gatehouse_http_requests_total", []string{"route", "other", "method", "OTHER", "code", "405"}, 1},
		{"gatehouse_http_request_duration_seconds", []string{"route", "packument", "method", "GET"}, 6},
		{"gatehouse_http_request_duration_seconds", nil, total},
		{"gatehouse_token_authentications_total", []string{"result", "ok"}, 3},
		{"gatehouse_token_authentications_total", []string{"result", "bad_checksum"}, 1},
		{"gatehouse_token_authentications_total", []string{"result", "unknown"}, 1},
		{"gatehouse_token_authentications_total", nil, 5},
		{"gatehouse_publishes_total", []string{"result", "ok"}, 1},
		{"gatehouse_publishes_total", []string{"result", "forbidden"}, 1},
		{"gatehouse_publishes_total", nil, 2},
		// Every packument read looks in the package cache once (4 to 8 and
		// 12), and so does the tarball read (9), which then looks in the
		// tarball cache; every well-formed token is looked up once (2, 3, 8, 13).
		{"gatehouse_cache_requests_total", []string{"cache", "packument"}, 7},
		{"gatehouse_cache_requests_total", []string{"cache", "tarball"}, 1},
		{"gatehouse_cache_requests_total", []string{"cache", "token"}, 4},
	}
	for _, c := range checks {
		if got := families.Sum(c.family, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.family, c.labels, got, c.want)
		}
	}
	for _, cache := range []string{"packument", "token"} {
		for _, result := range []string{"hit", "miss"} {
			if families.Sum("gatehouse_cache_requests_total", "cache", cache, "result", result) < 1 {
				t.Errorf("no %s %s counted", cache, result)
			}
		}
	}
	for _, f := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		if _, ok := families[f]; !ok {
			t.Errorf("the Go runtime or process collector is missing: no %s", f)
		}
	}

	// Every label value comes from a fixed set; none carries a package name
	// or a token.
	allowed := map[string][]string{
		"route": {"ping", "whoami", "login", "logout", "user", "search", "tokens", "profile", "audit", "dist_tags",
			"access", "orgs", "packument", "manifest", "tarball", "publish", "package_change", "other", "ready", "web"},
		"method": {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE", "OTHER"},
		"result": {"ok", "bad_checksum", "unknown", "revoked", "expired", "legacy_disabled", "ip_denied", "error",
			"invalid", "unauthorized", "forbidden", "not_found", "conflict", "too_large", "locked", "hit", "miss"},
		"cache": {"packument", "tarball", "token", "package_names"},
	}
	secrets := []string{"secret-demo", "nope-missing", alice, unknown, malformed, "BREW"}
	seen := 0
	for name, f := range families {
		if !strings.HasPrefix(name, "gatehouse_") {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				seen++
				v := l.GetValue()
				for _, s := range secrets {
					if strings.Contains(v, s) {
						t.Errorf("%s has label %s=%q, which holds %q", name, l.GetName(), v, s)
					}
				}
				if set, ok := allowed[l.GetName()]; ok && !slices.Contains(set, v) {
					t.Errorf("%s has label %s=%q, outside its fixed set", name, l.GetName(), v)
				}
				if l.GetName() == "code" && (len(v) != 3 || v < "100" || v > "599") {
					t.Errorf("%s has code %q, not an HTTP status", name, v)
				}
			}
		}
	}
	if seen == 0 {
		t.Fatal("no gatehouse label seen; the check proves nothing")
	}
}

// TestMetricsListener serves the registry and the metrics on two real
// listeners, as `gatehouse serve --metrics-listen` does: /metrics answers
// only on its own address, which answers nothing else.
func TestMetricsListener(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.ShutdownTimeout = 5 * time.Second
	l := serveListening(t, cfg)
	registry, metrics := "http://"+l.registry, "http://"+l.metrics

	get := func(url string) (int, string) {
		t.Helper()
		res := testkit.Do(t, http.MethodGet, url, "", nil)
		return res.Status, string(res.Body)
	}
	if code, _ := get(registry + "/-/ping"); code != 200 {
		t.Fatalf("registry /-/ping = %d", code)
	}
	tests := []struct {
		url         string
		code        int
		hasRequests bool
	}{
		{registry + "/metrics", 404, false},
		{metrics + "/metrics", 200, true},
		{metrics + "/-/ping", 404, false},
		{metrics + "/-/ready", 404, false},
		{metrics + "/some-package", 404, false},
		{metrics + "/", 404, false},
	}
	for _, tt := range tests {
		code, body := get(tt.url)
		if code != tt.code {
			t.Errorf("GET %s = %d, want %d", tt.url, code, tt.code)
		}
		if got := strings.Contains(body, "gatehouse_http_requests_total"); got != tt.hasRequests {
			t.Errorf("GET %s: serves the request counter = %v, want %v", tt.url, got, tt.hasRequests)
		}
	}
	// The counter holds the registry's two requests (/-/ping and /metrics),
	// not the metrics address's own.
	families := testkit.ScrapeUntil(t, metrics+"/metrics", 5*time.Second, func(m testkit.Metrics) bool {
		return m.Sum("gatehouse_http_requests_total") >= 2
	})
	if got := families.Sum("gatehouse_http_requests_total", "route", "ping"); got != 1 {
		t.Errorf("ping requests counted: %v, want 1", got)
	}
	if got := families.Sum("gatehouse_http_requests_total"); got != 2 {
		t.Errorf("requests counted: %v, want 2", got)
	}

	l.stop()
	select {
	case err := <-l.served:
		if err != nil {
			t.Fatalf("Serve returned %v after the stop, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after the stop")
	}
	for _, addr := range []string{l.registry, l.metrics} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still takes connections after Serve returned", addr)
		}
	}
}

// TestPprofOnlyWhenAsked: Go's profiles are served on the metrics address
// only with --pprof, and never on the registry's address.
func TestPprofOnlyWhenAsked(t *testing.T) {
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprintf("pprof=%v", on), func(t *testing.T) {
			cfg := config.Default()
			cfg.DataDir = t.TempDir()
			cfg.Pprof = on
			l := serveListening(t, cfg)
			t.Cleanup(func() { l.stop(); <-l.served })
			want := 404
			if on {
				want = 200
			}
			for _, c := range []struct {
				url  string
				code int
			}{
				{"http://" + l.metrics + "/debug/pprof/", want},
				{"http://" + l.metrics + "/debug/pprof/heap?debug=1", want},
				{"http://" + l.metrics + "/debug/pprof/goroutine?debug=1", want},
				{"http://" + l.registry + "/debug/pprof/", 404},
				{"http://" + l.registry + "/debug/pprof/heap", 404},
			} {
				res := testkit.Do(t, http.MethodGet, c.url, "", nil)
				body := res.Body
				if res.Status != c.code {
					t.Errorf("GET %s = %d, want %d", c.url, res.Status, c.code)
				}
				if c.code == 200 && strings.Contains(c.url, "heap") && !strings.Contains(string(body), "heap profile") {
					t.Errorf("GET %s is not a heap profile: %.100s", c.url, body)
				}
			}
		})
	}
}

// listening is gatehouse served as `gatehouse serve` serves it, on two
// loopback listeners: the registry's and the metrics'.
type listening struct {
	registry, metrics string // the listeners' addresses (host:port)
	stop              context.CancelFunc
	served            chan error // what Serve returned, once stopped
}

// serveListening opens gatehouse on cfg and serves it on two loopback
// listeners until stop is called; the server closes when t ends.
func serveListening(t *testing.T, cfg config.Config) listening {
	t.Helper()
	srv, err := Open(context.Background(), cfg, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	l := listening{registry: ln.Addr().String(), metrics: mln.Addr().String(), stop: stop, served: make(chan error, 1)}
	go func() { l.served <- srv.Serve(ctx, ln, mln) }()
	return l
}
