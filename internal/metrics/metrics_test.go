package metrics

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCounts(t *testing.T) {
	m := New()
	m.Request("packument", "GET", 200, 3*time.Millisecond)
	m.Request("packument", "GET", 200, 40*time.Millisecond)
	m.Request("publish", "PUT", 403, time.Second)
	m.Request("other", "PROPFIND", 405, time.Millisecond)
	m.Request("other", "get", 405, time.Millisecond) // methods are case-sensitive
	m.TokenAuthentication("ok")
	m.TokenAuthentication("revoked")
	m.TokenAuthentication("ok")
	m.Publish("ok")
	m.CacheLookup("packument", true)
	m.CacheLookup("packument", false)
	m.CacheLookup("packument", true)

	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{"packument 200", testutil.ToFloat64(m.requests.WithLabelValues("packument", "GET", "200")), 2},
		{"publish 403", testutil.ToFloat64(m.requests.WithLabelValues("publish", "PUT", "403")), 1},
		{"unknown methods folded", testutil.ToFloat64(m.requests.WithLabelValues("other", "OTHER", "405")), 2},
		{"token ok", testutil.ToFloat64(m.authentications.WithLabelValues("ok")), 2},
		{"token revoked", testutil.ToFloat64(m.authentications.WithLabelValues("revoked")), 1},
		{"publish ok", testutil.ToFloat64(m.publishes.WithLabelValues("ok")), 1},
		{"packument hits", testutil.ToFloat64(m.cache.WithLabelValues("packument", "hit")), 2},
		{"packument misses", testutil.ToFloat64(m.cache.WithLabelValues("packument", "miss")), 1},
		{"request series", float64(testutil.CollectAndCount(m.requests)), 3},
		{"duration series", float64(testutil.CollectAndCount(m.durations)), 3},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}

	// The histogram puts each duration in its bucket.
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`gatehouse_http_request_duration_seconds_bucket{method="GET",route="packument",le="0.0025"} 0`,
		`gatehouse_http_request_duration_seconds_bucket{method="GET",route="packument",le="0.005"} 1`,
		`gatehouse_http_request_duration_seconds_bucket{method="GET",route="packument",le="0.05"} 2`,
		`gatehouse_http_request_duration_seconds_count{method="GET",route="packument"} 2`,
		`gatehouse_http_request_duration_seconds_count{method="PUT",route="publish"} 1`,
		"go_goroutines ",
		"process_cpu_seconds_total ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
}

// TestRegistriesAreSeparate: two Metrics (two servers in one process) never
// share a counter, and neither touches the global default registry.
func TestRegistriesAreSeparate(t *testing.T) {
	a, b := New(), New()
	a.Publish("ok")
	if got := testutil.ToFloat64(b.publishes.WithLabelValues("ok")); got != 0 {
		t.Fatalf("a publish counted in one Metrics shows in another: %v", got)
	}
	if got := testutil.ToFloat64(a.publishes.WithLabelValues("ok")); got != 1 {
		t.Fatalf("publish not counted: %v", got)
	}
}
