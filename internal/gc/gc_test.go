package gc

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/blob"
	"github.com/gatehouse-registry/gatehouse/internal/blob/blobtest"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// fixture is a SQLite store and a blob store with one package to hang
// versions on.
type fixture struct {
	t     *testing.T
	store *store.Store
	blobs *blob.Store
	pkgID int64
	n     int // versions made so far, for their numbers
}

func newFixture(t *testing.T, b blobtest.Backend) *fixture {
	t.Helper()
	st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	p, err := st.Q().CreatePackage(t.Context(), store.Package{Name: "demo", Access: "public", CreatedAt: 1, ModifiedAt: 1})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, store: st, blobs: b.Open(t), pkgID: p.ID}
}

// blob stores random bytes and returns their content address.
func (f *fixture) blob(size int) string {
	f.t.Helper()
	data := make([]byte, size)
	_, _ = rand.Read(data)
	key := blob.KeyOf(data)
	if err := f.blobs.Put(f.t.Context(), key, data); err != nil {
		f.t.Fatal(err)
	}
	return key
}

// reference makes a new version of the package whose tarball is key.
func (f *fixture) reference(key string) string {
	f.t.Helper()
	f.n++
	v := fmt.Sprintf("1.0.%d", f.n)
	err := f.store.Q().InsertVersion(context.Background(), store.Version{PackageID: f.pkgID, Version: v,
		Manifest: []byte(`{}`), BlobKey: key, Size: 1, PublishedAt: 1})
	if err != nil {
		f.t.Fatal(err)
	}
	return v
}

func (f *fixture) exists(key string) bool {
	f.t.Helper()
	ok, err := f.blobs.Exists(f.t.Context(), key)
	if err != nil {
		f.t.Fatal(err)
	}
	return ok
}

// run collects with the clock at now and returns the summary and the keys
// reported removed.
func (f *fixture) run(now time.Time, grace time.Duration, dryRun bool) (Summary, []string) {
	f.t.Helper()
	var removed []string
	c, err := New(f.store, f.blobs, Options{Grace: grace, DryRun: dryRun, Now: func() time.Time { return now },
		Removed: func(key string, _ blob.Attributes) { removed = append(removed, key) }})
	if err != nil {
		f.t.Fatal(err)
	}
	sum, err := c.Run(f.t.Context())
	if err != nil {
		f.t.Fatalf("collect: %v", err)
	}
	slices.Sort(removed)
	return sum, removed
}

func sorted(keys ...string) []string {
	slices.Sort(keys)
	return keys
}

func TestCollect(t *testing.T) {
	blobtest.Each(t, func(t *testing.T, b blobtest.Backend) {
		f := newFixture(t, b)
		ctx := t.Context()
		used := f.blob(1000)
		f.reference(used)
		shared := f.blob(2000)
		f.reference(shared)
		gone := f.reference(shared) // a second version with the same bytes, unpublished below
		orphan := f.blob(3000)
		unpublished := f.blob(4000)
		v := f.reference(unpublished)
		leftover := f.blob(10) + ".18a2b3c4d5e6f708.tmp"
		if err := f.blobs.Put(ctx, leftover, []byte("half a tarball")); err != nil {
			t.Fatal(err)
		}
		foreign := blob.KeyPrefix() + "not-a-content-address"
		if err := f.blobs.Put(ctx, foreign, []byte("someone else's")); err != nil {
			t.Fatal(err)
		}
		leftoverOf, _ := blob.IsLeftover(leftover)
		// Unpublishing removes versions, never blobs.
		for _, ver := range []string{v, gone} {
			if err := f.store.Q().DeleteVersion(ctx, f.pkgID, ver); err != nil {
				t.Fatal(err)
			}
		}
		all := []string{used, shared, orphan, unpublished, leftover, leftoverOf, foreign}

		// Everything was just written: within the grace period, nothing goes.
		sum, removed := f.run(time.Now(), time.Hour, false)
		want := Summary{Seen: 6, SeenBytes: 1000 + 2000 + 3000 + 4000 + 14 + 10, Referenced: 2, Young: 4, Foreign: 1}
		if sum != want || len(removed) != 0 {
			t.Fatalf("within the grace period: %+v, removed %q; want %+v and nothing removed", sum, removed, want)
		}
		for _, k := range all {
			if !f.exists(k) {
				t.Fatalf("%s was removed within the grace period", k)
			}
		}

		// Two hours later, a dry run says what would go and removes nothing.
		later := time.Now().Add(2 * time.Hour)
		sum, removed = f.run(later, time.Hour, true)
		wantGone := sorted(orphan, unpublished, leftover, leftoverOf)
		want = Summary{Seen: 6, SeenBytes: want.SeenBytes, Referenced: 2, Removed: 4, Freed: 3000 + 4000 + 14 + 10, Foreign: 1}
		if sum != want || !slices.Equal(removed, wantGone) {
			t.Fatalf("dry run: %+v, removed %q; want %+v and %q", sum, removed, want, wantGone)
		}
		for _, k := range all {
			if !f.exists(k) {
				t.Fatalf("the dry run removed %s", k)
			}
		}

		// The real run removes exactly those, and keeps the referenced ones.
		sum, removed = f.run(later, time.Hour, false)
		if sum != want || !slices.Equal(removed, wantGone) {
			t.Fatalf("collection: %+v, removed %q; want %+v and %q", sum, removed, want, wantGone)
		}
		for _, k := range all {
			if f.exists(k) == slices.Contains(wantGone, k) {
				t.Errorf("after the collection %s exists = %v", k, f.exists(k))
			}
		}
		r, err := f.blobs.Open(ctx, shared)
		if err != nil {
			t.Fatalf("the blob a remaining version shares: %v", err)
		}
		r.Close()

		// A second run finds nothing more to do.
		sum, removed = f.run(later, time.Hour, false)
		want = Summary{Seen: 2, SeenBytes: 3000, Referenced: 2, Foreign: 1}
		if sum != want || len(removed) != 0 {
			t.Fatalf("second collection: %+v, removed %q; want %+v", sum, removed, want)
		}
	})
}

// TestCollectRechecks races a publish against the collection: between the
// listing and the deletion, the candidate gets a version, or is written
// again by a retried publish, and must stay.
func TestCollectRechecks(t *testing.T) {
	blobtest.Each(t, func(t *testing.T, b blobtest.Backend) {
		f := newFixture(t, b)
		// Blobs are listed in key order; the rewritten one comes last, so
		// that the clock the rewrite moves judges no other blob.
		keys := sorted(f.blob(100), f.blob(100), f.blob(100))
		committed, orphan, rewritten := keys[0], keys[1], keys[2]

		now := time.Now().Add(2 * time.Hour)
		c, err := New(f.store, f.blobs, Options{Grace: time.Hour, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		c.beforeRecheck = func(key string) {
			switch key {
			case committed:
				f.reference(committed)
			case rewritten:
				// The retried publish writes the same bytes again, at the
				// clock's present.
				now = time.Now()
				r, err := f.blobs.Open(t.Context(), rewritten)
				if err != nil {
					t.Fatal(err)
				}
				var buf bytes.Buffer
				_, _ = buf.ReadFrom(r)
				r.Close()
				if err := f.blobs.Put(t.Context(), rewritten, buf.Bytes()); err != nil {
					t.Fatal(err)
				}
			}
		}
		sum, err := c.Run(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{committed, rewritten} {
			if !f.exists(k) {
				t.Errorf("%s was removed though a publish used it during the collection", k)
			}
		}
		if f.exists(orphan) {
			t.Error("the orphan nobody touched was kept")
		}
		want := Summary{Seen: 3, SeenBytes: 300, Referenced: 1, Young: 1, Removed: 1, Freed: 100}
		if sum != want {
			t.Errorf("summary %+v, want %+v", sum, want)
		}
	})
}

// TestCollectManyBlobs crosses several database batches and listing pages.
func TestCollectManyBlobs(t *testing.T) {
	blobtest.Each(t, func(t *testing.T, b blobtest.Backend) {
		f := newFixture(t, b)
		const n = 2*batchSize + 37
		var kept, orphans []string
		for i := range n {
			k := f.blob(16)
			if i%3 == 0 {
				orphans = append(orphans, k)
			} else {
				f.reference(k)
				kept = append(kept, k)
			}
		}
		sum, removed := f.run(time.Now().Add(2*time.Hour), time.Hour, false)
		slices.Sort(orphans)
		want := Summary{Seen: n, SeenBytes: 16 * n, Referenced: len(kept), Removed: len(orphans), Freed: int64(16 * len(orphans))}
		if sum != want || !slices.Equal(removed, orphans) {
			t.Fatalf("summary %+v with %d removed, want %+v", sum, len(removed), want)
		}
		var left []string
		err := f.blobs.List(t.Context(), "", func(key string, _ blob.Attributes) error {
			left = append(left, key)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(kept)
		if !slices.Equal(left, kept) {
			t.Errorf("%d blobs left, want the %d referenced", len(left), len(kept))
		}
	})
}

func TestNegativeGrace(t *testing.T) {
	if _, err := New(nil, nil, Options{Grace: -time.Second}); err == nil {
		t.Error("a negative grace period was accepted")
	}
}
