package server

import (
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

// TestPublishKeepsOtherPackagesCached: a publish of one package makes its
// own cached documents stale (the next read is a miss and shows the new
// version) and leaves every other package's cached (the next read is a
// hit): a busy registry's publishes do not empty the cache.
func TestPublishKeepsOtherPackagesCached(t *testing.T) {
	tr := newTestRegistry(t)
	metricsURL := testkit.Serve(t, tr.srv.metricsHandler())
	alice := tr.user("alice")
	abbr := []string{"Accept", "application/vnd.npm.install-v1+json"}
	for _, name := range []string{"steady", "changing"} {
		if res := tr.do("PUT", "/"+name, alice, publishBody(t, name, "1.0.0")); res.status != 201 {
			t.Fatalf("publish %s: %d %s", name, res.status, res.body)
		}
		if res := tr.do("GET", "/"+name, alice, nil, abbr...); res.status != 200 {
			t.Fatalf("read %s: %d", name, res.status)
		}
	}
	counts := func() (hits, misses float64) {
		m := testkit.Scrape(t, metricsURL+"/metrics")
		return m.Sum("gatehouse_cache_requests_total", "cache", "packument", "result", "hit"),
			m.Sum("gatehouse_cache_requests_total", "cache", "packument", "result", "miss")
	}
	if res := tr.do("PUT", "/changing", alice, publishBody(t, "changing", "1.1.0")); res.status != 201 {
		t.Fatalf("publish changing@1.1.0: %d %s", res.status, res.body)
	}

	h0, m0 := counts()
	if res := tr.do("GET", "/steady", alice, nil, abbr...); res.status != 200 {
		t.Fatalf("read steady: %d", res.status)
	}
	if h1, m1 := counts(); h1 != h0+1 || m1 != m0 {
		t.Fatalf("reading the package not published to: %v hits and %v misses more, want 1 and 0", h1-h0, m1-m0)
	}
	res := tr.do("GET", "/changing", alice, nil, abbr...)
	if got := res.json(t)["dist-tags"].(map[string]any)["latest"]; got != "1.1.0" {
		t.Fatalf("the package published to serves latest %v, want 1.1.0", got)
	}
	if h2, m2 := counts(); m2 != m0+1 || h2 != h0+1 {
		t.Fatalf("reading the package published to: %v misses more, want 1 (its entry stale)", m2-m0)
	}
}
