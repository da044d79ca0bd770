package registry

import (
	"bytes"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// docCache keeps what the hot reads need in memory between changes, so
// npm install's requests (the abbreviated packument, the tarball, and the
// 404 of a name that does not exist) cost no database read: package rows,
// their prebuilt documents with the base URL already filled in, which names
// do not exist, and which blob holds each version's tarball.
//
// Correctness rests on generation numbers: a change bumps one after its
// transaction commits, and an entry is served only when it was read under
// the current generation of its package. A reader that raced a change stored
// its entry under the old generation, so it is never served. A package's
// generation (genOf) is the sum of two counters that only grow: the cache's
// own, which a change that may touch any package bumps (everything goes
// stale), and its name's stripe's, one of stripes counters that a change to
// one named package bumps (its entries go stale, and those of the few other
// names that share its stripe). The sum grows whenever either does, so an
// entry stamped before a change never matches after it; and a publish, a
// dist-tag or the signing of one package no longer makes every package's
// entries stale, which on a big store emptied the cache many times a second
// (docs/benchmarks.md, issue 20). Changes made by another process (another
// node) reach it through the store's change feed (see follow).
//
// What a user may read is not cached: a restricted package's rights are
// read afresh on every request (see Service.readable).
type docCache struct {
	gen atomic.Int64
	// stripes are the per-name generations (see genOf), indexed by
	// stripeOf.
	stripes []atomic.Int64

	mu         sync.RWMutex
	entries    map[docKey]*docEntry
	versions   map[versionKey]*versionEntry
	bytes      int
	maxBytes   int
	maxEntries int
	// sweeps counts makeRoom's evictions; each entry remembers the count
	// when it was put (born), so that an entry never read goes before one
	// never read yet that came after it (see makeRoom).
	sweeps uint32
}

// docKind says what an entry holds of a package.
type docKind uint8

const (
	kindRow             docKind = iota // the row alone (tarball downloads)
	kindFull                           // the row and the full packument
	kindAbbreviated                    // the row and the abbreviated packument
	kindFullGzip                       // the row and the full packument, gzipped
	kindAbbreviatedGzip                // the row and the abbreviated packument, gzipped
)

// packumentKind is the kind of entry that holds the packument asked for.
func packumentKind(abbreviated, gzipped bool) docKind {
	switch {
	case abbreviated && gzipped:
		return kindAbbreviatedGzip
	case abbreviated:
		return kindAbbreviated
	case gzipped:
		return kindFullGzip
	}
	return kindFull
}

func (k docKind) abbreviated() bool { return k == kindAbbreviated || k == kindAbbreviatedGzip }
func (k docKind) gzipped() bool     { return k == kindFullGzip || k == kindAbbreviatedGzip }

// label names the document a kind holds in its ETag (gzipDocument marks
// the gzipped form's).
func (k docKind) label() string {
	if k.abbreviated() {
		return "abbr"
	}
	return "full"
}

// docKey names an entry: a package, what of it, and the base URL its
// document was filled with (empty for rows and when no base is given). A
// server reached under one base URL (the usual case, and always with --url)
// holds one entry per package and kind; each further base URL its own.
type docKey struct {
	name string
	kind docKind
	base string
}

// docEntry is one package as read under generation gen, or the fact that no
// package of that name existed then (missing).
type docEntry struct {
	gen int64
	// hits counts the reads served from the entry since it was put, up to
	// maxHits, halved each time an eviction pass spares it (see makeRoom).
	hits    atomic.Int32
	born    uint32 // the cache's sweeps when put
	missing bool
	cost    int // bytes counted against the cache's bound when put
	pkg     store.Package
	doc     Document // the document with the key's base URL filled in; empty for rows
}

type versionKey struct {
	pkgID   int64
	version string
	name    string // the package's name, whose generation the entry follows
}

type versionEntry struct {
	gen        int64
	hits       atomic.Int32 // as docEntry's
	born       uint32       // as docEntry's
	cost       int
	v          store.Version // without its manifest
	validators []string      // tarballValidators(v), made once
}

// Bounds on what the cache holds: maxBytes as counted (DefaultCacheBytes
// unless set), and an entry for every 512 of those bytes. Past one, entries
// go: first those no longer current, then those read least (see makeRoom;
// the only bookkeeping per hit is a count that stops at maxHits) until an
// eighth of the room is free.
// Only the filled document is kept, so a document's bytes count once.
const (
	// DefaultCacheBytes bounds the document cache unless told otherwise.
	DefaultCacheBytes = 64 << 20
	bytesPerEntry     = 512
	// stripes is how many per-name generations the cache keeps (8 bytes
	// each): a change to one package makes about 1/stripes of the other
	// packages' entries stale with its own.
	stripes = 1 << 16
)

func newDocCache(maxBytes int) *docCache {
	c := &docCache{entries: map[docKey]*docEntry{}, versions: map[versionKey]*versionEntry{},
		stripes: make([]atomic.Int64, stripes)}
	c.setBound(maxBytes)
	return c
}

// stripeOf is the index of name's stripe.
func stripeOf(name string) uint32 { return hashString(name) & (stripes - 1) }

// genOf is the generation of package name's entries: read it before
// reading the package from the store, and store the entry under it.
func (c *docCache) genOf(name string) int64 {
	return c.gen.Load() + c.stripes[stripeOf(name)].Load()
}

// setBound sets the byte bound, and the entry bound that follows from it.
// Called with mu held, or before the cache is shared.
func (c *docCache) setBound(maxBytes int) {
	c.maxBytes, c.maxEntries = maxBytes, max(maxBytes/bytesPerEntry, 1024)
}

func (c *docCache) get(k docKey) (*docEntry, bool) {
	c.mu.RLock()
	e, ok := c.entries[k]
	c.mu.RUnlock()
	if !ok || e.gen != c.genOf(k.name) {
		return nil, false
	}
	e.hit()
	return e, true
}

func (c *docCache) put(k docKey, e *docEntry) {
	e.cost = entryCost(k, e)
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries[k]; ok {
		c.bytes -= old.cost
		delete(c.entries, k)
	}
	c.makeRoom(e.cost)
	e.born = c.sweeps
	c.entries[k] = e
	c.bytes += e.cost
}

// compress replaces e, the current entry of k holding its document as
// JSON, with one holding it gzipped (its read count kept), and returns the
// new entry. When k's entry is no longer e (another reader compressed it,
// or a newer read replaced it), the new entry is returned for this read
// and not kept.
func (c *docCache) compress(k docKey, e *docEntry) *docEntry {
	ne := &docEntry{gen: e.gen, pkg: e.pkg, doc: gzipDocument(e.doc)}
	ne.hits.Store(e.hits.Load())
	ne.cost = entryCost(k, ne)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries[k] != e {
		return ne
	}
	ne.born = e.born
	c.entries[k] = ne
	c.bytes += ne.cost - e.cost
	return ne
}

func (c *docCache) getVersion(k versionKey) (store.Version, []string, bool) {
	c.mu.RLock()
	e, ok := c.versions[k]
	c.mu.RUnlock()
	if !ok || e.gen != c.genOf(k.name) {
		return store.Version{}, nil, false
	}
	e.hit()
	return e.v, e.validators, true
}

// putVersion keeps v, without its manifest, and returns its validators.
func (c *docCache) putVersion(k versionKey, gen int64, v store.Version) []string {
	validators := tarballValidators(v)
	size := versionCost(k, v, validators)
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.versions[k]; ok {
		c.bytes -= old.cost
		delete(c.versions, k)
	}
	c.makeRoom(size)
	c.versions[k] = &versionEntry{gen: gen, born: c.sweeps, cost: size, v: v, validators: validators}
	c.bytes += size
	return validators
}

// maxHits is where an entry's read count stops.
const maxHits = 15

// makeRoom evicts entries when adding size bytes (one entry) would pass a
// bound, until an eighth of each bound is free: the stale ones first; then
// a pass over the entries put before the last eviction alone, as the
// passes below do (they had that long to be read: what a load that has
// moved on left behind goes first), so that an entry put since, not read
// yet, is not evicted before them; then, over every entry,
// documents and rows not read since they were put or last spared, sparing
// each one read (its count halved, so that what was read often is spared
// several passes and what is no longer read ages out); then blob keys; and
// last, should all that not make room, arbitrary entries. Go's map order is
// random, so each pass starts somewhere else. A package read once (a
// spread's one-off read, a crawler) goes before one read again and again:
// frequency decides, as the spread of real installs needs, not arrival.
// Called with mu held.
func (c *docCache) makeRoom(size int) {
	if len(c.entries)+len(c.versions) < c.maxEntries && c.bytes+size <= c.maxBytes {
		return
	}
	wantEntries := c.maxEntries - c.maxEntries/8
	wantBytes := c.maxBytes - c.maxBytes/8 - size
	room := func() bool { return len(c.entries)+len(c.versions) <= wantEntries && c.bytes <= wantBytes }
	stale := func(name string, gen int64, _ *atomic.Int32, _ uint32) bool { return gen != c.genOf(name) }
	always := func(string, int64, *atomic.Int32, uint32) bool { return true }
	sweep := c.sweeps
	c.sweeps++
	unreadBefore := func(name string, gen int64, hits *atomic.Int32, born uint32) bool {
		return born != sweep && cold(name, gen, hits, born)
	}
	evict(c, c.entries, stale, nil)
	evict(c, c.versions, stale, nil)
	evict(c, c.entries, unreadBefore, room)
	evict(c, c.versions, unreadBefore, room)
	// Each pass halves the counts it spares: after five, none is left of
	// maxHits, and the pass after that would find every entry cold.
	for pass := 0; pass < 5 && !room(); pass++ {
		evict(c, c.entries, cold, room)
		evict(c, c.versions, cold, room)
	}
	evict(c, c.entries, always, room)
	evict(c, c.versions, always, room)
}

// cold is true of an entry not read since it was put or last spared; it
// spares one that was, halving its count. Called with mu held.
func cold(_ string, _ int64, hits *atomic.Int32, _ uint32) bool {
	if h := hits.Load(); h > 0 {
		hits.Store(h / 2)
		return false
	}
	return true
}

// cached is what the cache's two maps hold: an entry read under a
// generation, counted as cost bytes, with its read count.
type cached interface {
	genCost() (int64, int)
	counter() *atomic.Int32
	bornAt() uint32
}

func (e *docEntry) genCost() (int64, int)      { return e.gen, e.cost }
func (e *versionEntry) genCost() (int64, int)  { return e.gen, e.cost }
func (e *docEntry) counter() *atomic.Int32     { return &e.hits }
func (e *versionEntry) counter() *atomic.Int32 { return &e.hits }
func (e *docEntry) bornAt() uint32             { return e.born }
func (e *versionEntry) bornAt() uint32         { return e.born }

// hit counts a read served from e, up to maxHits: once there, reads
// write nothing (a popular entry's count is not a shared write per read).
func hit(hits *atomic.Int32) {
	if hits.Load() < maxHits {
		hits.Add(1)
	}
}

func (e *docEntry) hit()     { hit(&e.hits) }
func (e *versionEntry) hit() { hit(&e.hits) }

// named is what the cache's two maps are keyed by: something of a package.
type named interface{ packageName() string }

func (k docKey) packageName() string     { return k.name }
func (k versionKey) packageName() string { return k.name }

// evict deletes from m, one of c's maps, the entries that drop accepts (by
// their package's name, generation, read count and the sweep they were put
// in), until enough (if not nil) says there is room. Called with mu held.
func evict[K interface {
	comparable
	named
}, V cached](c *docCache, m map[K]V, drop func(name string, gen int64, hits *atomic.Int32, born uint32) bool,
	enough func() bool) {
	for k, e := range m {
		if enough != nil && enough() {
			return
		}
		if gen, cost := e.genCost(); drop(k.packageName(), gen, e.counter(), e.bornAt()) {
			delete(m, k)
			c.bytes -= cost
		}
	}
}

// size returns how many entries the cache holds, the bytes counted for
// them, and its bound in bytes.
func (c *docCache) size() (entries, bytes, limit int) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries) + len(c.versions), c.bytes, c.maxBytes
}

// changed makes every entry stale; call it after a change that may touch
// any package commits.
func (c *docCache) changed() { c.gen.Add(1) }

// changedPackage makes package name's entries stale (and those of the
// names that share its stripe); call it after a change to that package
// alone commits. An empty name is any package (changed).
func (c *docCache) changedPackage(name string) {
	if name == "" {
		c.changed()
		return
	}
	c.stripes[stripeOf(name)].Add(1)
}

// follow makes entries stale when another process changes a package: that
// package's when the change names it, every one when it does not (a change
// read from the counters, on SQLite) or when changes may have been missed.
func (c *docCache) follow(changes store.Changes) {
	changes.Subscribe(func(ch store.Change) {
		switch ch.Kind {
		case store.PackageChanged:
			c.changedPackage(ch.Key)
		case store.AnyChange:
			c.changed()
		}
	})
}

// fill returns the document stored as body (with BasePlaceholder in its
// links) for readers under base, with its validators: etag is the stored
// document's, and a base URL adds its own suffix, since the same stored
// document serves different bytes per base URL. An empty base leaves the
// placeholder in place. The Document's Body is always bytes of its own:
// filled under a base URL, body itself when owned (the caller hands it
// over) and a copy otherwise, so a caller may pass bytes it may not keep
// (the driver's, during Queries.PackageDocumentFunc) and the document
// takes one copy of them, not two.
func fill(body []byte, etag string, modified int64, base string, owned bool) Document {
	d := Document{Body: body, ETag: etag, Modified: time.UnixMilli(modified)}
	d.LastModified = d.Modified.UTC().Format(httpTimeFormat)
	if base != "" {
		return WithBase(d, base) // fills a copy of its own
	}
	if !owned {
		d.Body = bytes.Clone(body)
	}
	d.Validators = []string{d.ETag, d.LastModified, strconv.Itoa(len(d.Body))}
	return d
}

// WithBase returns d, a packument read with an empty base (its tarball
// links holding BasePlaceholder, as JSON), with base filled in: the bytes,
// ETag and validators a read with base gives (fill makes those with it),
// here made for one response and kept nowhere. It serves a base URL the
// caches do not keep documents for (see npmapi's cached bases) without a
// store read. A document that is not such a read (gzipped, or without an
// ETag) is returned as it is.
func WithBase(d Document, base string) Document {
	if base == "" || d.Encoding != "" || len(d.ETag) < 2 {
		return d
	}
	d.Body = fillBase(d.Body, base)
	d.ETag = d.ETag[:len(d.ETag)-1] + "-" + strconv.FormatUint(uint64(hashString(base)), 36) + `"`
	d.Validators = []string{d.ETag, d.LastModified, strconv.Itoa(len(d.Body))}
	return d
}

// tarballValidators are the ETag (the content address, quoted, without its
// slashes), the Last-Modified (the publication time, in HTTP's date format)
// and the length in decimal of version v's tarball, as Tarball.Validators
// holds them.
func tarballValidators(v store.Version) []string {
	return []string{`"` + strings.ReplaceAll(v.BlobKey, "/", "") + `"`,
		time.UnixMilli(v.PublishedAt).UTC().Format(httpTimeFormat), strconv.FormatInt(v.Size, 10)}
}

// hashString is FNV-1a, enough to tell base URLs apart in an ETag.
func hashString(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// httpTimeFormat is net/http's TimeFormat (this package does not import net/http).
const httpTimeFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

// What an entry costs the heap, counted against the cache's bound. The
// bound is the live heap the cache may hold (memsize sizes the memory
// limit around it), so an entry counts everything it keeps alive: its
// struct, each string and byte slice it holds, its key's strings, and its
// slot in the map, each allocation rounded up as Go's allocator rounds
// it. Counting only a document's bytes let a big store's cache of
// tarball rows and versions (a few hundred bytes each, counted as a
// few dozen) hold half again its bound and run the collector without
// pause at the memory limit (docs/benchmarks.md, issue 20).
// TestDocCacheCountsWhatItHolds checks the count against the heap.
var (
	docEntrySize     = heapBytes(int(unsafe.Sizeof(docEntry{})))
	versionEntrySize = heapBytes(int(unsafe.Sizeof(versionEntry{})))
)

// mapSlot is what a key and its entry's pointer take in one of the
// cache's maps: the slot, its control byte, and the room a map keeps
// free (a Go map is 7/16 to 7/8 full, about two thirds on average).
func mapSlot[K any]() int {
	var k K
	return (int(unsafe.Sizeof(k)) + 8 + 1) * 3 / 2
}

// heapBytes is what an allocation of n bytes takes from Go's heap: small
// ones are rounded up to a size class (the classes are at most an eighth
// apart, 16 bytes apart up to 256), larger ones by about half of that.
func heapBytes(n int) int {
	switch {
	case n <= 0:
		return 0
	case n <= 256:
		return (n + 15) &^ 15
	default:
		return n + n/16
	}
}

// stringsBytes is heapBytes of each non-empty string.
func stringsBytes(ss ...string) int {
	n := 0
	for _, s := range ss {
		n += heapBytes(len(s))
	}
	return n
}

func entryCost(k docKey, e *docEntry) int {
	p := &e.pkg
	n := mapSlot[docKey]() + docEntrySize + stringsBytes(k.name, k.base) +
		stringsBytes(p.Name, p.Scope, string(p.Access), p.Description, p.Keywords) +
		heapBytes(cap(p.Packument)) + heapBytes(cap(p.Abbreviated))
	if d := &e.doc; d.Body != nil || d.Validators != nil {
		n += heapBytes(cap(d.Body)) + stringsBytes(d.ETag, d.LastModified) +
			heapBytes(cap(d.Validators)*int(unsafe.Sizeof("")))
		// Validators[0] and [1] are ETag and LastModified, counted above;
		// what follows (the length) is strings of their own.
		if len(d.Validators) > 2 {
			n += stringsBytes(d.Validators[2:]...)
		}
	}
	return n
}

func versionCost(k versionKey, v store.Version, validators []string) int {
	return mapSlot[versionKey]() + versionEntrySize + stringsBytes(k.version, k.name, v.Version, v.BlobKey) +
		heapBytes(cap(v.Manifest)) + heapBytes(cap(validators)*int(unsafe.Sizeof(""))) + stringsBytes(validators...)
}
