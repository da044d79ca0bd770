package auth

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/gatehouse-registry/gatehouse/internal/token"
)

// key is the i-th test key.
func key(i int) [32]byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	return sha256.Sum256(b[:])
}

// cached lists which of keys 0..n-1 c holds.
func cached(c *tokenCache, n int) []int {
	var out []int
	for i := range n {
		if _, ok := c.m[key(i)]; ok {
			out = append(out, i)
		}
	}
	return out
}

// checkQueues checks the cache's bookkeeping: every entry in exactly the
// queue it says, the counts right, within the bound.
func checkQueues(t *testing.T, c *tokenCache) {
	t.Helper()
	seen := map[*cacheEntry]bool{}
	for _, q := range []struct {
		q    *cacheQueue
		main bool
	}{{&c.small, false}, {&c.main, true}} {
		n := 0
		var prev *cacheEntry
		for e := q.q.newest; e != nil; e = e.next {
			if e.prev != prev || e.inMain != q.main || seen[e] || c.m[e.key] != e {
				t.Fatalf("queue (main %v) broken at entry %d", q.main, n)
			}
			seen[e], prev, n = true, e, n+1
		}
		if prev != q.q.oldest || n != q.q.n {
			t.Fatalf("queue (main %v): %d linked, n = %d", q.main, n, q.q.n)
		}
	}
	if len(seen) != len(c.m) || len(c.m) > c.limit {
		t.Fatalf("%d queued, %d in the map, limit %d", len(seen), len(c.m), c.limit)
	}
	if c.ghost.len() > c.ghost.limit || len(c.ghost.ring) > c.ghost.limit {
		t.Fatalf("ghost list holds %d keys in a ring of %d, limit %d", c.ghost.len(), len(c.ghost.ring), c.ghost.limit)
	}
}

func TestTokenCacheEvictionOrder(t *testing.T) {
	tok := &cachedToken{}
	tests := []struct {
		name  string
		limit int
		run   func(c *tokenCache)
		want  []int // keys cached after run, of 0..99
	}{
		{
			// Nothing used twice: first in, first out.
			name: "tokens used once leave in the order they came", limit: 10,
			run: func(c *tokenCache) {
				for i := range 15 {
					c.add(key(i), tok)
				}
			},
			want: []int{5, 6, 7, 8, 9, 10, 11, 12, 13, 14},
		},
		{
			// 0 and 1 used again while new: they move to the main queue
			// and outlive a stream of tokens used once.
			name: "a token used again stays while a stream passes", limit: 10,
			run: func(c *tokenCache) {
				for i := range 10 {
					c.add(key(i), tok)
				}
				c.get(key(0))
				c.get(key(1))
				for i := 10; i < 100; i++ {
					c.add(key(i), tok)
				}
			},
			want: []int{0, 1, 92, 93, 94, 95, 96, 97, 98, 99},
		},
		{
			// In the main queue, a token not used since it entered goes
			// first; one used goes round and stays.
			name: "the main queue keeps the one used since", limit: 10,
			run: func(c *tokenCache) {
				for i := range 10 {
					c.add(key(i), tok)
				}
				for i := range 9 {
					c.get(key(i)) // 0..8 to the main queue as they leave the small one
				}
				for i := 10; i < 19; i++ {
					c.add(key(i), tok)
				}
				// Now 0..8 are in the main queue (uses back to 0) and 9 is
				// gone. 8 is used again; new tokens push the main queue.
				c.get(key(8))
				for i := 19; i < 30; i++ {
					c.add(key(i), tok)
					c.get(key(i))
				}
			},
			want: []int{8, 21, 22, 23, 24, 25, 26, 27, 28, 29},
		},
		{
			// A token dropped unused and read again soon after (the ghost
			// list remembers it) enters the main queue at once.
			name: "a token back soon after it was dropped goes to the main queue", limit: 10,
			run: func(c *tokenCache) {
				for i := range 11 {
					c.add(key(i), tok) // 0 dropped, remembered
				}
				c.add(key(0), tok) // back: main queue; 1 dropped
				for i := 11; i < 40; i++ {
					c.add(key(i), tok)
				}
			},
			want: []int{0, 31, 32, 33, 34, 35, 36, 37, 38, 39},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTokenCache(tt.limit)
			tt.run(c)
			checkQueues(t, c)
			if got := cached(c, 100); !slices.Equal(got, tt.want) {
				t.Errorf("cached %v, want %v", got, tt.want)
			}
		})
	}
}

// The cache holds at most its limit whatever comes, its ghost list too;
// remove takes a token out of whichever queue holds it.
func TestTokenCacheBound(t *testing.T) {
	c := newTokenCache(100)
	tok := &cachedToken{}
	for i := range 10_000 {
		c.add(key(i), tok)
		if i%3 == 0 {
			c.get(key(i))
		}
		if i%7 == 0 {
			c.get(key(i / 2))
		}
		if i%11 == 0 {
			c.remove(key(i - 5))
		}
		if c.len() > 100 {
			t.Fatalf("%d tokens cached after %d adds, limit 100", c.len(), i+1)
		}
	}
	checkQueues(t, c)
	for i := range 10_000 {
		c.remove(key(i))
	}
	checkQueues(t, c)
	if c.len() != 0 || c.small.n != 0 || c.main.n != 0 {
		t.Fatalf("after removing all: %d cached, queues %d and %d", c.len(), c.small.n, c.main.n)
	}
	// Adding a token again replaces it, in place.
	other := &cachedToken{expiresAt: 1}
	c.add(key(1), tok)
	c.add(key(1), other)
	if c.len() != 1 || c.get(key(1)) != other {
		t.Fatal("adding a cached token again did not replace it")
	}
}

// The attacker's view: a flood of tokens not in the store (well formed, so
// each is looked up) neither evicts the tokens in use nor grows the cache;
// a flood of real tokens each used once (a credential-stuffing run with
// leaked tokens, or a burst of CI jobs) evicts only its own kind, not the
// tokens in use.
func TestTokenFloodsKeepTheWarmCache(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const limit = 200
	f.authn.mu.Lock()
	f.authn.setCache(newTokenCache(limit))
	f.authn.mu.Unlock()
	var warm []string
	for range 50 {
		warm = append(warm, f.issue(t, store.Token{Kind: "read-only"}))
	}
	use := func(raw string) {
		t.Helper()
		if _, err := f.authn.Bearer(ctx, raw, loopback); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		for _, raw := range warm {
			use(raw)
		}
	}
	cacheLen := func() int {
		f.authn.mu.RLock()
		defer f.authn.mu.RUnlock()
		return f.authn.tokens.len()
	}
	allWarmCached := func(when string) {
		t.Helper()
		f.heard.lookups = nil
		for _, raw := range warm {
			use(raw)
		}
		for i, l := range f.heard.lookups {
			if l != "token hit" {
				t.Fatalf("%s: warm token %d was not cached (%s)", when, i, l)
			}
		}
	}
	allWarmCached("before the floods")
	before := cacheLen()

	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	for range 20 * limit {
		raw, err := f.format.Generate()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.authn.Bearer(ctx, raw, loopback); err == nil {
			t.Fatal("an unknown token was accepted")
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	if n := cacheLen(); n != before {
		t.Errorf("%d unknown tokens changed the cache from %d to %d tokens", 20*limit, before, n)
	}
	f.authn.mu.RLock()
	ghosts := f.authn.tokens.ghost.len()
	f.authn.mu.RUnlock()
	if ghosts != 0 {
		t.Errorf("unknown tokens left %d ghost entries", ghosts)
	}
	if grown := int64(m1.HeapAlloc) - int64(m0.HeapAlloc); grown > 1<<20 {
		t.Errorf("the heap grew by %d bytes over %d unknown tokens", grown, 20*limit)
	}
	allWarmCached("after a flood of unknown tokens")

	// Real tokens, each used once: five times the cache's size.
	for range 5 * limit {
		use(f.issue(t, store.Token{Kind: "read-only"}))
	}
	if n := cacheLen(); n > limit {
		t.Errorf("%d tokens cached, limit %d", n, limit)
	}
	allWarmCached("after a flood of tokens used once")
}

// Many requests at once, on a cache far smaller than the tokens they use,
// while tokens are revoked and the cache emptied: for -race, and the bound.
func TestTokenCacheConcurrent(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.authn.obs = silentObserver{} // the fixture's recorder is for one goroutine
	f.authn.mu.Lock()
	f.authn.setCache(newTokenCache(20))
	f.authn.mu.Unlock()
	var raws []string
	for range 60 {
		raws = append(raws, f.issue(t, store.Token{Kind: "read-only"}))
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				raw := raws[(i*7+g*13)%len(raws)]
				if _, err := f.authn.Bearer(ctx, raw, netip.AddrFrom4([4]byte{10, 0, byte(g), byte(i)})); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 100 {
			h := token.Hash(raws[i%len(raws)])
			f.authn.Forget(h[:])
			if i%25 == 0 {
				f.authn.ForgetAll()
			}
		}
	})
	wg.Wait()
	f.authn.mu.RLock()
	defer f.authn.mu.RUnlock()
	checkQueues(t, f.authn.tokens)
	if n := f.authn.tokens.len(); n > 20 {
		t.Fatalf("%d tokens cached, limit 20", n)
	}
	if len(f.authn.cache) != f.authn.tokens.len() {
		t.Fatalf("the index holds %d, the cache %d", len(f.authn.cache), f.authn.tokens.len())
	}
}

func TestGhostList(t *testing.T) {
	g := ghostList{limit: 3, seen: map[uint64]uint64{}}
	for _, k := range []uint64{1, 2, 3, 4} {
		g.add(k)
	}
	// 1 fell out of the ring; 2, 3, 4 are remembered, once each.
	if g.take(1) || !g.take(2) || g.take(2) || g.len() != 2 {
		t.Fatalf("ghost list: %+v", g)
	}
	// A key added again is remembered until its newest add leaves.
	g.add(3) // ring: 3 4 3 (oldest first)
	g.add(5) // ring: 4 3 5: the first 3 left, the second stays
	g.add(6) // ring: 3 5 6
	if !g.take(3) || g.take(4) || g.len() != 2 || len(g.ring) != 3 {
		t.Fatalf("ghost list after re-adds: %+v", g)
	}
}
