package server

import (
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
	"github.com/gatehouse-registry/gatehouse/internal/uplink"
)

// TestUplinkMetrics: reads of a proxied package count the requests sent
// to the uplink by kind and status, their time, the bytes fetched, and
// the cache's hits and misses.
func TestUplinkMetrics(t *testing.T) {
	up := startUpstream(t)
	up.publish("express", "4.18.2")
	proxy := proxyTo(t, up.url)
	metricsURL := testkit.Serve(t, proxy.srv.metricsHandler())

	var tgzSize int
	for i, path := range []string{"/express", "/express/-/express-4.18.2.tgz", "/express/-/express-4.18.2.tgz", "/express", "/no-such-pkg"} {
		res := proxy.do("GET", path, "", nil)
		if want := map[bool]int{true: 404, false: 200}[i == 4]; res.status != want {
			t.Fatalf("GET %s: %d, want %d", path, res.status, want)
		}
		if i == 1 {
			tgzSize = len(res.body)
		}
	}
	m := testkit.ScrapeUntil(t, metricsURL+"/metrics", 5*time.Second, func(m testkit.Metrics) bool {
		return m.Sum("gatehouse_uplink_requests_total", "kind", "packument", "status", "404") >= 1
	})
	checks := []struct {
		family string
		labels []string
		want   float64
	}{
		{"gatehouse_uplink_requests_total", []string{"uplink", "up", "kind", "packument", "status", "200"}, 1},
		{"gatehouse_uplink_requests_total", []string{"uplink", "up", "kind", "packument", "status", "404"}, 1},
		{"gatehouse_uplink_requests_total", []string{"uplink", "up", "kind", "tarball", "status", "200"}, 1},
		{"gatehouse_uplink_request_duration_seconds", []string{"uplink", "up", "kind", "tarball"}, 1},
		{"gatehouse_uplink_bytes_total", []string{"uplink", "up", "kind", "tarball"}, float64(tgzSize)},
		{"gatehouse_cache_requests_total", []string{"cache", "uplink_tarball", "result", "hit"}, 1},
		{"gatehouse_cache_requests_total", []string{"cache", "uplink_tarball", "result", "miss"}, 1},
	}
	for _, c := range checks {
		if got := m.Sum(c.family, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.family, c.labels, got, c.want)
		}
	}
	if got := m.Sum("gatehouse_uplink_bytes_total", "kind", "packument"); got <= 0 {
		t.Errorf("packument bytes fetched = %v", got)
	}
	if got := m.Sum("gatehouse_cache_requests_total", "cache", "uplink_packument", "result", "miss"); got < 1 {
		t.Errorf("uplink_packument misses = %v", got)
	}
	// The packument is kept in memory from its fetch on (its own change on
	// the feed does not evict it: TestUplinkOwnFetchKept), so the second
	// GET of it above was a hit.
	if got := m.Sum("gatehouse_cache_requests_total", "cache", "uplink_packument", "result", "hit"); got < 1 {
		t.Errorf("uplink_packument hits = %v after two reads", got)
	}
}

// TestUplinkPurgeAcrossNodes: a purge through the database, as `gatehouse
// cache purge` does it from another process, is seen by every node at once
// (the change feed): each drops its copy and fetches the package again,
// though the copy was fresh for an hour.
func TestUplinkPurgeAcrossNodes(t *testing.T) {
	up := startUpstream(t)
	up.publish("left-pad", "1.0.0")
	a := proxyTo(t, up.url, func(s *uplink.Spec, _ *config.Config) { s.MaxAge = time.Hour })
	b := openRegistry(t, configOf(a), quietLogger())
	for _, node := range []*testRegistry{a, b} {
		if v, _ := latestOf(t, node, "left-pad"); v != "1.0.0" {
			t.Fatal(v)
		}
	}
	up.publish("left-pad", "2.0.0")
	for _, node := range []*testRegistry{a, b} {
		if v, _ := latestOf(t, node, "left-pad"); v != "1.0.0" {
			t.Fatalf("before the purge, a node serves %s: its copy is fresh for an hour", v)
		}
	}
	admin, err := OpenStore(t.Context(), configOf(a), quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.PurgeCachedPackage(t.Context(), "left-pad", ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "node a fetching left-pad again", func() bool { v, _ := latestOf(t, a, "left-pad"); return v == "2.0.0" })
	waitFor(t, 5*time.Second, "node b fetching left-pad again", func() bool { v, _ := latestOf(t, b, "left-pad"); return v == "2.0.0" })
}
