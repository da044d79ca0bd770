package registry

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// TestNameBloom: every name added is reported as perhaps present, at
// every size, and names never added are reported absent but for at most
// about 1% at the filter's full capacity; adding a name twice counts once.
func TestNameBloom(t *testing.T) {
	for _, capacity := range []int{minNameCapacity, 100_000, 300_000} {
		t.Run(fmt.Sprint(capacity), func(t *testing.T) {
			b := newNameBloom(capacity)
			for i := range capacity {
				b.add(fmt.Sprintf("pkg-%d", i))
			}
			for i := range capacity {
				if b.add(fmt.Sprintf("pkg-%d", i)) {
					t.Fatalf("adding pkg-%d again set a bit", i)
				}
			}
			// The count is of names that set a bit: all but the few whose
			// bits were all set already (false positives when added).
			if n := b.count.Load(); n > int64(capacity) || n < int64(capacity)*98/100 {
				t.Errorf("count %d after %d names added twice", n, capacity)
			}
			for i := range capacity {
				if !b.mayHave(fmt.Sprintf("pkg-%d", i)) {
					t.Fatalf("pkg-%d was added and is reported absent", i)
				}
			}
			fp := 0
			const probes = 100_000
			for i := range probes {
				if b.mayHave(fmt.Sprintf("other-%d", i)) {
					fp++
				}
			}
			if rate := float64(fp) / probes; rate > 0.015 {
				t.Errorf("false positives at full capacity: %.2f%%, want at most about 1%%", 100*rate)
			}
		})
	}
}

// fakeNames is a store's list of names for knownNames' scan, which a test
// changes as a store's writers would, and can make fail.
type fakeNames struct {
	mu    sync.Mutex
	names []string // sorted
	fail  int      // scans left to fail
	scans atomic.Int64
	// during, when set, runs before each page is read.
	during func()
}

func (f *fakeNames) create(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, found := slices.BinarySearch(f.names, name)
	if !found {
		f.names = slices.Insert(f.names, i, name)
	}
}

func (f *fakeNames) scan(ctx context.Context, after string, limit int) ([]string, error) {
	if f.during != nil {
		f.during()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if after == "" {
		f.scans.Add(1)
	}
	if f.fail > 0 {
		f.fail--
		return nil, errors.New("the store is down")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	i := sort.SearchStrings(f.names, after)
	if i < len(f.names) && f.names[i] == after {
		i++
	}
	end := min(i+limit, len(f.names))
	return slices.Clone(f.names[i:end]), nil
}

// waitTrusted waits until k's filter is built and in use.
func waitTrusted(t *testing.T, k *knownNames) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		k.mu.Lock()
		done := k.cur.Load() != nil && !k.rebuilding
		k.mu.Unlock()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the filter of known names was not built in 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// builtFilter is a filter of f's names, built and in use, that waits only
// a millisecond between scans; closed when the test ends.
func builtFilter(t *testing.T, f *fakeNames) *knownNames {
	t.Helper()
	k := newKnownNames(f.scan)
	k.pause = time.Millisecond
	t.Cleanup(k.close)
	k.stale()
	waitTrusted(t, k)
	return k
}

// TestKnownNames: a filter answers nothing before it is built (every name
// may exist), then says absent only for names the store does not hold; a
// change it cannot follow sets it aside at once; it grows past its
// capacity without losing a name; a failed scan leaves it set aside and is
// tried again.
func TestKnownNames(t *testing.T) {
	f := &fakeNames{}
	for i := range 25_000 {
		f.create(fmt.Sprintf("pkg-%05d", i))
	}
	k := newKnownNames(f.scan)
	k.pause = 10 * time.Millisecond
	t.Cleanup(k.close)
	if k.absent("no-such-package") {
		t.Fatal("a filter never built says a name is absent")
	}

	k.stale()
	waitTrusted(t, k)
	if !k.absent("no-such-package") || !k.absent("pkg-99999") {
		t.Fatal("a built filter does not tell missing names")
	}
	for i := range 25_000 {
		if k.absent(fmt.Sprintf("pkg-%05d", i)) {
			t.Fatalf("pkg-%05d, in the store, is said to be absent", i)
		}
	}
	// 25,000 names outgrew the first scan's filter (minNameCapacity), so
	// the scan ran again into one for twice as many.
	if c := k.cur.Load().capacity; c != 50_000 {
		t.Errorf("capacity %d for 25,000 names, want 50,000", c)
	}

	// A name created and added, as a write does once it commits.
	f.create("fresh")
	k.add("fresh")
	if k.absent("fresh") {
		t.Fatal("a name just added is said to be absent")
	}

	// Past its capacity, the filter is rebuilt twice as large, and in use
	// all along.
	before := f.scans.Load()
	for i := range 30_000 {
		name := fmt.Sprintf("more-%05d", i)
		f.create(name)
		k.add(name)
		if k.absent(name) {
			t.Fatalf("%s, just added, is said to be absent", name)
		}
	}
	waitTrusted(t, k)
	if f.scans.Load() == before {
		t.Fatal("the filter was not rebuilt past its capacity")
	}
	// Rebuilt when the adds passed 50,000: for twice as many, at least.
	if c := k.cur.Load().capacity; c < 100_000 {
		t.Errorf("capacity %d after 55,001 names, want at least 100,000", c)
	}
	for _, name := range []string{"pkg-00000", "fresh", "more-29999"} {
		if k.absent(name) {
			t.Fatalf("%s is said to be absent after the rebuild", name)
		}
	}

	// A change the filter cannot follow: set aside at once, so that a
	// name created elsewhere (never added) is not said to be absent.
	f.mu.Lock()
	f.fail = 2
	f.mu.Unlock()
	f.create("from-another-node")
	k.stale()
	if k.absent("from-another-node") {
		t.Fatal("a filter set aside says a name is absent")
	}
	waitTrusted(t, k) // after two failed scans, tried again
	if k.absent("from-another-node") {
		t.Fatal("the rebuilt filter lacks a name the store holds")
	}
	if !k.absent("still-missing") {
		t.Fatal("the rebuilt filter does not tell a missing name")
	}
}

// TestKnownNamesNeverLoseACreation: writers create names (in the store,
// then add them, as Service.write does once a transaction commits) while
// changes the filter cannot follow make it rebuild again and again, its
// scans interleaving with the creations; once a creation's add has
// returned, its name is never said to be absent.
func TestKnownNamesNeverLoseACreation(t *testing.T) {
	f := &fakeNames{}
	for i := range 12_000 {
		f.create(fmt.Sprintf("base-%05d", i))
	}
	f.during = func() { time.Sleep(50 * time.Microsecond) }
	k := builtFilter(t, f)

	var created sync.Map
	stop := make(chan struct{})
	var writers, others sync.WaitGroup
	for w := range 4 {
		writers.Go(func() {
			for i := range 3000 {
				name := fmt.Sprintf("w%d-%06d", w, i)
				f.create(name)
				k.add(name)
				created.Store(name, true)
				if k.absent(name) {
					t.Errorf("%s is said to be absent after its creation", name)
					return
				}
				if i%20 == 0 {
					time.Sleep(time.Millisecond)
				}
			}
		})
	}
	others.Go(func() {
		repeatUntil(stop, func() {
			k.stale()
			time.Sleep(2 * time.Millisecond)
		})
	})
	// A reader checks every name created so far, all along.
	others.Go(func() {
		repeatUntil(stop, func() {
			created.Range(func(key, _ any) bool {
				if k.absent(key.(string)) {
					t.Errorf("%s is said to be absent after its creation", key)
					return false
				}
				return true
			})
			time.Sleep(time.Millisecond)
		})
	})
	writers.Wait()
	close(stop)
	others.Wait()
	waitTrusted(t, k)
	n := 0
	created.Range(func(key, _ any) bool {
		n++
		if k.absent(key.(string)) {
			t.Errorf("%s is said to be absent at the end", key)
		}
		return true
	})
	if n != 12_000 || f.scans.Load() < 10 {
		t.Fatalf("only %d creations and %d scans: the race was not exercised", n, f.scans.Load())
	}
}

// countingObserver counts cache look-ups by cache and result.
type countingObserver struct {
	mu     sync.Mutex
	counts map[string]int
}

func (o *countingObserver) Publish(string) {}
func (o *countingObserver) CacheLookup(cache string, hit bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.counts == nil {
		o.counts = map[string]int{}
	}
	o.counts[fmt.Sprintf("%s %v", cache, hit)]++
}

func (o *countingObserver) take() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := o.counts
	o.counts = nil
	return c
}

// TestMissingNamesNeedNoStoreRead, on a real store and change feed: once
// the feed has started, a packument or tarball of a name with no package
// is NotFound without a store read and without a cache entry; a package
// published is found at once; one created by another process reaches the
// filter through the feed; and a row written straight into the database
// with no change published stays unseen, which only a read that never
// reached the store could answer.
func TestMissingNamesNeedNoStoreRead(t *testing.T) {
	obs := &countingObserver{}
	svc, alice, feed := newTestServiceWith(t, time.Date(2026, 12, 6, 2, 0, 0, 0, time.UTC), obs)
	ctx := t.Context()
	if err := publishVersion(t, svc, alice, "lib", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	feed.Start()
	waitTrusted(t, svc.names)

	obs.take()
	entries, _, _ := svc.docs.size()
	for _, name := range []string{"nothing", "@scope/nothing", "Lib"} {
		if _, err := svc.Packument(ctx, alice, name, true, ""); !fault.Is(err, fault.NotFound) {
			t.Fatalf("packument of %s: %v, want NotFound", name, err)
		}
		if _, err := svc.Tarball(ctx, alice, name, "nothing-1.0.0.tgz"); !fault.Is(err, fault.NotFound) {
			t.Fatalf("tarball of %s: %v, want NotFound", name, err)
		}
	}
	if got := obs.take(); got["package_names true"] != 6 || got["package_names false"] != 0 {
		t.Fatalf("look-ups %v, want 6 answered by the filter of names and none by the store", got)
	}
	if after, _, _ := svc.docs.size(); after != entries {
		t.Fatalf("the cache holds %d entries after reads of missing names, %d before", after, entries)
	}

	// Published here: found at once, and its name is no longer absent.
	if err := publishVersion(t, svc, alice, "nothing", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Packument(ctx, alice, "nothing", true, ""); err != nil {
		t.Fatalf("a package just published: %v", err)
	}

	// Created by another process: a second registry on its own
	// connection to the same database file publishes it, and this one
	// hears of it from the feed (a moved counter, naming no package).
	var seq int
	var schema, path string
	if err := svc.store.DB().QueryRowContext(ctx, `PRAGMA database_list`).Scan(&seq, &schema, &path); err != nil {
		t.Fatal(err)
	}
	st2, err := store.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st2.Close() })
	other := NewService(st2, svc.blobs, noOTP{}, store.NewFeed(st2, nil), svc.now, nil, nil)
	t.Cleanup(other.Close)
	if err := publishVersion(t, other, alice, "elsewhere", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := svc.Packument(ctx, alice, "elsewhere", true, "")
		if err == nil {
			break
		}
		if !fault.Is(err, fault.NotFound) || time.Now().After(deadline) {
			t.Fatalf("a package published by another process: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Another process's change names no package on SQLite: the filter was
	// set aside, and is rebuilt before the next step relies on it.
	waitTrusted(t, svc.names)

	// Written with no change published (not something gatehouse does):
	// unseen, since the filter answers for the name without the store.
	if _, err := svc.store.Q().CreatePackage(ctx, store.Package{Name: "sneaked", Access: store.Public}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond) // two polls of the feed: nothing to hear
	if _, err := svc.Packument(ctx, alice, "sneaked", true, ""); !fault.Is(err, fault.NotFound) {
		t.Fatalf("a row no change told of: %v, want NotFound from the filter", err)
	}
}

// repeatUntil calls fn again and again until stop is closed.
func repeatUntil(stop <-chan struct{}, fn func()) {
	for {
		select {
		case <-stop:
			return
		default:
			fn()
		}
	}
}

// TestKnownNamesChangeDuringScan: a change the filter cannot follow that
// comes while a scan runs (another process created a name the scan has
// passed already) makes that scan's filter useless: it is not installed,
// the filter stays set aside until a scan that began after the change has
// ended, and the name is never said to be absent.
func TestKnownNamesChangeDuringScan(t *testing.T) {
	f := &fakeNames{}
	for i := range 3 * namesPage {
		f.create(fmt.Sprintf("pkg-%05d", i))
	}
	k := builtFilter(t, f)

	var pages atomic.Int64
	f.during = func() {
		// The second page of the next scan: the first, which "aaa" would
		// sort into, has been read.
		if pages.Add(1) == 2 {
			f.create("aaa-from-elsewhere")
			k.stale()
		}
	}
	k.stale()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if k.absent("aaa-from-elsewhere") {
			t.Fatal("a name created elsewhere during a scan is said to be absent")
		}
		k.mu.Lock()
		done := pages.Load() > 4 && k.cur.Load() != nil && !k.rebuilding
		k.mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the filter was not rebuilt in 10 s")
		}
	}
	if k.absent("aaa-from-elsewhere") || !k.absent("zzz-nowhere") {
		t.Fatal("the filter after the second scan is wrong")
	}
}

// TestImportAndApprovalNamesKnown: on a registry whose filter of names is
// built, packages created by Import and by the approval of a staged first
// version are found by the very next read, before any change reaches the
// feed.
func TestImportAndApprovalNamesKnown(t *testing.T) {
	now := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	svc, alice, feed := newTestServiceWith(t, now, nil)
	ctx := t.Context()
	feed.Start()
	waitTrusted(t, svc.names)
	if _, err := svc.Packument(ctx, alice, "imported", true, ""); !fault.Is(err, fault.NotFound) {
		t.Fatalf("before the import: %v", err)
	}
	data := tgz(t, file("package/package.json", `{"name":"imported","version":"1.0.0"}`))
	digest, err := svc.ImportTarball(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	err = svc.Import(ctx, []ImportedPackage{{Name: "imported",
		Owners: []store.Owner{{UserID: alice.UserID, Name: alice.UserName, Email: alice.Email}},
		Versions: []ImportedVersion{{Version: "1.0.0", Manifest: json.RawMessage(`{"name":"imported","version":"1.0.0"}`),
			Tarball: digest, PublishedAt: now.UnixMilli()}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Packument(ctx, alice, "imported", true, ""); err != nil {
		t.Fatalf("right after the import: %v", err)
	}

	staged := tgz(t, file("package/package.json", `{"name":"staged-first","version":"1.0.0"}`))
	n := len(staged)
	body, err := json.Marshal(map[string]any{"name": "staged-first",
		"versions": map[string]any{"1.0.0": map[string]any{"name": "staged-first", "version": "1.0.0",
			"dist": map[string]string{"shasum": sha1Hex(staged), "integrity": IntegrityOf(staged)}}},
		"_attachments": map[string]any{"staged-first-1.0.0.tgz": map[string]any{
			"data": base64.StdEncoding.EncodeToString(staged), "length": n}}})
	if err != nil {
		t.Fatal(err)
	}
	id, err := svc.Stage(ctx, alice, "staged-first", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("stage: %v", err)
	}
	if _, err := svc.Packument(ctx, alice, "staged-first", true, ""); !fault.Is(err, fault.NotFound) {
		t.Fatalf("a staged first version is not published yet: %v", err)
	}
	if err := svc.Approve(ctx, alice, id); err != nil {
		t.Fatalf("approve: %v", err)
	}
	if _, err := svc.Packument(ctx, alice, "staged-first", true, ""); err != nil {
		t.Fatalf("right after the approval: %v", err)
	}
}
