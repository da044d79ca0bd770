package blob

import "sync"

// Cache keeps the bytes of small blobs in memory. Blobs are content-addressed,
// so what is kept under a key never goes stale: the cache needs no
// invalidation, only a bound. Past the bound it forgets entries at random
// (Go's map order), which keeps the hot ones likely enough without the
// bookkeeping of an LRU on every hit.
type Cache struct {
	maxBytes, maxItem int

	mu      sync.RWMutex
	entries map[string][]byte
	bytes   int
}

// NewCache returns a cache of at most maxBytes, keeping no blob larger than maxItem.
func NewCache(maxBytes, maxItem int) *Cache {
	return &Cache{maxBytes: maxBytes, maxItem: maxItem, entries: map[string][]byte{}}
}

// Get returns the bytes kept under key. The caller must not modify them.
func (c *Cache) Get(key string) ([]byte, bool) {
	c.mu.RLock()
	b, ok := c.entries[key]
	c.mu.RUnlock()
	return b, ok
}

// Put keeps data under key, unless it is larger than the cache's item bound.
func (c *Cache) Put(key string, data []byte) {
	size := len(data) + len(key)
	if len(data) > c.maxItem || size > c.maxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; ok {
		return
	}
	for k, b := range c.entries {
		if c.bytes+size <= c.maxBytes {
			break
		}
		delete(c.entries, k)
		c.bytes -= len(b) + len(k)
	}
	c.entries[key] = data
	c.bytes += size
}

// Bytes reports how many bytes the cache holds.
func (c *Cache) Bytes() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.bytes
}
