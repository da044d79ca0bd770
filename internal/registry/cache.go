package registry

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// docCache keeps packuments in memory between changes, so the hot read
// (npm install's abbreviated packument) costs no database read.
//
// Correctness rests on one generation number: every change to any package
// bumps it after its transaction commits, and an entry is served only when it
// was read under the current generation. A reader that raced a change stored
// its entry under the old generation, so it is never served. Changes made by
// another process (another node) bump the store's "packages" counter in the
// same transaction; the cache looks at that counter at most every pollEvery.
type docCache struct {
	gen atomic.Int64

	mu      sync.RWMutex
	entries map[docKey]docEntry
	bytes   int

	pollMu   sync.Mutex
	lastPoll time.Time
	counter  int64
}

type docKey struct {
	name        string
	abbreviated bool
}

type docEntry struct {
	gen int64
	pkg store.Package
}

// Bounds on what the cache holds; past them it starts again empty.
const (
	cacheMaxEntries = 20_000
	cacheMaxBytes   = 64 << 20
	pollEvery       = 250 * time.Millisecond
)

func newDocCache() *docCache { return &docCache{entries: map[docKey]docEntry{}} }

func (c *docCache) get(k docKey) (store.Package, bool) {
	c.mu.RLock()
	e, ok := c.entries[k]
	c.mu.RUnlock()
	if !ok || e.gen != c.gen.Load() {
		return store.Package{}, false
	}
	return e.pkg, true
}

func (c *docCache) put(k docKey, gen int64, pkg store.Package) {
	size := len(pkg.Packument) + len(pkg.Abbreviated)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= cacheMaxEntries || c.bytes+size > cacheMaxBytes {
		c.entries, c.bytes = map[docKey]docEntry{}, 0
	}
	if old, ok := c.entries[k]; ok {
		c.bytes -= len(old.pkg.Packument) + len(old.pkg.Abbreviated)
	}
	c.entries[k] = docEntry{gen: gen, pkg: pkg}
	c.bytes += size
}

// changed makes every entry stale; call it after a change commits.
func (c *docCache) changed() { c.gen.Add(1) }

// poll notices changes made by other processes through the store's counter.
func (c *docCache) poll(ctx context.Context, q store.Queries, now time.Time) {
	if !c.pollMu.TryLock() {
		return
	}
	defer c.pollMu.Unlock()
	if now.Sub(c.lastPoll) < pollEvery {
		return
	}
	c.lastPoll = now
	n, err := q.Counter(ctx, "packages")
	if err != nil || n != c.counter {
		// Without the counter, trust nothing kept.
		c.counter = n
		c.changed()
	}
}
