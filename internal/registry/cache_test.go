package registry

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// entry returns a current entry of c whose stored document is body.
func entry(c *docCache, body []byte) *docEntry {
	return &docEntry{gen: c.gen.Load(), body: body, etag: `"x"`}
}

func TestDocCacheCountsBytes(t *testing.T) {
	body := []byte(`{"dist":{"tarball":"` + BasePlaceholder + `/a/-/a-1.0.0.tgz"}}`)
	tests := []struct {
		name string
		base string
		want int // bytes counted beyond the key and overhead
	}{
		{"no base: the stored bytes are served, counted once", "", len(body)},
		{"a base: stored and filled bytes both held", "http://127.0.0.1:4873", len(body) + len(fillBase(body, "http://127.0.0.1:4873"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newDocCache()
			e := entry(c, body)
			e.document(tt.base)
			c.put(docKey{name: "a", kind: kindAbbreviated}, e)
			if _, got := c.size(); got != tt.want+len("a")+entryOverhead {
				t.Fatalf("counted %d bytes, want %d", got, tt.want+len("a")+entryOverhead)
			}
			// Putting the same key again replaces, not adds.
			e2 := entry(c, body)
			e2.document(tt.base)
			c.put(docKey{name: "a", kind: kindAbbreviated}, e2)
			if n, got := c.size(); n != 1 || got != tt.want+len("a")+entryOverhead {
				t.Fatalf("after a second put: %d entries, %d bytes", n, got)
			}
		})
	}
}

// Past its byte bound the cache evicts some entries, not all: most of what
// it held stays, and the newest entry is always there.
func TestDocCacheEvictsPartly(t *testing.T) {
	c := newDocCache()
	body := bytes.Repeat([]byte("x"), 64<<10) // shared: the test holds 64 KB, the cache counts it per entry
	perEntry := len(body) + entryOverhead + len("pkg-00000")
	fits := cacheMaxBytes / perEntry
	for i := 0; i < 3*fits+fits/2; i++ {
		k := docKey{name: fmt.Sprintf("pkg-%05d", i), kind: kindFull}
		c.put(k, entry(c, body))
		if _, ok := c.get(k); !ok {
			t.Fatalf("entry %d not held right after its put", i)
		}
		if _, b := c.size(); b > cacheMaxBytes {
			t.Fatalf("after %d puts the cache counts %d bytes, over its bound %d", i+1, b, cacheMaxBytes)
		}
	}
	n, _ := c.size()
	if n < fits*3/4 {
		t.Fatalf("after filling, the cache holds %d entries of the %d that fit: it emptied rather than evicted", n, fits)
	}
}

// Stale entries (read before a change) go before current ones.
func TestDocCacheEvictsStaleFirst(t *testing.T) {
	c := newDocCache()
	body := bytes.Repeat([]byte("y"), 64<<10)
	perEntry := len(body) + entryOverhead + len("old-00000")
	fits := cacheMaxBytes / perEntry
	for i := 0; i < fits/2; i++ {
		c.put(docKey{name: fmt.Sprintf("old-%05d", i), kind: kindFull}, entry(c, body))
	}
	c.putVersion(versionKey{pkgID: 1, version: "1.0.0"}, c.gen.Load(), store.Version{BlobKey: "k"})
	c.changed()
	for i := 0; i < fits; i++ {
		c.put(docKey{name: fmt.Sprintf("new-%05d", i), kind: kindFull}, entry(c, body))
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	for k, e := range c.entries {
		if e.gen != c.gen.Load() {
			t.Fatalf("stale entry %s kept while current ones were evicted", k.name)
		}
	}
	if len(c.versions) != 0 {
		t.Fatal("a stale version entry was kept")
	}
	if len(c.entries) < fits*3/4 {
		t.Fatalf("only %d current entries of %d kept", len(c.entries), fits)
	}
}
