package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/logqueue"
)

// BenchmarkDefaultConfig measures the three reads of issue 15's target
// (bench/defaults.sh) through the whole handler in the default
// configuration: log level info, every request's access log line formatted
// and queued by a logqueue.Writer (whose goroutine writes to io.Discard), a
// granular read token, the in-memory caches warm. It leaves out net/http's
// connection handling and the network, which bench/defaults.sh measures.
//
// Beside the wall-clock ns/op it reports cpu-ns/op: the process's CPU time
// (user and system, every thread: the log queue's writer and the garbage
// collector included) per request, which other work on a loaded machine
// disturbs much less.
func BenchmarkDefaultConfig(b *testing.B) {
	cases := []struct {
		name, path, accept string
	}{
		{"abbreviated", "/bench-lib", abbreviatedAccept},
		{"full", "/bench-lib", "application/json"},
		{"tarball", "/bench-lib/-/bench-lib-1.3.0.tgz", "*/*"},
	}
	cfg := config.Default()
	cfg.DataDir = b.TempDir()
	logs := logqueue.New(io.Discard, 0)
	b.Cleanup(func() { _ = logs.Close() })
	tr := openRegistry(b, cfg, NewLogger(logs, cfg.LogLevel, cfg.LogFormat == "json"))
	alice := tr.user("alice")
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0", "1.3.0"} {
		if res := tr.do("PUT", "/bench-lib", alice, publishBody(tr.t, "bench-lib", v)); res.status != 201 {
			b.Fatalf("publish: %d %s", res.status, res.body)
		}
	}
	tok := tr.mustToken(alice, map[string]any{"password": "password-alice", "name": "bench", "packages_all": true})
	h := tr.srv.Handler()
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", c.path, nil)
			req.RemoteAddr = "127.0.0.1:40000"
			req.Header.Set("Accept", c.accept)
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("User-Agent", "wrk")
			b.ReportAllocs()
			cpu0 := processCPU(b)
			for b.Loop() {
				w := &discardWriter{h: http.Header{}}
				h.ServeHTTP(w, req)
				if w.code != http.StatusOK {
					b.Fatalf("status %d, want 200", w.code)
				}
			}
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU is the CPU time the process has used so far, user and system,
// in nanoseconds.
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
