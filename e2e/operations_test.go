package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/memsize"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

// TestOperations runs the binary as an operator would past one machine:
// JSON logs, metrics on an address of their own. The real npm publishes and
// installs; then the metrics must show that work under fixed route names,
// the log must be JSON with a request id on every request line, and neither
// may hold a package name in a label or a secret anywhere.
func TestOperations(t *testing.T) {
	t.Parallel()
	tl := npm11(t)
	metricsAddr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, "--metrics-listen", metricsAddr, "--log-format", "json")
	metricsURL := "http://" + metricsAddr + "/metrics"

	token := srv.createUser(t, "olivia")
	publisher := newClient(t, srv, tl).login(token)
	const lib = "ops-hidden-name"
	publisher.publishSpec(pkgSpec{Name: lib, Version: "1.0.0"})
	// Another user may not publish the package: the server refuses it.
	intruderToken := srv.createUser(t, "ivan")
	intruder := newClient(t, srv, tl).login(intruderToken)
	intruder.mustFail(makePackage(t, pkgSpec{Name: lib, Version: "1.0.1"}), []string{"E403"}, "publish")
	project := makeProject(t, nil)
	newClient(t, srv, tl).mustRun(project, "install", lib)
	assertInstalled(t, project, lib, "1.0.0")
	if res := srv.whoami(t, "npm_"+strings.Repeat("x", 36)); res.Status != http.StatusUnauthorized {
		t.Errorf("whoami with a malformed token: got %s, want 401", res)
	}

	if res := srv.do(t, http.MethodGet, "-/ready", "", nil); res.Status != http.StatusOK ||
		!strings.Contains(string(res.Body), `"ready":true`) {
		t.Errorf("GET /-/ready: got %s, want 200 ready", res)
	}
	if res := srv.do(t, http.MethodGet, "metrics", "", nil); res.Status != http.StatusNotFound ||
		strings.Contains(string(res.Body), "gatehouse_") {
		t.Errorf("GET /metrics on the registry's address: got %s, want 404 without metrics", res)
	}

	// The last request is counted once its handler returns: wait until the
	// ready check shows.
	families := testkit.ScrapeUntil(t, metricsURL, 10*time.Second, func(m testkit.Metrics) bool {
		return m.Sum("gatehouse_http_requests_total", "route", "ready") >= 1
	})
	checks := []struct {
		family string
		labels []string
		min    float64
		max    float64 // 0: no upper bound
	}{
		{"gatehouse_http_requests_total", []string{"route", "publish", "method", "PUT", "code", "201"}, 1, 1},
		{"gatehouse_http_requests_total", []string{"route", "publish", "method", "PUT", "code", "403"}, 1, 1},
		{"gatehouse_http_requests_total", []string{"route", "packument", "method", "GET", "code", "200"}, 1, 0},
		{"gatehouse_http_requests_total", []string{"route", "tarball", "method", "GET", "code", "200"}, 1, 0},
		{"gatehouse_http_requests_total", []string{"route", "login", "method", "PUT", "code", "201"}, 2, 2},
		{"gatehouse_http_requests_total", []string{"route", "whoami", "method", "GET", "code", "401"}, 1, 1},
		{"gatehouse_http_requests_total", []string{"route", "ready", "method", "GET", "code", "200"}, 1, 1},
		{"gatehouse_http_request_duration_seconds", []string{"route", "tarball", "method", "GET"}, 1, 0},
		{"gatehouse_token_authentications_total", []string{"result", "ok"}, 2, 0},
		{"gatehouse_token_authentications_total", []string{"result", "bad_checksum"}, 1, 1},
		{"gatehouse_publishes_total", []string{"result", "ok"}, 1, 1},
		{"gatehouse_publishes_total", []string{"result", "forbidden"}, 1, 1},
		{"gatehouse_cache_requests_total", []string{"cache", "packument"}, 1, 0},
		{"gatehouse_cache_requests_total", []string{"cache", "token", "result", "hit"}, 1, 0},
		{"process_start_time_seconds", nil, 1, 0},
		{"go_goroutines", nil, 1, 0},
	}
	for _, c := range checks {
		got := families.Sum(c.family, c.labels...)
		if got < c.min || (c.max > 0 && got > c.max) {
			t.Errorf("%s%v = %v, want from %v to %v", c.family, c.labels, got, c.min, c.max)
		}
	}
	for name, f := range families {
		if !strings.HasPrefix(name, "gatehouse_") {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				for _, s := range []string{lib, "ops-", token, intruderToken, "olivia", "ivan"} {
					if strings.Contains(l.GetValue(), s) {
						t.Errorf("%s has label %s=%q, which holds %q", name, l.GetName(), l.GetValue(), s)
					}
				}
			}
		}
	}

	logs := srv.Logs()
	requests := 0
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line is not JSON: %v\n%s", err, line)
			continue
		}
		if rec["msg"] != "request" {
			continue
		}
		requests++
		for _, field := range []string{"request_id", "method", "route", "path", "status", "bytes", "duration", "client"} {
			if _, ok := rec[field]; !ok {
				t.Errorf("request line without %s: %s", field, line)
			}
		}
	}
	if requests < 5 {
		t.Errorf("only %d request lines logged:\n%s", requests, logs)
	}
	for _, secret := range []string{token, intruderToken, passwordOf("olivia"), passwordOf("ivan")} {
		if strings.Contains(logs, secret) {
			t.Errorf("the server log holds a secret in the clear")
		}
	}
}

// TestGarbageCollectorSettings: serve sets the Go collector's pace from
// --gc-percent (400 unless told) and --memory-limit (unless told, sized
// from this machine's memory: internal/memsize), replacing the GOGC and
// GOMEMLIMIT a process would otherwise take from its environment; the Go
// runtime's own metrics show what it runs with.
func TestGarbageCollectorSettings(t *testing.T) {
	t.Parallel()
	sized := float64(memsize.Size(memsize.Read(os.DirFS("/")), memsize.Settings{}).MemoryLimit)
	tests := []struct {
		name      string
		args      []string
		env       []string
		wantGOGC  float64
		wantLimit float64 // 0: Go's own, no limit
	}{
		{"default", nil, []string{"GOGC=100", "GOMEMLIMIT=100MiB"}, 400, sized},
		{"no limit of its own", []string{"--memory-limit", "0"}, nil, 400, 0},
		{"flags", []string{"--gc-percent", "250", "--memory-limit", "300MiB"}, []string{"GOGC=100", "GOMEMLIMIT=100MiB"}, 250, 300 << 20},
		{"environment", nil, []string{"GATEHOUSE_GC_PERCENT=150", "GATEHOUSE_MEMORY_LIMIT=64MiB"}, 150, 64 << 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			metricsAddr, err := freeAddr()
			if err != nil {
				t.Fatal(err)
			}
			startServerWith(t, serverSetup{args: append([]string{"--metrics-listen", metricsAddr}, tc.args...), env: tc.env})
			families := testkit.Scrape(t, "http://"+metricsAddr+"/metrics")
			if got := families.Sum("go_gc_gogc_percent"); got != tc.wantGOGC {
				t.Errorf("go_gc_gogc_percent = %v, want %v", got, tc.wantGOGC)
			}
			limit := families.Sum("go_gc_gomemlimit_bytes")
			switch {
			case tc.wantLimit == 0 && limit < 1<<62:
				t.Errorf("go_gc_gomemlimit_bytes = %v, want no limit", limit)
			case tc.wantLimit != 0 && limit != tc.wantLimit:
				t.Errorf("go_gc_gomemlimit_bytes = %v, want %v", limit, tc.wantLimit)
			}
		})
	}
}
