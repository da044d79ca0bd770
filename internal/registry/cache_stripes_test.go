package registry

import (
	"fmt"
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
		c.setBound(64 * (entryOverhead + 8))
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
