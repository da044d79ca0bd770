package metrics

import (
	"math"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	vm "github.com/VictoriaMetrics/metrics"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// exposition is one scrape of m's handler: its text, and the families
// Prometheus' own parser reads from it.
type exposition struct {
	body     string
	families map[string]*dto.MetricFamily
}

// scrape serves /metrics from m and parses it as a Prometheus server would,
// failing t if the text is not valid exposition format.
func scrape(t *testing.T, m *Metrics) exposition {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q, want the text exposition format", ct)
	}
	body := rec.Body.String()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("the exposition does not parse: %v\n%s", err, body)
	}
	return exposition{body, families}
}

// value is the value of the one counter of family whose labels are exactly
// labels (name, value, name, value...), 0 when there is none.
func (e exposition) value(family string, labels ...string) float64 {
	f, ok := e.families[family]
	if !ok {
		return 0
	}
	for _, s := range f.GetMetric() {
		if len(s.GetLabel())*2 != len(labels) {
			continue
		}
		match := true
		for i, l := range s.GetLabel() {
			// The parser sorts labels by name; so does the caller.
			match = match && l.GetName() == labels[2*i] && l.GetValue() == labels[2*i+1]
		}
		if match {
			return s.GetCounter().GetValue()
		}
	}
	return 0
}

// count is the number of series of family.
func (e exposition) count(family string) float64 {
	f, ok := e.families[family]
	if !ok {
		return 0
	}
	return float64(len(f.GetMetric()))
}

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

	e := scrape(t, m)
	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{"packument 200", e.value("gatehouse_http_requests_total", "code", "200", "method", "GET", "route", "packument"), 2},
		{"publish 403", e.value("gatehouse_http_requests_total", "code", "403", "method", "PUT", "route", "publish"), 1},
		{"unknown methods folded", e.value("gatehouse_http_requests_total", "code", "405", "method", "OTHER", "route", "other"), 2},
		{"token ok", e.value("gatehouse_token_authentications_total", "result", "ok"), 2},
		{"token revoked", e.value("gatehouse_token_authentications_total", "result", "revoked"), 1},
		{"publish ok", e.value("gatehouse_publishes_total", "result", "ok"), 1},
		{"packument hits", e.value("gatehouse_cache_requests_total", "cache", "packument", "result", "hit"), 2},
		{"packument misses", e.value("gatehouse_cache_requests_total", "cache", "packument", "result", "miss"), 1},
		{"request series", e.count("gatehouse_http_requests_total"), 3},
		{"duration series", e.count("gatehouse_http_request_duration_seconds"), 3},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}

	// The histogram puts each duration in its bucket.
	for _, want := range []string{
		`gatehouse_http_request_duration_seconds_bucket{method="GET",route="packument",le="0.0025"} 0`,
		`gatehouse_http_request_duration_seconds_bucket{method="GET",route="packument",le="0.005"} 1`,
		`gatehouse_http_request_duration_seconds_bucket{method="GET",route="packument",le="0.05"} 2`,
		`gatehouse_http_request_duration_seconds_count{method="GET",route="packument"} 2`,
		`gatehouse_http_request_duration_seconds_count{method="PUT",route="publish"} 1`,
		"go_goroutines ",
		"process_cpu_seconds_total ",
	} {
		if !strings.Contains(e.body, want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
}

// TestExpositionTypes: every family documented in docs/operations.md is
// exposed with its type and, for the histogram, every documented bucket, so
// dashboards and histogram_quantile read them as before.
func TestExpositionTypes(t *testing.T) {
	m := New()
	m.Request("packument", "GET", 200, time.Millisecond)
	m.TokenAuthentication("ok")
	m.Publish("ok")
	m.CacheLookup("token", false)
	e := scrape(t, m)
	for family, want := range map[string]dto.MetricType{
		"gatehouse_http_requests_total":           dto.MetricType_COUNTER,
		"gatehouse_http_request_duration_seconds": dto.MetricType_HISTOGRAM,
		"gatehouse_token_authentications_total":   dto.MetricType_COUNTER,
		"gatehouse_publishes_total":               dto.MetricType_COUNTER,
		"gatehouse_cache_requests_total":          dto.MetricType_COUNTER,
		"go_goroutines":                           dto.MetricType_GAUGE,
		"go_gc_gogc_percent":                      dto.MetricType_GAUGE,
		"go_gc_gomemlimit_bytes":                  dto.MetricType_GAUGE,
		"process_cpu_seconds_total":               dto.MetricType_COUNTER,
		"process_resident_memory_bytes":           dto.MetricType_GAUGE,
		"process_open_fds":                        dto.MetricType_GAUGE,
		"process_start_time_seconds":              dto.MetricType_GAUGE,
	} {
		f, ok := e.families[family]
		if !ok {
			t.Errorf("no %s", family)
			continue
		}
		if f.GetType() != want {
			t.Errorf("%s is a %v, want a %v", family, f.GetType(), want)
		}
	}
	h := e.families["gatehouse_http_request_duration_seconds"].GetMetric()[0].GetHistogram()
	var bounds []float64
	for _, b := range h.GetBucket() {
		bounds = append(bounds, b.GetUpperBound())
	}
	want := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, math.Inf(1)}
	if len(bounds) != len(want) {
		t.Fatalf("buckets %v, want %v", bounds, want)
	}
	for i := range want {
		if bounds[i] != want[i] {
			t.Fatalf("buckets %v, want %v", bounds, want)
		}
	}
	if h.GetSampleCount() != 1 || h.GetSampleSum() != 0.001 {
		t.Errorf("histogram count %d, sum %v; want 1 and 0.001", h.GetSampleCount(), h.GetSampleSum())
	}
}

// TestRegistriesAreSeparate: two Metrics (two servers in one process) never
// share a counter, and neither touches the library's global default set.
func TestRegistriesAreSeparate(t *testing.T) {
	a, b := New(), New()
	a.Publish("ok")
	if got := scrape(t, b).value("gatehouse_publishes_total", "result", "ok"); got != 0 {
		t.Fatalf("a publish counted in one Metrics shows in another: %v", got)
	}
	if got := scrape(t, a).value("gatehouse_publishes_total", "result", "ok"); got != 1 {
		t.Fatalf("publish not counted: %v", got)
	}
	if names := vm.GetDefaultSet().ListMetricNames(); len(names) != 0 {
		t.Fatalf("series registered globally: %v", names)
	}
}
