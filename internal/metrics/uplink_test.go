package metrics

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestUplinkCounts(t *testing.T) {
	m := New()
	m.UpstreamRequest("npmjs", "packument", "200", 20*time.Millisecond)
	m.UpstreamRequest("npmjs", "packument", "304", 2*time.Millisecond)
	m.UpstreamRequest("npmjs", "packument", "200", 3*time.Millisecond)
	m.UpstreamRequest("npmjs", "tarball", "timeout", 30*time.Second)
	m.UpstreamRequest("corp", "tarball", "999", time.Millisecond) // not an HTTP status
	m.UpstreamBytes("npmjs", "tarball", 1<<20)
	m.UpstreamBytes("npmjs", "tarball", 5)
	m.UpstreamBytes("npmjs", "packument", 0)

	e := scrape(t, m)
	tests := []struct {
		name      string
		got, want float64
	}{
		{"packument 200", e.value("gatehouse_uplink_requests_total", "kind", "packument", "status", "200", "uplink", "npmjs"), 2},
		{"packument 304", e.value("gatehouse_uplink_requests_total", "kind", "packument", "status", "304", "uplink", "npmjs"), 1},
		{"tarball timeout", e.value("gatehouse_uplink_requests_total", "kind", "tarball", "status", "timeout", "uplink", "npmjs"), 1},
		{"a status out of range is other", e.value("gatehouse_uplink_requests_total", "kind", "tarball", "status", "other", "uplink", "corp"), 1},
		{"tarball bytes", e.value("gatehouse_uplink_bytes_total", "kind", "tarball", "uplink", "npmjs"), 1<<20 + 5},
		{"no bytes, no series", e.count("gatehouse_uplink_bytes_total"), 1},
		{"duration series", e.count("gatehouse_uplink_request_duration_seconds"), 3},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	for _, want := range []string{
		`gatehouse_uplink_request_duration_seconds_count{kind="packument",uplink="npmjs"} 3`,
		`gatehouse_uplink_request_duration_seconds_bucket{kind="packument",uplink="npmjs",le="0.0025"} 1`,
		"# TYPE gatehouse_uplink_request_duration_seconds histogram",
	} {
		if !strings.Contains(e.body, want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
}

// TestFamiliesDocumented: docs/operations.md's table lists every metric
// family gatehouse exposes.
func TestFamiliesDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if !strings.Contains(string(doc), "| `"+f+"` |") {
			t.Errorf("docs/operations.md's table of metrics does not list %s", f)
		}
	}
}
