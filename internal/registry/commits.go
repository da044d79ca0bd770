package registry

import (
	"context"
	"sync"

	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// commits groups the small writes of requests that happen at once (a
// proxied packument's document, a proxied tarball's record) into one
// transaction: while one commit runs, the writes that arrive queue up,
// and the next commit takes them all. A cold npm install through a proxy
// asks for many packages at once, and each commit costs a disk flush, so
// a package costs less than a commit of its own for each write. Every
// caller still returns only once its write has committed; a batch that
// fails is run again one write at a time, so one write's error is its
// own caller's alone.
type commits struct {
	// ctx bounds every transaction (the proxy's: its writes outlive the
	// request that started them).
	ctx context.Context
	st  *store.Store
	mu  sync.Mutex
	// queue is what waits for the next commit; running tells whether a
	// goroutine is committing (it takes the queue when its commit ends).
	queue   []*write
	running bool
	// batches counts the transactions committed or tried, for tests.
	batches int
}

// write is one caller's write and where its outcome goes.
type write struct {
	fn   func(q store.Queries) error
	done chan error
}

func newCommits(ctx context.Context, st *store.Store) *commits { return &commits{ctx: ctx, st: st} }

// do runs fn in a transaction shared with the writes queued beside it,
// and returns once that transaction has committed (nil) or with fn's own
// error (fn run alone, when the batch failed).
func (c *commits) do(fn func(q store.Queries) error) error {
	w := &write{fn: fn, done: make(chan error, 1)}
	c.mu.Lock()
	c.queue = append(c.queue, w)
	if !c.running {
		c.running = true
		go c.run()
	}
	c.mu.Unlock()
	return <-w.done
}

// run commits the queue, batch after batch, until it is empty.
func (c *commits) run() {
	for {
		c.mu.Lock()
		batch := c.queue
		c.queue = nil
		if len(batch) == 0 {
			c.running = false
			c.mu.Unlock()
			return
		}
		c.batches++
		c.mu.Unlock()
		err := c.st.InTx(c.ctx, func(q store.Queries) error {
			for _, w := range batch {
				if err := w.fn(q); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil || len(batch) == 1 {
			for _, w := range batch {
				w.done <- err
			}
			continue
		}
		for _, w := range batch {
			w.done <- c.st.InTx(c.ctx, w.fn)
		}
	}
}
