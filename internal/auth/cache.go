package auth

import (
	"encoding/binary"
	"sync/atomic"
)

// tokenCache holds at most limit tokens by hash, and chooses which to drop
// for a registry whose tokens are many and spread: a few used all day
// (CI machines, developers), and many used once in a while (a fresh
// session, a job's token), which must not push the others out.
//
// It keeps two FIFO queues (the policy of S3-FIFO, Yang et al., SOSP 2023):
//
//   - A token read from the store enters the small queue (a tenth of the
//     cache). Leaving it, a token used again meanwhile moves to the main
//     queue; one that was not is dropped, and its hash is remembered
//     (8 bytes of it) in a ghost list of at most limit hashes.
//   - A token read again while the ghost list remembers it enters the main
//     queue at once.
//   - Leaving the main queue, a token used since it entered it (or since
//     it last went round) goes round again, with one use less to its
//     credit (at most maxUses); one that was not is dropped.
//
// So a stream of tokens used once each passes through the small queue
// only, and a token in use stays, however many others come by. A hit costs
// an atomic add and no lock but the reader's; every operation is O(1)
// amortised. Unknown and revoked tokens are never added (see load), so
// they cost no entry at all.
//
// The cache is not safe for concurrent use: its owner (Authenticator)
// calls get under a read lock and the rest under the write lock.
type tokenCache struct {
	limit, smallLimit int
	m                 map[[32]byte]*cacheEntry // never replaced: Authenticator.cache is it too
	small, main       cacheQueue
	ghost             ghostList
}

// maxUses caps the uses a cached token keeps to its credit.
const maxUses = 3

type cacheEntry struct {
	key    [32]byte
	tok    *cachedToken
	uses   atomic.Int32 // uses since it entered its queue or last went round, at most maxUses
	inMain bool

	prev, next *cacheEntry // towards the queue's newest, towards its oldest
}

// newTokenCache returns an empty cache of at most limit tokens (at least 1).
func newTokenCache(limit int) *tokenCache {
	limit = max(limit, 1)
	return &tokenCache{limit: limit, smallLimit: max(limit/10, 1), m: map[[32]byte]*cacheEntry{},
		ghost: ghostList{limit: limit, seen: map[uint64]uint64{}}}
}

// len is the number of tokens cached.
func (c *tokenCache) len() int { return len(c.m) }

// get returns the token cached under key, or nil, and counts the use.
// It changes no map or queue: concurrent gets are safe.
func (c *tokenCache) get(key [32]byte) *cachedToken {
	e := c.m[key]
	if e == nil {
		return nil
	}
	if e.uses.Load() < maxUses {
		// Two gets racing may both add: the cap is a credit, not a count.
		e.uses.Add(1)
	}
	return e.tok
}

// add caches tok under key, dropping another token if the cache is full.
func (c *tokenCache) add(key [32]byte, tok *cachedToken) {
	if e := c.m[key]; e != nil {
		e.tok = tok
		return
	}
	e := &cacheEntry{key: key, tok: tok}
	if c.ghost.take(ghostKey(key)) {
		e.inMain = true
		c.main.pushNewest(e)
	} else {
		c.small.pushNewest(e)
	}
	c.m[key] = e
	for len(c.m) > c.limit {
		c.evict()
	}
}

// remove drops the token cached under key, if any.
func (c *tokenCache) remove(key [32]byte) {
	e := c.m[key]
	if e == nil {
		return
	}
	if e.inMain {
		c.main.remove(e)
	} else {
		c.small.remove(e)
	}
	delete(c.m, key)
}

// evict drops one token.
func (c *tokenCache) evict() {
	for {
		if c.small.n > c.smallLimit || c.main.n == 0 {
			e := c.small.oldest
			c.small.remove(e)
			if e.uses.Load() > 0 {
				e.uses.Store(0)
				e.inMain = true
				c.main.pushNewest(e)
				continue
			}
			c.ghost.add(ghostKey(e.key))
			delete(c.m, e.key)
			return
		}
		e := c.main.oldest
		c.main.remove(e)
		if u := e.uses.Load(); u > 0 {
			e.uses.Store(min(u, maxUses) - 1)
			c.main.pushNewest(e)
			continue
		}
		delete(c.m, e.key)
		return
	}
}

// cacheQueue is a FIFO of entries, linked through them.
type cacheQueue struct {
	newest, oldest *cacheEntry
	n              int
}

func (q *cacheQueue) pushNewest(e *cacheEntry) {
	e.prev, e.next = nil, q.newest
	if q.newest != nil {
		q.newest.prev = e
	} else {
		q.oldest = e
	}
	q.newest = e
	q.n++
}

func (q *cacheQueue) remove(e *cacheEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		q.newest = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		q.oldest = e.prev
	}
	e.prev, e.next = nil, nil
	q.n--
}

// ghostKey is the part of a token's hash the ghost list remembers: 8 bytes
// of a SHA-256. Two tokens sharing it only make one of them enter the main
// queue a little early.
func ghostKey(h [32]byte) uint64 { return binary.LittleEndian.Uint64(h[:8]) }

// ghostList remembers the last limit keys added, in a ring.
type ghostList struct {
	limit int
	ring  []uint64          // grows to limit, then wraps
	next  uint64            // how many keys were added so far
	seen  map[uint64]uint64 // key → the number of its newest add, while in the ring
}

func (g *ghostList) add(k uint64) {
	slot := int(g.next % uint64(g.limit))
	if slot < len(g.ring) {
		// The ring is full: its oldest key leaves, unless added again since.
		old := g.ring[slot]
		if n, ok := g.seen[old]; ok && n == g.next-uint64(g.limit) {
			delete(g.seen, old)
		}
		g.ring[slot] = k
	} else {
		g.ring = append(g.ring, k)
	}
	g.seen[k] = g.next
	g.next++
}

// take reports whether k is remembered, and forgets it.
func (g *ghostList) take(k uint64) bool {
	if _, ok := g.seen[k]; !ok {
		return false
	}
	delete(g.seen, k)
	return true
}

func (g *ghostList) len() int { return len(g.seen) }
