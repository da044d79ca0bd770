package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestAccessLogStalledAndStopped runs the binary with its standard error on
// a pipe that nobody reads while requests are served: the pipe fills after
// 64 KiB, so the log's writer stalls, and the requests, whose log lines
// together are several times that, must all be answered anyway (the access
// log is off the request path). Then it stops the server with SIGTERM and
// only then reads the pipe: the server must exit 0 and the log must hold
// the line of every request answered before the stop (a clean stop writes
// every buffered line).
func TestAccessLogStalledAndStopped(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("e2e: skipped with -short (starts the gatehouse binary)")
	}
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command(gatehouseBin, "serve", "--listen", addr, "--data", t.TempDir())
	cmd.Env = gatehouseEnv()
	cmd.Stdout = w
	cmd.Stderr = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close() // the child holds the writing end now
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			_ = cmd.Process.Kill()
			go func() { _, _ = io.Copy(io.Discard, r) }()
			<-exited
		}
	}()

	base := "http://" + addr
	client := &http.Client{Timeout: 30 * time.Second}
	deadline := time.Now().Add(readyTimeout)
	for {
		resp, err := client.Get(base + "/-/ping")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("gatehouse did not answer /-/ping within %v", readyTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// 3,000 requests: about 600 KB of access log lines, nine times what the
	// pipe holds and well within the default 1 MiB log buffer. Each asks
	// for a package of its own, so each line can be found.
	const n, workers = 3000, 8
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a hang detector
	defer cancel()
	for k := range workers {
		wg.Go(func() {
			for i := k; i < n; i += workers {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/e2e-accesslog-%04d", base, i), nil)
				resp, err := client.Do(req)
				if err != nil {
					errs <- fmt.Errorf("request %d while the log was stalled: %w", i, err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusNotFound {
					errs <- fmt.Errorf("request %d: status %d, want 404", i, resp.StatusCode)
					return
				}
				ids[i] = resp.Header.Get("X-Request-Id")
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// A server that did not write its buffered lines on the way out would
	// exit now, with most of them lost; one that does waits, blocked on the
	// full pipe, until the log is read. Give the first kind time to exit
	// before reading (this is not a measurement: a correct server passes
	// however long it takes).
	var exitErr error
	exitedEarly := false
	select {
	case exitErr = <-exited:
		exitedEarly = true
	case <-time.After(5 * time.Second):
	}
	out, err := io.ReadAll(r) // only now is the log read
	if err != nil {
		t.Fatal(err)
	}
	stopped = true
	if !exitedEarly {
		exitErr = <-exited
	}
	if err := exitErr; err != nil {
		t.Fatalf("gatehouse did not exit cleanly after SIGTERM: %v\n%s", err, tail(string(out), 2000))
	}
	log := string(out)
	lines := map[string]string{} // request id → its line
	for _, l := range strings.Split(log, "\n") {
		if i := strings.Index(l, "request_id="); i >= 0 && strings.Contains(l, "msg=request") {
			lines[strings.Fields(l[i+len("request_id="):])[0]] = l
		}
	}
	missing := 0
	for i, id := range ids {
		l, ok := lines[id]
		if !ok || !strings.Contains(l, fmt.Sprintf("path=/e2e-accesslog-%04d ", i)) || !strings.Contains(l, "status=404") {
			if missing < 5 {
				t.Errorf("request %d (id %s): no whole access log line after the clean stop", i, id)
			}
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d access log lines lost by a clean stop (log: %d bytes)", missing, n, len(log))
	}
	if !strings.Contains(log, "stopped cleanly") {
		t.Errorf("the log lacks the last line, \"stopped cleanly\":\n%s", tail(log, 2000))
	}
}
