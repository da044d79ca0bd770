package server

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/config"
)

// BenchmarkPublishWithHooks measures publish latency (a 1-version publish
// through the HTTP API, SQLite) with no hook, with a hook whose receiver
// answers at once, and with four hooks whose receivers hang until the
// delivery's timeout: deliveries are made off the request path, so the
// publish does not wait for any of them. It reports p50 and p99 besides
// ns/op. Figures in docs/benchmarks.md.
func BenchmarkPublishWithHooks(b *testing.B) {
	for _, mode := range []string{"none", "fast", "hanging"} {
		b.Run(mode, func(b *testing.B) {
			cfg := config.Default()
			cfg.DataDir = b.TempDir()
			cfg.MaxBodySize = 1 << 20
			cfg.HookAllow = []string{"127.0.0.0/8"}
			tr := openRegistry(b, cfg, quietLogger())
			alice := tr.user("alice")
			if res := tr.do("PUT", "/lib", alice, publishBody(b, "lib", "0.0.0")); res.status != 201 {
				b.Fatal(res.status)
			}
			hang := make(chan struct{})
			recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if mode == "hanging" {
					select {
					case <-hang:
					case <-r.Context().Done():
					}
				}
			}))
			b.Cleanup(recv.Close)
			b.Cleanup(func() { close(hang) })
			hooks := map[string]int{"none": 0, "fast": 1, "hanging": 4}[mode]
			for i := range hooks {
				res := tr.do("POST", "/-/npm/v1/hooks/hook", alice, map[string]string{"type": "package", "name": "lib",
					"endpoint": fmt.Sprintf("%s/%d", recv.URL, i), "secret": "secret"})
				if res.status != 201 {
					b.Fatal(res.status, string(res.body))
				}
			}
			bodies := make([]map[string]any, b.N)
			for i := range bodies {
				bodies[i] = publishBody(b, "lib", fmt.Sprintf("1.0.%d", i))
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				if res := tr.do("PUT", "/lib", alice, bodies[i]); res.status != 201 {
					b.Fatal(res.status, string(res.body))
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
