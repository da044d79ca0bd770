package server

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/logqueue"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

// stallable is a log destination that a test can stall: while stall is
// held, every Write waits.
type stallable struct {
	stall sync.Mutex
	mu    sync.Mutex
	b     bytes.Buffer
}

func (s *stallable) Write(p []byte) (int, error) {
	s.stall.Lock()
	defer s.stall.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *stallable) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAccessLogNeverBlocksRequests serves requests through the whole
// handler while the log's destination is stalled: every request is
// answered, the lines that did not fit in the log's buffer are dropped and
// counted in gatehouse_log_lines_dropped_total, and once the destination
// moves again every line that was kept is written whole: kept + dropped =
// requests.
func TestAccessLogNeverBlocksRequests(t *testing.T) {
	dest := &stallable{}
	logs := logqueue.New(dest, 16<<10) // about 100 request lines
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	tr := openRegistry(t, cfg, NewLogger(logs, "info", false))
	tr.srv.CountLogDrops(logs.Dropped, logs.Failed)
	metricsURL := testkit.Serve(t, tr.srv.metricsHandler())
	before := logs.Dropped()

	dest.stall.Lock() // the log's destination stops here
	const n = 600
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for k := range 4 {
			wg.Go(func() {
				for i := k; i < n; i += 4 {
					res := testkit.Do(t, http.MethodGet, fmt.Sprintf("%s/stalled-log-%03d", tr.url, i), "", nil)
					if res.Status != http.StatusNotFound {
						t.Errorf("request %d: status %d, want 404", i, res.Status)
					}
				}
			})
		}
		wg.Wait()
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Minute): // a hang detector, not a measurement
		dest.stall.Unlock()
		t.Fatal("requests waited for the stalled log")
	}
	dropped := logs.Dropped() - before
	if dropped == 0 {
		t.Fatalf("no line dropped: %d request lines fit in a 16 KiB buffer?", n)
	}
	m := testkit.Scrape(t, metricsURL+"/metrics")
	if got := m.Sum("gatehouse_log_lines_dropped_total"); got != float64(logs.Dropped()) {
		t.Errorf("gatehouse_log_lines_dropped_total = %v, want %d", got, logs.Dropped())
	}

	dest.stall.Unlock()
	if err := logs.Close(); err != nil {
		t.Fatal(err)
	}
	kept := 0
	for _, l := range strings.Split(dest.String(), "\n") {
		if !strings.Contains(l, "msg=request") {
			continue
		}
		if !strings.Contains(l, "path=/stalled-log-") || !strings.Contains(l, "status=404") || !strings.Contains(l, "request_id=") {
			t.Errorf("a request line is not whole: %q", l)
		}
		kept++
	}
	if uint64(kept)+dropped != n {
		t.Errorf("%d request lines written and %d dropped; want them to add up to the %d requests", kept, dropped, n)
	}
	if m := testkit.Scrape(t, metricsURL+"/metrics"); m.Sum("gatehouse_log_lines_failed_total") != 0 {
		t.Errorf("gatehouse_log_lines_failed_total = %v, want 0", m.Sum("gatehouse_log_lines_failed_total"))
	}
}
