package testkit

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics are the metric families of one scrape, by name.
type Metrics map[string]*dto.MetricFamily

// Scrape reads and parses the Prometheus text exposition served at url,
// failing t when it cannot or the answer is not 200.
func Scrape(t testing.TB, url string) Metrics {
	t.Helper()
	res := Do(t, http.MethodGet, url, "", nil)
	if res.Status != http.StatusOK {
		t.Fatalf("scrape %s: %s", url, res)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(res.Body))
	if err != nil {
		t.Fatalf("parse the metrics of %s: %v", url, err)
	}
	return families
}

// ScrapeUntil scrapes url until done is true of the scrape or within has
// passed, and returns the last scrape; the test's own checks then say what
// is missing. (A server counts a request once its handler returns, which
// can be just after the client has read the answer.)
func ScrapeUntil(t testing.TB, url string, within time.Duration, done func(Metrics) bool) Metrics {
	t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(scrapePoll) {
		m := Scrape(t, url)
		if done(m) || time.Now().After(deadline) {
			return m
		}
	}
}

// scrapePoll is how often ScrapeUntil scrapes.
const scrapePoll = 20 * time.Millisecond

// Sum adds up the samples of family whose labels include every pair of
// labels (name, value, name, value...): counters' and gauges' values,
// histograms' counts. A family not scraped sums to 0.
func (m Metrics) Sum(family string, labels ...string) float64 {
	f, ok := m[family]
	if !ok {
		return 0
	}
	var sum float64
	for _, s := range f.GetMetric() {
		if !hasLabels(s, labels) {
			continue
		}
		switch {
		case s.Counter != nil:
			sum += s.GetCounter().GetValue()
		case s.Gauge != nil:
			sum += s.GetGauge().GetValue()
		case s.Histogram != nil:
			sum += float64(s.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

// hasLabels reports whether sample s carries every name, value pair of labels.
func hasLabels(s *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, l := range s.GetLabel() {
			found = found || l.GetName() == labels[i] && l.GetValue() == labels[i+1]
		}
		if !found {
			return false
		}
	}
	return true
}
