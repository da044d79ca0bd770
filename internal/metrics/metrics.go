// Package metrics counts what gatehouse does, in Prometheus' terms: HTTP
// requests by route and status, token authentications by result, publishes
// by result and cache look-ups, beside the Go runtime's and the process's own
// figures. Each Metrics owns its registry; nothing is registered globally, so
// two servers in one process (tests) count apart.
//
// Every label value comes from a small fixed set chosen by the code: a route
// name, an HTTP method, a status code, a result word. Nothing from the
// request path (package names), and never a token, becomes a label.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds gatehouse's counters and the registry that exposes them.
type Metrics struct {
	registry        *prometheus.Registry
	requests        *prometheus.CounterVec
	durations       *prometheus.HistogramVec
	authentications *prometheus.CounterVec
	publishes       *prometheus.CounterVec
	cache           *prometheus.CounterVec
}

// New returns a fresh set of metrics in a registry of its own, with the Go
// runtime and process collectors registered.
func New() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_http_requests_total",
			Help: "HTTP requests answered, by route name, method and status code.",
		}, []string{"route", "method", "code"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gatehouse_http_request_duration_seconds",
			Help: "Time from receiving a request to finishing its answer, by route name and method.",
			// From a packument served from memory (well under a millisecond)
			// to a large publish (tens of seconds).
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method"}),
		authentications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_token_authentications_total",
			Help: "Bearer token checks, by result (ok, bad_checksum, unknown, revoked, expired, legacy_disabled, ip_denied, error).",
		}, []string{"result"}),
		publishes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_publishes_total",
			Help: "Package version publishes, by result (ok, or why it was refused).",
		}, []string{"result"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_cache_requests_total",
			Help: "In-memory cache look-ups, by cache (packument, tarball, token) and result (hit, miss).",
		}, []string{"cache", "result"}),
	}
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.durations, m.authentications, m.publishes, m.cache,
	)
	return m
}

// Handler serves the metrics in Prometheus' text exposition format (or
// OpenMetrics, when the scraper asks for it).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry, EnableOpenMetrics: true})
}

// Gatherer gives read access to the registry, for tests and tools.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.registry }

// Request counts one answered HTTP request. route must come from a fixed set
// of names; method is folded to the standard methods (anything else is
// OTHER), so a client cannot invent label values.
func (m *Metrics) Request(route, method string, code int, elapsed time.Duration) {
	method = foldMethod(method)
	m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.durations.WithLabelValues(route, method).Observe(elapsed.Seconds())
}

// TokenAuthentication counts one bearer token check and its result.
func (m *Metrics) TokenAuthentication(result string) {
	m.authentications.WithLabelValues(result).Inc()
}

// Publish counts one publish attempt and its result.
func (m *Metrics) Publish(result string) {
	m.publishes.WithLabelValues(result).Inc()
}

// CacheLookup counts one look-up in the named in-memory cache.
func (m *Metrics) CacheLookup(cache string, hit bool) {
	result := "miss"
	if hit {
		result = "hit"
	}
	m.cache.WithLabelValues(cache, result).Inc()
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
