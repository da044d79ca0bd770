package registry

import (
	"sync"
	"sync/atomic"

	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// docCache keeps packuments in memory between changes, so the hot read
// (npm install's abbreviated packument) costs no database read.
//
// Correctness rests on one generation number: every change to any package
// bumps it after its transaction commits, and an entry is served only when it
// was read under the current generation. A reader that raced a change stored
// its entry under the old generation, so it is never served. Changes made by
// another process (another node) reach it through the store's change feed
// (see follow).
type docCache struct {
	gen atomic.Int64

	mu      sync.RWMutex
	entries map[docKey]docEntry
	bytes   int
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

// follow makes every entry stale when another process changes a package,
// or when changes may have been missed.
func (c *docCache) follow(changes store.Changes) {
	changes.Subscribe(func(ch store.Change) {
		if ch.Kind == store.PackageChanged || ch.Kind == store.AnyChange {
			c.changed()
		}
	})
}
