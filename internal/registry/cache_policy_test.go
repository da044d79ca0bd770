package registry

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// otherStripe returns a package name whose stripe differs from name's.
func otherStripe(t *testing.T, name string) string {
	t.Helper()
	for i := range 100 {
		if o := fmt.Sprintf("other-%d", i); stripeOf(o) != stripeOf(name) {
			return o
		}
	}
	t.Fatal("no name of another stripe")
	return ""
}

// TestDocCacheChangeOfOnePackage: a change to one package makes its
// entries stale (documents, the row, the fact that it did not exist, the
// versions' blob keys) and leaves every other package's current.
func TestDocCacheChangeOfOnePackage(t *testing.T) {
	c := newDocCache(1 << 20)
	const changed = "changed"
	kept := otherStripe(t, changed)
	for _, name := range []string{changed, kept} {
		c.put(docKey{name: name, kind: kindAbbreviated}, &docEntry{gen: c.genOf(name), doc: Document{Body: []byte("{}")}})
		c.put(docKey{name: name + "-missing", kind: kindFull}, &docEntry{gen: c.genOf(name + "-missing"), missing: true})
		c.putVersion(versionKey{pkgID: 1, version: "1.0.0", name: name}, c.genOf(name), store.Version{BlobKey: "k"})
	}
	c.changedPackage(changed)
	c.changedPackage(changed + "-missing")

	for _, tt := range []struct {
		name    string
		current bool
	}{{changed, false}, {kept, true}} {
		if _, ok := c.get(docKey{name: tt.name, kind: kindAbbreviated}); ok != tt.current {
			t.Errorf("%s: document served = %v, want %v", tt.name, ok, tt.current)
		}
		if _, ok := c.get(docKey{name: tt.name + "-missing", kind: kindFull}); ok != tt.current {
			t.Errorf("%s-missing: 'no such package' served = %v, want %v", tt.name, ok, tt.current)
		}
		if _, _, ok := c.getVersion(versionKey{pkgID: 1, version: "1.0.0", name: tt.name}); ok != tt.current {
			t.Errorf("%s: blob key served = %v, want %v", tt.name, ok, tt.current)
		}
	}

	// A change to any package (no name) makes every entry stale.
	c.changedPackage("")
	if _, ok := c.get(docKey{name: kept, kind: kindAbbreviated}); ok {
		t.Error("a change to any package left an entry current")
	}
	if _, _, ok := c.getVersion(versionKey{pkgID: 1, version: "1.0.0", name: kept}); ok {
		t.Error("a change to any package left a blob key current")
	}
}

// TestDocCacheRaceWithChangeOfItsPackage: a reader that read the store
// before a change to its package committed, and stores its entry after it
// (stamped with the generation it read under), is never served; an entry
// read after the change is.
func TestDocCacheRaceWithChangeOfItsPackage(t *testing.T) {
	for _, global := range []bool{false, true} {
		t.Run(fmt.Sprintf("global=%v", global), func(t *testing.T) {
			c := newDocCache(1 << 20)
			k := docKey{name: "raced", kind: kindFull}
			vk := versionKey{pkgID: 7, version: "2.0.0", name: "raced"}
			before := c.genOf("raced") // the reader reads the store now
			if global {
				c.changed()
			} else {
				c.changedPackage("raced") // a change commits meanwhile
			}
			c.put(k, &docEntry{gen: before, doc: Document{Body: []byte("old")}})
			c.putVersion(vk, before, store.Version{BlobKey: "old"})
			if _, ok := c.get(k); ok {
				t.Fatal("an entry read before the change was served after it")
			}
			if _, _, ok := c.getVersion(vk); ok {
				t.Fatal("a blob key read before the change was served after it")
			}
			c.put(k, &docEntry{gen: c.genOf("raced"), doc: Document{Body: []byte("new")}})
			if e, ok := c.get(k); !ok || string(e.doc.Body) != "new" {
				t.Fatal("an entry read after the change is not served")
			}
		})
	}
}

// TestDocCacheGenerationNeverRepeats: every change to a package, whether
// to it alone or to any package, gives its entries a generation they never
// had, in any order of the two (the sum of two counters that only grow).
func TestDocCacheGenerationNeverRepeats(t *testing.T) {
	c := newDocCache(1 << 20)
	seen := map[int64]bool{c.genOf("p"): true}
	for i := range 50 {
		if i%3 == 0 {
			c.changed()
		} else {
			c.changedPackage("p")
		}
		g := c.genOf("p")
		if seen[g] {
			t.Fatalf("change %d: generation %d came back", i, g)
		}
		seen[g] = true
	}
}

// feedFunc is a store.Changes that delivers what the test sends.
type feedFunc struct{ fn func(store.Change) }

func (f *feedFunc) Subscribe(fn func(store.Change)) func() { f.fn = fn; return func() {} }

// TestDocCacheFollowsChangesByName: a change from another process that
// names its package makes that package's entries stale; one that names none
// (SQLite's counters), or news that changes may have been missed, makes
// every entry stale; other kinds of change touch nothing.
func TestDocCacheFollowsChangesByName(t *testing.T) {
	const changed = "changed"
	kept := otherStripe(t, changed)
	for _, tt := range []struct {
		change                  store.Change
		changedStale, keptStale bool
	}{
		{store.Change{Kind: store.PackageChanged, Key: changed}, true, false},
		{store.Change{Kind: store.PackageChanged, Key: changed, Own: true}, true, false},
		{store.Change{Kind: store.PackageChanged}, true, true},
		{store.Change{Kind: store.AnyChange}, true, true},
		{store.Change{Kind: store.TokenRevoked, Key: changed}, false, false},
		{store.Change{Kind: store.UplinkChanged, Key: changed}, false, false},
	} {
		t.Run(fmt.Sprintf("%s:%s", tt.change.Kind, tt.change.Key), func(t *testing.T) {
			c := newDocCache(1 << 20)
			feed := &feedFunc{}
			c.follow(feed)
			for _, name := range []string{changed, kept} {
				c.put(docKey{name: name, kind: kindRow}, &docEntry{gen: c.genOf(name)})
			}
			feed.fn(tt.change)
			for name, stale := range map[string]bool{changed: tt.changedStale, kept: tt.keptStale} {
				if _, ok := c.get(docKey{name: name, kind: kindRow}); ok == stale {
					t.Errorf("%s: served = %v, want %v", name, ok, !stale)
				}
			}
		})
	}
}

// TestDocCacheEvictsStaleOfOnePackageFirst: when the cache is full, the
// entries of a changed package go before any current one (random eviction
// alone would take it with each first eviction one time in eight; twenty
// caches in a row rule that out).
func TestDocCacheEvictsStaleOfOnePackageFirst(t *testing.T) {
	const changed = "changed-0"
	stale := docKey{name: changed, kind: kindRow}
	for trial := range 20 {
		c := newDocCache(1 << 20)
		c.setBound(64 * entryCost(docKey{name: "p000000", kind: kindRow}, &docEntry{}))
		c.put(stale, &docEntry{gen: c.genOf(changed)})
		c.changedPackage(changed)
		for i := 0; ; i++ {
			c.mu.RLock()
			before := len(c.entries)
			c.mu.RUnlock()
			name := fmt.Sprintf("p%06d", i)
			c.put(docKey{name: name, kind: kindRow}, &docEntry{gen: c.genOf(name)})
			c.mu.RLock()
			_, still := c.entries[stale]
			after := len(c.entries)
			c.mu.RUnlock()
			if after <= before { // the first eviction
				if still {
					t.Fatalf("trial %d: the first eviction kept the changed package's entry", trial)
				}
				break
			}
			if i > 1000 {
				t.Fatal("nothing was ever evicted")
			}
		}
	}
}

// TestDocCacheKeepsWhatIsReadOften: past its bound the cache evicts what
// was read least: packages read again and again stay while a stream of
// packages read once (a spread, a crawler) passes through, and the newest
// entry is always there.
func TestDocCacheKeepsWhatIsReadOften(t *testing.T) {
	const per = 1 << 10
	c := newDocCache(1 << 20)
	body := make([]byte, per)
	fits := (1 << 20) / entryCost(docKey{name: "cold-000000", kind: kindAbbreviated}, &docEntry{doc: Document{Body: body}})
	hot := make([]docKey, fits/4)
	for i := range hot {
		hot[i] = docKey{name: fmt.Sprintf("hot-%06d", i), kind: kindAbbreviated}
		c.put(hot[i], &docEntry{gen: c.genOf(hot[i].name), doc: Document{Body: body}})
	}
	for i := range 20 * fits {
		if i%(fits/8) == 0 { // the hot set is read between evictions
			for _, k := range hot {
				if _, ok := c.get(k); !ok {
					t.Fatalf("after %d one-off packages, hot package %s was evicted", i, k.name)
				}
			}
		}
		k := docKey{name: fmt.Sprintf("cold-%06d", i), kind: kindAbbreviated}
		c.put(k, &docEntry{gen: c.genOf(k.name), doc: Document{Body: body}})
		if _, ok := c.get(k); !ok {
			t.Fatalf("one-off package %d not held right after its put", i)
		}
		if _, b := sizeOf(c); b > 1<<20 {
			t.Fatalf("the cache counts %d bytes, over its bound", b)
		}
	}
}

// TestDocCacheAgesOutWhatIsNoLongerRead: a package read often once, then
// never again, does not stay for ever: each eviction pass halves its count.
func TestDocCacheAgesOutWhatIsNoLongerRead(t *testing.T) {
	c := newDocCache(1 << 20)
	body := make([]byte, 1<<10)
	old := docKey{name: "was-popular", kind: kindFull}
	c.put(old, &docEntry{gen: c.genOf(old.name), doc: Document{Body: body}})
	for range 100 {
		c.get(old)
	}
	for i := range 50 * (1 << 10) {
		k := docKey{name: fmt.Sprintf("p-%06d", i), kind: kindFull}
		c.put(k, &docEntry{gen: c.genOf(k.name), doc: Document{Body: body}})
		c.get(k) // each read once: as warm as the old one is now
		c.mu.RLock()
		_, still := c.entries[old]
		c.mu.RUnlock()
		if !still {
			return
		}
	}
	t.Fatal("a package no longer read was never evicted")
}

// TestDocCacheEntryBound: tiny entries are bounded by count (an entry per
// 512 bytes of the bound, at least 1,024), not only by bytes.
func TestDocCacheEntryBound(t *testing.T) {
	c := newDocCache(1 << 20) // 2,048 entries
	for i := range 10_000 {
		c.putVersion(versionKey{pkgID: int64(i), version: "1.0.0", name: "v"}, c.genOf("v"), store.Version{BlobKey: "k"})
		c.put(docKey{name: fmt.Sprintf("m-%05d", i), kind: kindRow}, &docEntry{gen: c.genOf(fmt.Sprintf("m-%05d", i)), missing: true})
		if n, _ := sizeOf(c); n > c.maxEntries {
			t.Fatalf("after %d puts the cache holds %d entries, over its bound %d", i+1, n, c.maxEntries)
		}
	}
	if n, _ := sizeOf(c); n < c.maxEntries*3/4 {
		t.Fatalf("the cache holds %d entries of the %d allowed: it emptied rather than evicted", n, c.maxEntries)
	}
}

// TestDocCacheConcurrent reads, puts and changes from many goroutines at
// once (run with -race): the bounds hold and a current entry is served.
func TestDocCacheConcurrent(t *testing.T) {
	c := newDocCache(1 << 20)
	body := make([]byte, 512)
	done := make(chan struct{})
	for g := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 5_000 {
				name := fmt.Sprintf("p-%d", (i*7+g)%3_000)
				k := docKey{name: name, kind: kindAbbreviated}
				if _, ok := c.get(k); !ok {
					c.put(k, &docEntry{gen: c.genOf(name), doc: Document{Body: body}})
				}
				vk := versionKey{pkgID: int64(i % 500), version: "1.0.0", name: name}
				if _, _, ok := c.getVersion(vk); !ok {
					c.putVersion(vk, c.genOf(name), store.Version{BlobKey: "k"})
				}
				if i%997 == 0 {
					c.changedPackage(name)
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
	n, b := sizeOf(c)
	if b > 1<<20 || n > c.maxEntries {
		t.Fatalf("%d entries, %d bytes: past the bounds", n, b)
	}
	k := docKey{name: "last", kind: kindFull}
	c.put(k, &docEntry{gen: c.genOf("last"), doc: Document{Body: body}})
	if _, ok := c.get(k); !ok {
		t.Fatal("a current entry is not served")
	}
}

// TestDocCacheCountsWhatItHolds: the bytes the cache counts for its
// entries are the heap they keep alive (within a quarter), for each kind
// of entry a big store fills it with: abbreviated documents, the rows a
// tarball download keeps, and the versions' blob keys. The bound is
// the cache's share of the live heap (memsize), so an entry counted at a
// fraction of its size lets the cache outgrow it and the collector run
// without pause at the memory limit.
func TestDocCacheCountsWhatItHolds(t *testing.T) {
	const n = 20_000
	doc := func(name string) []byte {
		b := fmt.Appendf(nil, `{"name":%q,"dist-tags":{"latest":"1.0.2"},"versions":{`, name)
		for v := range 3 {
			b = fmt.Appendf(b, `"1.0.%d":{"name":%q,"version":"1.0.%d","dist":{"integrity":"sha512-%0600d",`+
				`"tarball":"%s/%s/-/%s-1.0.%d.tgz"}},`, v, name, v, v, BasePlaceholder, name, name, v)
		}
		return append(b[:len(b)-1], "}}"...)
	}
	row := func(i int) store.Package {
		return store.Package{ID: int64(i), Name: fmt.Sprintf("scale-pkg-%06d", i), Access: store.Public,
			Description: fmt.Sprintf("package number %d of the scale store", i), Keywords: "scale bench",
			Rev: 3, CreatedAt: 1, ModifiedAt: 2}
	}
	tests := []struct {
		name string
		put  func(c *docCache, i int)
	}{
		{"abbreviated documents", func(c *docCache, i int) {
			p := row(i)
			e := &docEntry{gen: c.genOf(p.Name), pkg: p}
			e.doc = fill(doc(p.Name), fmt.Sprintf(`"d-%d-1-3-abbr"`, i), p.ModifiedAt, "http://127.0.0.1:4873", false)
			c.put(docKey{name: fmt.Sprintf("scale-pkg-%06d", i), kind: kindAbbreviated, base: "http://127.0.0.1:4873"}, e)
		}},
		{"rows", func(c *docCache, i int) {
			p := row(i)
			c.put(docKey{name: fmt.Sprintf("scale-pkg-%06d", i), kind: kindRow}, &docEntry{gen: c.genOf(p.Name), pkg: p})
		}},
		{"versions", func(c *docCache, i int) {
			name := fmt.Sprintf("scale-pkg-%06d", i)
			v := store.Version{PackageID: int64(i), Version: fmt.Sprintf("1.0.%d", i%3),
				BlobKey: fmt.Sprintf("sha512/%02x/%0126x", i%256, i), Size: 2900, PublishedAt: 1}
			c.putVersion(versionKey{pkgID: int64(i), version: fmt.Sprintf("1.0.%d", i%3), name: name}, c.genOf(name), v)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newDocCache(1 << 30) // no eviction
			before := liveHeap()
			for i := range n {
				tt.put(c, i)
			}
			held := liveHeap() - before
			_, counted := sizeOf(c)
			runtime.KeepAlive(c)
			if entries, _ := sizeOf(c); entries != n {
				t.Fatalf("the cache holds %d entries, want %d (it evicted)", entries, n)
			}
			ratio := float64(counted) / float64(held)
			t.Logf("%d entries: counted %d bytes, the heap grew by %d (%.0f and %.0f bytes an entry; ratio %.2f)",
				n, counted, held, float64(counted)/n, float64(held)/n, ratio)
			if ratio < 0.8 || ratio > 1.25 {
				t.Fatalf("the cache counts %d bytes for %d entries that hold %d bytes of heap (ratio %.2f, want 0.8–1.25)",
					counted, n, held, ratio)
			}
		})
	}
}

// liveHeap is the heap's live bytes after a full collection.
func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// TestDocCacheEvictsOlderUnreadFirst: when the load moves on (the cache is
// full of entries no one reads any more, as a spread's leftovers), the
// entries put since the last eviction, not read yet, stay while older
// unread ones remain to go: the new load's entries get their chance to be
// read again before what it left behind is kept instead.
func TestDocCacheEvictsOlderUnreadFirst(t *testing.T) {
	c := newDocCache(1 << 20)
	body := make([]byte, 1<<10)
	put := func(name string) {
		k := docKey{name: name, kind: kindAbbreviated}
		c.put(k, &docEntry{gen: c.genOf(k.name), doc: Document{Body: body}})
	}
	sweeps := func() uint32 {
		c.mu.RLock()
		defer c.mu.RUnlock()
		return c.sweeps
	}
	// The leftovers, never read, until the first eviction.
	for i := 0; sweeps() == 0; i++ {
		put(fmt.Sprintf("left-%05d", i))
	}
	// The new load, until the next eviction: it must find the older unread
	// entries enough to make room (an eighth of the cache, of the seven
	// eighths the leftovers hold), so none of the new ones goes. (At the
	// eviction after that, a new entry still unread has had its chance,
	// and goes with the leftovers.)
	var fresh []docKey
	for i := 0; sweeps() < 2; i++ {
		name := fmt.Sprintf("new-%05d", i)
		put(name)
		fresh = append(fresh, docKey{name: name, kind: kindAbbreviated})
	}
	left := 0
	c.mu.RLock()
	for k := range c.entries {
		if strings.HasPrefix(k.name, "left-") {
			left++
		}
	}
	c.mu.RUnlock()
	if left == 0 {
		t.Fatal("no leftover remains: the test did not keep the new entries in competition with old ones")
	}
	for _, k := range fresh {
		c.mu.RLock()
		_, ok := c.entries[k]
		c.mu.RUnlock()
		if !ok {
			t.Fatalf("%s, put after the leftovers and not read yet, was evicted while %d leftovers remain", k.name, left)
		}
	}
}
