package metrics

import (
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkRequest is what every answered request costs the metrics: one
// counter and one histogram observation, labels found by value.
func BenchmarkRequest(b *testing.B) {
	m := New()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Request("packument", "GET", 200, 3*time.Millisecond)
		}
	})
}

// BenchmarkCacheLookup is one cache look-up counted.
func BenchmarkCacheLookup(b *testing.B) {
	m := New()
	b.ReportAllocs()
	for b.Loop() {
		m.CacheLookup("packument", true)
	}
}

// BenchmarkScrape is one scrape of /metrics with a few dozen series.
func BenchmarkScrape(b *testing.B) {
	m := New()
	for _, route := range []string{"packument", "tarball", "manifest", "publish", "whoami", "ping", "web", "other"} {
		for _, code := range []int{200, 304, 404} {
			m.Request(route, "GET", code, time.Millisecond)
		}
	}
	h := m.Handler()
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	}
}
