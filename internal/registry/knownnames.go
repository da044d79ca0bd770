package registry

import (
	"context"
	"hash/maphash"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// knownNames is a Bloom filter of the names of every package the store
// holds, so that a read of a name that does not exist (a typo, a scanner
// probing for names, a dependency that lives elsewhere) is answered without
// a database read: the filter says "certainly absent" for almost every
// such name, and "perhaps present" for every name that exists. Without it
// each such name costs a look-up in the store and a cache entry that says
// it is missing, which on a store of 100,000 packages under a spread of
// missing names was most of a 404's cost (docs/benchmarks.md, issue 20).
//
// A name is never wrongly absent, which rests on three rules:
//
//   - Every package the registry creates has its name added after its
//     transaction commits and before the write returns (Service.write, which
//     publishes, approves staged versions and takes trusted publishes;
//     Import), and every package another process creates reaches it
//     through the change feed (follow). Until then a reader may be told
//     the name is absent, as it may be told by a cached missing entry
//     until the same change arrives (see docCache).
//   - A change the feed cannot name (AnyChange, or a package change
//     without a key: an import, an approval, another process on SQLite)
//     may have created any name: the filter is set aside at once (reads go
//     to the store) and rebuilt from a scan of every name.
//   - A rebuild publishes its filter as "building" before its scan reads
//     the first name, and add writes into the building filter before the
//     current one. A name whose creation committed before the scan read
//     its place is in the scan; one that committed after is added after
//     that, while the building filter is published or after it has become
//     the current one.
//
// Names of packages since deleted stay in the filter (a false "perhaps")
// until the next rebuild, which only costs the store read it would have
// cost without the filter. The filter is rebuilt, twice as large, when the
// names added since it was built pass its capacity, so its false-positive
// rate stays under about 1%.
type knownNames struct {
	// scan lists the store's names (Queries.PackageNames).
	scan func(ctx context.Context, after string, limit int) ([]string, error)

	cur      atomic.Pointer[nameBloom] // nil: not to be trusted now
	building atomic.Pointer[nameBloom] // the filter a rebuild fills, or nil

	ctx    context.Context // ends with close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu sync.Mutex
	// epoch counts the changes that set the filter aside; a rebuild whose
	// scan began before the latest one is not installed.
	epoch      uint64
	rebuilding bool
	closed     bool
	scanned    int // names the last scan found
	// pause is the wait before a failed scan is tried again (times the
	// failures so far), and before a scan that a change made useless is
	// done again (once): a feed that keeps losing its connection, or
	// changes naming no package that come faster than a scan, make
	// rebuilds wait their turn rather than scan back to back.
	pause time.Duration
}

// Bounds of the filter: bitsPerName bits and nameProbes bits a name,
// about 0.8% false positives at full capacity, 0.1% at half (where a
// rebuild leaves it); capacity for at least minNameCapacity names.
const (
	bitsPerName     = 10
	nameProbes      = 7
	minNameCapacity = 1 << 14
	namesPage       = 10_000
)

// newKnownNames returns a filter of the names scan lists, not built yet:
// every name may exist until the first rebuild (stale, which the change
// feed's first change, AnyChange, asks for) has scanned them.
func newKnownNames(scan func(ctx context.Context, after string, limit int) ([]string, error)) *knownNames {
	k := &knownNames{scan: scan, pause: time.Second}
	k.ctx, k.cancel = context.WithCancel(context.Background())
	return k
}

// absent reports whether name certainly names no package. False while the
// filter is set aside, being rebuilt after a change it could not follow.
func (k *knownNames) absent(name string) bool {
	f := k.cur.Load()
	return f != nil && !f.mayHave(name)
}

// add records that a package named name exists (or may). Adding a name
// the filter holds changes nothing.
func (k *knownNames) add(name string) {
	// The building filter first: see the type's third rule.
	if b := k.building.Load(); b != nil {
		b.add(name)
	}
	if f := k.cur.Load(); f != nil && f.add(name) && f.count.Load() > int64(f.capacity) {
		k.rebuild(false)
	}
}

// stale sets the filter aside until a rebuild from the store has scanned
// every name after now: a change the feed could not name may have created
// any package.
func (k *knownNames) stale() { k.rebuild(true) }

// rebuild starts a rebuild unless one runs. untrusted also sets the
// current filter aside at once, which a running rebuild sees by the epoch
// and answers with another scan; a rebuild asked for growth while one runs
// is not needed (the filter it installs is sized from the names it finds,
// and an add past its capacity asks again).
func (k *knownNames) rebuild(untrusted bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if untrusted {
		k.epoch++
		k.cur.Store(nil)
	}
	if k.closed {
		return
	}
	if k.rebuilding {
		return
	}
	k.rebuilding = true
	k.wg.Add(1)
	go k.rebuildLoop()
}

// close stops rebuilds, ending a running scan, and waits for them; the
// filter answers as it last did.
func (k *knownNames) close() {
	k.mu.Lock()
	k.closed = true
	k.mu.Unlock()
	k.cancel()
	k.wg.Wait()
}

// rebuildLoop scans the store into a new filter, and installs it unless a
// change that sets the filter aside came during the scan, until no more
// rebuilds are wanted. A failed scan is tried again after a pause, a few
// times; after that the filter stays as it was (set aside, when it was:
// reads go to the store) until the next change asks for a rebuild.
func (k *knownNames) rebuildLoop() {
	defer k.wg.Done()
	failures := 0
	for {
		k.mu.Lock()
		epoch := k.epoch
		capacity := max(minNameCapacity, 2*k.scanned)
		if f := k.cur.Load(); f != nil {
			capacity = max(capacity, int(2*f.count.Load()))
		}
		k.mu.Unlock()

		b, n, err := k.fill(capacity)
		k.mu.Lock()
		if err == nil {
			k.scanned = n
			failures = 0
			if epoch == k.epoch {
				// Current before building is cleared: see add.
				k.cur.Store(b)
			}
		} else {
			failures++
		}
		k.building.Store(nil)
		if k.closed || failures > 3 || (err == nil && epoch == k.epoch) {
			k.rebuilding = false
			k.mu.Unlock()
			return
		}
		wait := time.Duration(failures) * k.pause
		if err == nil && epoch != k.epoch {
			wait = k.pause / 10 // the scan was in vain: not straight away again
		}
		k.mu.Unlock()
		if wait > 0 {
			select {
			case <-k.ctx.Done():
			case <-time.After(wait):
			}
		}
	}
}

// fill makes a filter for at least capacity names, publishes it as the
// building one, and scans every name into it; when the store holds more
// names than that, it scans again into one for twice as many as it holds.
// It returns the filter and the count of names scanned.
func (k *knownNames) fill(capacity int) (*nameBloom, int, error) {
	for {
		b := newNameBloom(capacity)
		// Published before the scan reads its first name, and the
		// installed filter replaces it under mu (see add).
		k.building.Store(b)
		after, n := "", 0
		for {
			page, err := k.scan(k.ctx, after, namesPage)
			if err != nil {
				return nil, 0, err
			}
			for _, name := range page {
				b.add(name)
			}
			n += len(page)
			if len(page) < namesPage {
				break
			}
			after = page[len(page)-1]
		}
		if n <= b.capacity {
			return b, n, nil
		}
		capacity = 2 * n
	}
}

// nameBloom is a Bloom filter of names, safe for concurrent use: bits are
// set with atomic ORs and read with atomic loads.
type nameBloom struct {
	// seed is the hash's, new for each filter, so that no one can choose
	// names that collide in every gatehouse.
	seed     maphash.Seed
	words    []atomic.Uint64
	mask     uint64 // bits in the filter, less one (a power of two)
	capacity int
	count    atomic.Int64 // names added (see add)
}

func newNameBloom(capacity int) *nameBloom {
	capacity = max(capacity, minNameCapacity)
	n := uint64(1) << bits.Len64(uint64(capacity*bitsPerName-1)) // bits, a power of two
	return &nameBloom{seed: maphash.MakeSeed(), words: make([]atomic.Uint64, n/64), mask: n - 1, capacity: capacity}
}

// probes returns the two hashes whose combinations h1 + i·h2 pick a name's
// bits (Kirsch and Mitzenmacher's double hashing).
func (b *nameBloom) probes(name string) (h1, h2 uint64) {
	h := maphash.String(b.seed, name)
	return h, bits.RotateLeft64(h, 32)*0x9e3779b97f4a7c15 | 1
}

// add sets name's bits, and reports whether it set one that was not set
// (a name not added before, but for a false positive's few), which count
// counts.
func (b *nameBloom) add(name string) bool {
	h1, h2 := b.probes(name)
	set := false
	for i := range uint64(nameProbes) {
		bit := (h1 + i*h2) & b.mask
		w := &b.words[bit/64]
		if m := uint64(1) << (bit % 64); w.Load()&m == 0 {
			if w.Or(m)&m == 0 {
				set = true
			}
		}
	}
	if set {
		b.count.Add(1)
	}
	return set
}

// mayHave is false when name was certainly never added.
func (b *nameBloom) mayHave(name string) bool {
	h1, h2 := b.probes(name)
	for i := range uint64(nameProbes) {
		bit := (h1 + i*h2) & b.mask
		if b.words[bit/64].Load()&(uint64(1)<<(bit%64)) == 0 {
			return false
		}
	}
	return true
}

// follow keeps the filter current with changes other processes commit:
// a package change naming its package adds the name (a new package is
// one); one naming none, or a change the feed may have missed, sets the
// filter aside for a rebuild.
func (k *knownNames) follow(changes store.Changes) {
	changes.Subscribe(func(ch store.Change) {
		switch {
		case ch.Kind == store.PackageChanged && ch.Key != "":
			k.add(ch.Key)
		case ch.Kind == store.PackageChanged, ch.Kind == store.AnyChange:
			k.stale()
		}
	})
}
