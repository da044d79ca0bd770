package logqueue

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe for the writing goroutine and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// gate is a destination that blocks every Write until it is opened, as a
// log pipe nobody reads or a stalled disk does.
type gate struct {
	open    chan struct{}
	entered chan struct{} // one value per Write that reached the gate
	lockedBuffer
}

func newGate() *gate {
	return &gate{open: make(chan struct{}), entered: make(chan struct{}, 1<<16)}
}

func (g *gate) Write(p []byte) (int, error) {
	g.entered <- struct{}{}
	<-g.open
	return g.lockedBuffer.Write(p)
}

// within fails the test if f has not returned after a generous while: a
// detector for a Write that blocks, not a measurement of its speed.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not return: a Write waited for the destination", what)
	}
}

// lineSet splits out into lines and checks that each is one of the lines
// written, whole, and appears once.
func lineSet(t *testing.T, out string) map[string]bool {
	t.Helper()
	seen := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if l == "" {
			continue
		}
		if !strings.HasPrefix(l, "line ") || !strings.HasSuffix(l, " end") {
			t.Fatalf("a line was cut or mixed with another: %q", l)
		}
		if seen[l] {
			t.Fatalf("line written twice: %q", l)
		}
		seen[l] = true
	}
	return seen
}

// TestEveryLineWrittenByClose writes lines from many goroutines into a
// buffer large enough for all of them and checks that after Close the
// destination holds every line, whole and once, each goroutine's in the
// order it wrote them, and that nothing was dropped.
func TestEveryLineWrittenByClose(t *testing.T) {
	tests := []struct {
		name           string
		writers, lines int
	}{
		{"one writer", 1, 1000},
		{"concurrent writers", 8, 2000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := &lockedBuffer{}
			w := New(out, 64<<20)
			var wg sync.WaitGroup
			for g := range tt.writers {
				wg.Go(func() {
					for i := range tt.lines {
						fmt.Fprintf(w, "line %d %06d end\n", g, i)
					}
				})
			}
			wg.Wait()
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			seen := lineSet(t, out.String())
			if got, want := len(seen), tt.writers*tt.lines; got != want {
				t.Errorf("%d lines written, want %d", got, want)
			}
			if w.Dropped() != 0 || w.Failed() != 0 {
				t.Errorf("dropped %d, failed %d; want none", w.Dropped(), w.Failed())
			}
			// Each goroutine's lines keep their order.
			next := make([]int, tt.writers)
			for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				var g, i int
				if _, err := fmt.Sscanf(l, "line %d %d end", &g, &i); err != nil {
					t.Fatalf("parse %q: %v", l, err)
				}
				if i != next[g] {
					t.Fatalf("writer %d: line %d came where %d was due", g, i, next[g])
				}
				next[g]++
			}
		})
	}
}

// TestSlowDestinationNeverBlocks stalls the destination and checks that
// Writes keep returning, that what does not fit in the buffer is dropped
// and counted, and that once the destination moves again, Close delivers
// every line that was kept: kept + dropped = written.
func TestSlowDestinationNeverBlocks(t *testing.T) {
	const max = 4096
	line := func(i int) string { return fmt.Sprintf("line %06d end\n", i) } // 16 bytes
	out := newGate()
	w := New(out, max)

	// The first line reaches the destination and stalls there.
	if _, err := w.Write([]byte(line(0))); err != nil {
		t.Fatal(err)
	}
	<-out.entered

	const n = 10_000 // 160 KB: forty times what the buffer holds
	within(t, "writing to a stalled destination", func() {
		for i := 1; i < n; i++ {
			if k, err := w.Write([]byte(line(i))); k != len(line(i)) || err != nil {
				t.Errorf("Write = %d, %v; want %d, nil", k, err, len(line(i)))
				return
			}
		}
	})
	dropped := w.Dropped()
	if want := uint64(n - 1 - max/16); dropped != want {
		t.Errorf("dropped %d lines while the destination was stalled, want %d (all but a full buffer)", dropped, want)
	}

	close(out.open)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	seen := lineSet(t, out.String())
	if got, want := uint64(len(seen)), uint64(n)-dropped; got != want {
		t.Errorf("%d lines reached the destination, want %d (%d written, %d dropped)", got, want, n, dropped)
	}
	for i := range max / 16 {
		if !seen[strings.TrimSuffix(line(i), "\n")] {
			t.Errorf("line %d, written while there was room, is missing", i)
		}
	}
}

// TestAfterClose checks that a Write after Close reaches the destination at
// once, after everything written before, and that Close can be repeated.
func TestAfterClose(t *testing.T) {
	out := &lockedBuffer{}
	w := New(out, 0)
	fmt.Fprint(w, "line before end\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(w, "line after end\n")
	if got, want := out.String(), "line before end\nline after end\n"; got != want {
		t.Errorf("destination holds %q, want %q", got, want)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

type failing struct{}

func (failing) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// TestFailedWritesCounted checks that lines the destination refuses are
// counted as failed, not dropped, and that Write does not report the error.
func TestFailedWritesCounted(t *testing.T) {
	w := New(failing{}, 0)
	for i := range 3 {
		if _, err := fmt.Fprintf(w, "line %d end\n", i); err != nil {
			t.Errorf("Write returned %v; the request path must not see the destination's errors", err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Failed() != 3 || w.Dropped() != 0 {
		t.Errorf("failed %d, dropped %d; want 3 and 0", w.Failed(), w.Dropped())
	}
}

// BenchmarkWrite measures a Write of one access-log-sized line from many
// goroutines at once into a file, through the queue and directly under a
// lock (what slog's handlers do without the queue: one write system call per
// line, the request waiting for it).
func BenchmarkWrite(b *testing.B) {
	file := func(b *testing.B) *os.File {
		f, err := os.CreateTemp(b.TempDir(), "log")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = f.Close() })
		return f
	}
	line := []byte(`time=2026-12-05T10:00:00.000Z level=INFO msg=request method=GET route=packument path=/bench-0000 status=200 bytes=46694 duration=41.2µs client=127.0.0.1 request_id=0123456789abcdef` + "\n")
	b.Run("queue", func(b *testing.B) {
		w := New(file(b), 0)
		b.SetBytes(int64(len(line)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_, _ = w.Write(line)
			}
		})
		_ = w.Close()
		// The file keeps up or it does not: say which share was dropped.
		b.ReportMetric(float64(w.Dropped())/float64(b.N), "dropped/op")
		b.ReportMetric(float64(uint64(b.N)-w.Dropped())/b.Elapsed().Seconds(), "lines-written/s")
	})
	b.Run("direct", func(b *testing.B) {
		var mu sync.Mutex
		d := file(b)
		b.SetBytes(int64(len(line)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				mu.Lock()
				_, _ = d.Write(line)
				mu.Unlock()
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines-written/s")
	})
}

// TestLinesArriveWithoutClose checks that a line reaches the destination
// without Close, within a tick or so (waited for with a generous hang
// detector), and that a batch's worth of lines is written before the tick.
func TestLinesArriveWithoutClose(t *testing.T) {
	out := &lockedBuffer{}
	w := New(out, 4096) // batches of 1 KiB
	defer w.Close()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s never reached the destination", what)
			}
			time.Sleep(time.Millisecond)
		}
	}
	fmt.Fprint(w, "line one end\n")
	waitFor("a lone line", func() bool { return out.String() == "line one end\n" })
	for i := range 64 { // 16 bytes each: a whole batch
		fmt.Fprintf(w, "line %06d end\n", i)
	}
	waitFor("a batch", func() bool { return strings.Count(out.String(), "\n") == 65 })
}
