// Package logqueue takes log output off the request path: a Writer keeps
// the lines it is given in a bounded buffer and a goroutine of its own writes
// them to the real destination in batches (every FlushInterval, or sooner
// when a batch's worth has come in, or at once for a line after a quiet
// spell). A Write never waits for the
// destination: when the buffer is full the line is dropped and counted, so a
// slow or stuck log destination costs lines, never requests. Close writes
// everything still buffered before it returns, so a clean shutdown loses
// nothing.
package logqueue

import (
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxBytes bounds the lines waiting to be written: 1 MiB, about
// 5,000 access log lines, a few tenths of a second of the busiest load
// measured on the project's machine. The Writer holds at most twice this
// (the batch being written and the one filling).
const DefaultMaxBytes = 1 << 20

// FlushInterval is how long a line may wait in the buffer before it is
// written, when fewer lines than a batch come in. Lines are written in
// batches, not one by one: waking the writing goroutine for each line would
// cost a write system call and a goroutine switch per request, the very
// cost the queue takes off the request path.
const FlushInterval = 50 * time.Millisecond

// batchBytes is how much buffered output wakes the writing goroutine before
// its next tick: a quarter of the buffer, at most 64 KiB.
func batchBytes(max int) int { return min(max/4, 64<<10) }

// Writer is an io.Writer whose Write copies p into a bounded buffer and
// returns at once. Each Write is kept or dropped whole, so a caller that
// writes one line per call (log/slog's handlers do) never sees a line cut.
// It is safe for concurrent use.
type Writer struct {
	out   io.Writer
	max   int
	batch int // buffered bytes that wake the writing goroutine early

	mu     sync.Mutex
	buf    []byte // lines waiting, in order
	lines  uint64 // how many Writes buf holds
	spare  []byte // the buffer to fill next; nil while the goroutine writes it
	closed bool   // the goroutine has finished: Write goes straight to out
	// flushed is when the goroutine last took the buffer: a line that
	// finds the buffer empty long after that is written at once, so that a
	// quiet server's lines show without waiting for the tick.
	flushed time.Time

	wake    chan struct{} // capacity 1: there is something to write
	stop    chan struct{} // closed by Close
	done    chan struct{} // closed when the goroutine has written everything
	once    sync.Once
	dropped atomic.Uint64 // Writes dropped because the buffer was full
	failed  atomic.Uint64 // Writes lost because out returned an error
}

// New returns a Writer in front of out that buffers up to maxBytes of
// lines (DefaultMaxBytes when maxBytes is not positive), and starts its
// writing goroutine. Call Close to write what remains and stop it.
func New(out io.Writer, maxBytes int) *Writer {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	initial := min(maxBytes, 64<<10)
	w := &Writer{
		out:   out,
		max:   maxBytes,
		batch: batchBytes(maxBytes),
		buf:   make([]byte, 0, initial),
		spare: make([]byte, 0, initial),
		wake:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go w.run()
	return w
}

// Write queues a copy of p and returns len(p). When p does not fit in what
// is left of the buffer it is dropped and counted (see Dropped); the error
// is nil either way, because a caller on the request path has nothing
// better to do with it. After Close, Write writes to the destination itself.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	if w.closed {
		defer w.mu.Unlock()
		return w.out.Write(p)
	}
	if len(w.buf)+len(p) > w.max {
		w.mu.Unlock()
		w.dropped.Add(1)
		return len(p), nil
	}
	// Wake the goroutine when a batch is ready, or when this line comes
	// after a quiet spell; otherwise it waits for the tick with the rest.
	wake := len(w.buf) < w.batch && len(w.buf)+len(p) >= w.batch ||
		len(w.buf) == 0 && time.Since(w.flushed) >= FlushInterval
	w.buf = append(w.buf, p...)
	w.lines++
	w.mu.Unlock()
	if wake {
		select {
		case w.wake <- struct{}{}:
		default: // already woken; the goroutine will take this line with the rest
		}
	}
	return len(p), nil
}

// Dropped is the number of Writes dropped so far because the buffer was full.
func (w *Writer) Dropped() uint64 { return w.dropped.Load() }

// Failed is the number of Writes lost so far because the destination
// returned an error.
func (w *Writer) Failed() uint64 { return w.failed.Load() }

// Close writes every line still buffered, stops the goroutine and returns
// once the destination has had them all. Writes after Close go straight to
// the destination. Close may be called more than once.
func (w *Writer) Close() error {
	w.once.Do(func() { close(w.stop) })
	<-w.done
	return nil
}

func (w *Writer) run() {
	defer close(w.done)
	tick := time.NewTicker(FlushInterval)
	defer tick.Stop()
	for {
		select {
		case <-w.wake:
		case <-tick.C:
		case <-w.stop:
			// Write until the buffer is found empty; the same look that finds
			// it empty marks the Writer closed, so no line slips in between.
			for w.flush(true) {
			}
			return
		}
		w.flush(false)
	}
}

// flush writes the lines buffered so far in one call to out. It reports
// whether there were any; when last is set and there were none, it marks
// the Writer closed.
func (w *Writer) flush(last bool) bool {
	w.mu.Lock()
	if len(w.buf) == 0 {
		if last {
			w.closed = true
		}
		w.mu.Unlock()
		return false
	}
	batch, lines := w.buf, w.lines
	w.buf, w.spare, w.lines = w.spare, nil, 0
	w.flushed = time.Now()
	w.mu.Unlock()

	if _, err := w.out.Write(batch); err != nil {
		w.failed.Add(lines)
	}

	w.mu.Lock()
	w.spare = batch[:0]
	w.mu.Unlock()
	return true
}
