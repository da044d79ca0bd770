// Package metrics counts what gatehouse does, in Prometheus' terms: HTTP
// requests by route and status, token authentications by result, publishes
// by result and cache look-ups, beside the Go runtime's and the process's own
// figures. Each Metrics owns its set of series; nothing is registered
// globally, so two servers in one process (tests) count apart.
//
// Every label value comes from a small fixed set chosen by the code: a route
// name, an HTTP method, a status code, a result word. Nothing from the
// request path (package names), and never a token, becomes a label.
//
// The series are kept and written in Prometheus' text exposition format by
// github.com/VictoriaMetrics/metrics, a small library without protobuf.
package metrics

import (
	"fmt"
	"io"
	"net/http"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"

	vm "github.com/VictoriaMetrics/metrics"
)

// The metric families, as docs/operations.md documents them for dashboards
// (the library writes no help text, so their help is here and there).
const (
	// requestsName: HTTP requests answered, by route name, method and status code.
	requestsName = "gatehouse_http_requests_total"
	// durationsName: time from receiving a request to finishing its answer,
	// by route name and method.
	durationsName = "gatehouse_http_request_duration_seconds"
	// authenticationsName: bearer token checks, by result (ok, bad_checksum,
	// unknown, revoked, expired, legacy_disabled, ip_denied, error).
	authenticationsName = "gatehouse_token_authentications_total"
	// publishesName: package version publishes, by result (ok, or why it was refused).
	publishesName = "gatehouse_publishes_total"
	// cacheName: in-memory cache look-ups, by cache (packument, tarball,
	// token) and result (hit, miss).
	cacheName = "gatehouse_cache_requests_total"
	// uplinkRequestsName: requests sent to uplinks, by uplink, kind
	// (packument, tarball, audit, search, keys, ping) and status (the HTTP
	// status code, or timeout or error when none came).
	uplinkRequestsName = "gatehouse_uplink_requests_total"
	// uplinkDurationsName: time from sending a request to an uplink to its
	// answer's headers, by uplink and kind.
	uplinkDurationsName = "gatehouse_uplink_request_duration_seconds"
	// uplinkBytesName: bytes of answers' bodies read from uplinks, by
	// uplink and kind.
	uplinkBytesName = "gatehouse_uplink_bytes_total"
)

// families are the names of gatehouse's own metric families, for the test
// that checks docs/operations.md lists each.
var families = []string{requestsName, durationsName, authenticationsName, publishesName, cacheName,
	uplinkRequestsName, uplinkDurationsName, uplinkBytesName}

// durationBuckets returns the upper bounds of the request duration
// histogram: from a packument served from memory (well under a millisecond)
// to a large publish (tens of seconds).
func durationBuckets() []float64 {
	return []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
}

// Metrics holds gatehouse's counters and the set that exposes them.
type Metrics struct {
	set             *vm.Set
	requests        series[requestKey, *vm.Counter]
	durations       series[durationKey, *vm.PrometheusHistogram]
	authentications series[string, *vm.Counter]
	publishes       series[string, *vm.Counter]
	cache           series[cacheKey, *vm.Counter]
	uplinkRequests  series[uplinkRequestKey, *vm.Counter]
	uplinkDurations series[uplinkKey, *vm.PrometheusHistogram]
	uplinkBytes     series[uplinkKey, *vm.Counter]
}

// uplinkKey names one series of the uplink families by uplink and kind.
type uplinkKey struct{ uplink, kind string }

// uplinkRequestKey names one series of gatehouse_uplink_requests_total.
type uplinkRequestKey struct{ uplink, kind, status string }

// requestKey names one series of gatehouse_http_requests_total.
type requestKey struct {
	route, method string
	code          int
}

// durationKey names one series of gatehouse_http_request_duration_seconds.
type durationKey struct{ route, method string }

// cacheKey names one series of gatehouse_cache_requests_total.
type cacheKey struct{ cache, result string }

// New returns a fresh set of metrics, with the Go runtime's and the
// process's figures written after gatehouse's own at every scrape.
func New() *Metrics {
	// Without it the exposition carries no TYPE lines and every series is
	// untyped to the scraper. The library keeps this one switch for the
	// whole process; every Metrics wants it on, so setting it again is
	// harmless.
	vm.ExposeMetadata(true)
	set := vm.NewSet()
	m := &Metrics{set: set}
	m.requests.create = func(k requestKey) *vm.Counter {
		// Labels in name order, as Prometheus' own client wrote them.
		return set.GetOrCreateCounter(name(requestsName, "code", strconv.Itoa(k.code), "method", k.method, "route", k.route))
	}
	m.durations.create = func(k durationKey) *vm.PrometheusHistogram {
		return set.GetOrCreatePrometheusHistogramExt(name(durationsName, "method", k.method, "route", k.route), durationBuckets())
	}
	m.authentications.create = func(result string) *vm.Counter {
		return set.GetOrCreateCounter(name(authenticationsName, "result", result))
	}
	m.publishes.create = func(result string) *vm.Counter {
		return set.GetOrCreateCounter(name(publishesName, "result", result))
	}
	m.cache.create = func(k cacheKey) *vm.Counter {
		return set.GetOrCreateCounter(name(cacheName, "cache", k.cache, "result", k.result))
	}
	m.uplinkRequests.create = func(k uplinkRequestKey) *vm.Counter {
		return set.GetOrCreateCounter(name(uplinkRequestsName, "kind", k.kind, "status", k.status, "uplink", k.uplink))
	}
	m.uplinkDurations.create = func(k uplinkKey) *vm.PrometheusHistogram {
		return set.GetOrCreatePrometheusHistogramExt(name(uplinkDurationsName, "kind", k.kind, "uplink", k.uplink), durationBuckets())
	}
	m.uplinkBytes.create = func(k uplinkKey) *vm.Counter {
		return set.GetOrCreateCounter(name(uplinkBytesName, "kind", k.kind, "uplink", k.uplink))
	}
	set.RegisterMetricsWriter(writeRuntime)
	return m
}

// Handler serves the metrics in Prometheus' text exposition format.
func (m *Metrics) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		m.set.WritePrometheus(w)
	})
}

// Request counts one answered HTTP request. route must come from a fixed set
// of names; method is folded to the standard methods (anything else is
// OTHER), so a client cannot invent label values.
func (m *Metrics) Request(route, method string, code int, elapsed time.Duration) {
	method = foldMethod(method)
	m.requests.get(requestKey{route, method, code}).Inc()
	m.durations.get(durationKey{route, method}).Update(elapsed.Seconds())
}

// CountLogDrops exposes the log lines dropped because the log's buffer was
// full (dropped) and those the log's destination refused (failed), both
// read from the log writer when the metrics are scraped.
func (m *Metrics) CountLogDrops(dropped, failed func() uint64) {
	// gatehouse_log_lines_dropped_total: log lines dropped, not written,
	// because the log's buffer was full (the destination was slower than
	// the lines came). gatehouse_log_lines_failed_total: log lines lost
	// because writing them to the log's destination failed.
	m.set.RegisterMetricsWriter(func(w io.Writer) {
		vm.WriteCounterUint64(w, "gatehouse_log_lines_dropped_total", dropped())
		vm.WriteCounterUint64(w, "gatehouse_log_lines_failed_total", failed())
	})
}

// TokenAuthentication counts one bearer token check and its result.
func (m *Metrics) TokenAuthentication(result string) {
	m.authentications.get(result).Inc()
}

// Publish counts one publish attempt and its result.
func (m *Metrics) Publish(result string) {
	m.publishes.get(result).Inc()
}

// CacheLookup counts one look-up in the named in-memory cache.
func (m *Metrics) CacheLookup(cache string, hit bool) {
	result := "miss"
	if hit {
		result = "hit"
	}
	m.cache.get(cacheKey{cache, result}).Inc()
}

// UpstreamRequest counts one request sent to an uplink (a configured name)
// and the time to its answer's headers. kind is one of a fixed set; a status
// that is no HTTP status code (outside 100 to 599) is counted as "other", so
// an uplink cannot invent label values.
func (m *Metrics) UpstreamRequest(uplink, kind, status string, elapsed time.Duration) {
	if code, err := strconv.Atoi(status); err == nil && (code < 100 || code > 599) {
		status = "other"
	}
	m.uplinkRequests.get(uplinkRequestKey{uplink, kind, status}).Inc()
	m.uplinkDurations.get(uplinkKey{uplink, kind}).Update(elapsed.Seconds())
}

// UpstreamBytes counts n bytes read from an uplink's answers of kind.
func (m *Metrics) UpstreamBytes(uplink, kind string, n int64) {
	if n > 0 {
		m.uplinkBytes.get(uplinkKey{uplink, kind}).AddInt64(n)
	}
}

// series finds the series of one family by its label values, creating it in
// the set on first use. Looking up by a comparable key, rather than by the
// series' full name, keeps a request from building a string.
type series[K comparable, M any] struct {
	mu     sync.RWMutex
	byKey  map[K]M
	create func(K) M
}

// get returns the series for key k.
func (s *series[K, M]) get(k K) M {
	s.mu.RLock()
	v, ok := s.byKey[k]
	s.mu.RUnlock()
	if ok {
		return v
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.byKey[k]; ok {
		return v
	}
	if s.byKey == nil {
		s.byKey = make(map[K]M)
	}
	v = s.create(k)
	s.byKey[k] = v
	return v
}

// name writes a series name: the family and its labels (name, value, name,
// value...).
func name(family string, labels ...string) string {
	// A label value's escapes in the text exposition format.
	escape := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	var b strings.Builder
	b.WriteString(family)
	for i := 0; i+1 < len(labels); i += 2 {
		if i == 0 {
			b.WriteByte('{')
		} else {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `%s="%s"`, labels[i], escape.Replace(labels[i+1]))
	}
	if len(labels) > 1 {
		b.WriteByte('}')
	}
	return b.String()
}

// writeRuntime writes the Go runtime's and the process's figures: the
// library's go_* and process_* series, and the garbage collector's two
// settings (gatehouse serve sets both; see docs/operations.md).
func writeRuntime(w io.Writer) {
	vm.WriteProcessMetrics(w)
	vm.WriteFDMetrics(w)
	samples := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}}
	metrics.Read(samples)
	for i, family := range []string{"go_gc_gogc_percent", "go_gc_gomemlimit_bytes"} {
		if samples[i].Value.Kind() == metrics.KindUint64 {
			vm.WriteGaugeUint64(w, family, samples[i].Value.Uint64())
		}
	}
}

// foldMethod keeps the standard HTTP methods and turns anything else into OTHER.
func foldMethod(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "OTHER"
}
