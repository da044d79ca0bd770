package registry

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// entry returns a current entry of c whose document is body.
func entry(c *docCache, body []byte) *docEntry {
	return &docEntry{gen: c.gen.Load(), doc: Document{Body: body, ETag: `"x"`}}
}

func TestDocCacheCountsBytes(t *testing.T) {
	stored := []byte(`{"dist":{"tarball":"` + BasePlaceholder + `/a/-/a-1.0.0.tgz"}}`)
	tests := []struct {
		name string
		base string
	}{
		{"no base: the stored bytes are served", ""},
		{"a base: only the filled bytes are held", "http://127.0.0.1:4873"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newDocCache(DefaultCacheBytes)
			k := docKey{name: "a", kind: kindAbbreviated, base: tt.base}
			e := &docEntry{gen: c.gen.Load(), doc: fill(stored, `"e"`, 0, tt.base, true)}
			if tt.base != "" && !bytes.Contains(e.doc.Body, []byte(tt.base+"/a/-/a-1.0.0.tgz")) {
				t.Fatalf("base not filled in: %s", e.doc.Body)
			}
			want := entryCost(k, e)
			c.put(k, e)
			if _, got := sizeOf(c); got != want {
				t.Fatalf("counted %d bytes, want %d", got, want)
			}
			// Putting the same key again replaces, not adds.
			c.put(k, &docEntry{gen: c.gen.Load(), doc: fill(stored, `"e"`, 0, tt.base, true)})
			if n, got := sizeOf(c); n != 1 || got != want {
				t.Fatalf("after a second put: %d entries, %d bytes", n, got)
			}
		})
	}
}

// The same stored document serves different bytes under different base
// URLs, so each has its own ETag.
func TestFillETagPerBase(t *testing.T) {
	stored := []byte(`{"t":"` + BasePlaceholder + `/x.tgz"}`)
	plain := fill(stored, `"e"`, 0, "", true)
	a := fill(stored, `"e"`, 0, "http://a.example", true)
	b := fill(stored, `"e"`, 0, "http://b.example", true)
	if plain.ETag != `"e"` || a.ETag == plain.ETag || a.ETag == b.ETag {
		t.Fatalf("ETags: plain %s, a %s, b %s", plain.ETag, a.ETag, b.ETag)
	}
	if string(a.Body) != `{"t":"http://a.example/x.tgz"}` {
		t.Fatalf("filled body %s", a.Body)
	}
}

// Past its byte bound the cache evicts some entries, not all: most of what
// it held stays, and the newest entry is always there.
func TestDocCacheEvictsPartly(t *testing.T) {
	c := newDocCache(DefaultCacheBytes)
	body := bytes.Repeat([]byte("x"), 64<<10) // shared: the test holds 64 KB, the cache counts it per entry
	perEntry := entryCost(docKey{name: "pkg-00000", kind: kindFull}, entry(c, body))
	fits := DefaultCacheBytes / perEntry
	for i := 0; i < 3*fits+fits/2; i++ {
		k := docKey{name: fmt.Sprintf("pkg-%05d", i), kind: kindFull}
		c.put(k, entry(c, body))
		if _, ok := c.get(k); !ok {
			t.Fatalf("entry %d not held right after its put", i)
		}
		if _, b := sizeOf(c); b > DefaultCacheBytes {
			t.Fatalf("after %d puts the cache counts %d bytes, over its bound %d", i+1, b, DefaultCacheBytes)
		}
	}
	n, _ := sizeOf(c)
	if n < fits*3/4 {
		t.Fatalf("after filling, the cache holds %d entries of the %d that fit: it emptied rather than evicted", n, fits)
	}
}

// Stale entries (read before a change) go before current ones.
func TestDocCacheEvictsStaleFirst(t *testing.T) {
	c := newDocCache(DefaultCacheBytes)
	body := bytes.Repeat([]byte("y"), 64<<10)
	perEntry := entryCost(docKey{name: "old-00000", kind: kindFull}, entry(c, body))
	fits := DefaultCacheBytes / perEntry
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

// A cache set to a bound of its own keeps to it.
func TestDocCacheBoundIsSettable(t *testing.T) {
	for _, limit := range []int{4 << 20, 16 << 20} {
		c := newDocCache(limit)
		body := bytes.Repeat([]byte("z"), 8<<10)
		for i := 0; i < 4*limit/len(body); i++ {
			c.put(docKey{name: fmt.Sprintf("p-%06d", i), kind: kindAbbreviated}, entry(c, body))
		}
		n, b := sizeOf(c)
		if b > limit {
			t.Fatalf("bound %d: the cache counts %d bytes", limit, b)
		}
		if fits := limit / entryCost(docKey{name: "p-000000", kind: kindAbbreviated}, entry(c, body)); n < fits*3/4 {
			t.Fatalf("bound %d: holds %d entries of the %d that fit", limit, n, fits)
		}
	}
}

// sizeOf is c's entries and bytes.
func sizeOf(c *docCache) (entries, bytes int) {
	entries, bytes, _ = c.size()
	return entries, bytes
}

// TestValidatorsMadeOnce checks the header values a document and a version's
// tarball carry (Document.Validators, Tarball.Validators) against the
// fields they stand for, and that a version's are dropped with it when the
// package changes.
func TestValidatorsMadeOnce(t *testing.T) {
	published := time.Date(2026, 12, 5, 14, 3, 7, 250_000_000, time.FixedZone("CET", 3600))
	docs := []struct {
		name, base string
		body       []byte
	}{
		{"stored", "", []byte(`{"name":"x"}`)},
		{"with a base URL", "http://127.0.0.1:4873", []byte(`{"tarball":"` + BasePlaceholder + `/x/-/x-1.0.0.tgz"}`)},
		{"empty", "", []byte{}},
	}
	for _, tt := range docs {
		t.Run("document "+tt.name, func(t *testing.T) {
			d := fill(tt.body, `"abc"`, published.UnixMilli(), tt.base, true)
			want := []string{d.ETag, d.LastModified, strconv.Itoa(len(d.Body))}
			if !slices.Equal(d.Validators, want) {
				t.Fatalf("validators %q, want %q", d.Validators, want)
			}
		})
	}
	versions := []struct {
		name string
		v    store.Version
		want []string
	}{
		{"tarball", store.Version{BlobKey: "sha512/ab/cdef", Size: 2345, PublishedAt: published.UnixMilli()},
			[]string{`"sha512abcdef"`, "Sat, 05 Dec 2026 13:03:07 GMT", "2345"}},
		{"empty tarball", store.Version{BlobKey: "k", Size: 0, PublishedAt: 0},
			[]string{`"k"`, "Thu, 01 Jan 1970 00:00:00 GMT", "0"}},
	}
	for _, tt := range versions {
		t.Run(tt.name, func(t *testing.T) {
			if got := tarballValidators(tt.v); !slices.Equal(got, tt.want) {
				t.Fatalf("validators %q, want %q", got, tt.want)
			}
			c := newDocCache(DefaultCacheBytes)
			k := versionKey{pkgID: 1, version: "1.0.0"}
			c.putVersion(k, c.gen.Load(), tt.v)
			if _, got, ok := c.getVersion(k); !ok || !slices.Equal(got, tt.want) {
				t.Fatalf("cached validators %q (%v), want %q", got, ok, tt.want)
			}
			c.changed()
			if _, got, ok := c.getVersion(k); ok || got != nil {
				t.Fatalf("after a change the version's validators %q are still served", got)
			}
		})
	}
}
