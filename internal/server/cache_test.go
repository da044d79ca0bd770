package server

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/config"
)

// TestPackumentCacheAcrossProcesses opens two servers on one data folder, as
// two processes would: a change through one reaches the other's in-memory
// packuments within the poll interval, and its own at once.
func TestPackumentCacheAcrossProcesses(t *testing.T) {
	a := newTestRegistry(t)
	cfg := config.Default()
	cfg.DataDir = a.dir
	other, err := Open(context.Background(), cfg, NewLogger(io.Discard, "error", false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	b := &testRegistry{t: t, srv: other, url: newHTTPServer(t, other), dir: a.dir}

	alice := a.user("alice")
	if res := a.do("PUT", "/demo", alice, publishBody(t, "demo", "1.0.0")); res.status != 201 {
		t.Fatal(res.status)
	}
	latest := func(tr *testRegistry) any {
		return tr.do("GET", "/demo", "", nil, "Accept", "application/vnd.npm.install-v1+json").json(t)["dist-tags"].(map[string]any)["latest"]
	}
	if got := latest(b); got != "1.0.0" {
		t.Fatalf("the other process reads latest %v", got)
	}
	if res := a.do("PUT", "/demo", alice, publishBody(t, "demo", "1.1.0")); res.status != 201 {
		t.Fatal(res.status)
	}
	if got := latest(a); got != "1.1.0" {
		t.Fatalf("the publishing process still serves latest %v", got)
	}
	deadline := time.Now().Add(2 * time.Second)
	for latest(b) != "1.1.0" {
		if time.Now().After(deadline) {
			t.Fatal("the other process never noticed the publish")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
