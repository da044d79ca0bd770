package blob_test

import (
	"bytes"
	"context"
	"crypto/sha512"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/blob"
	"github.com/gatehouse-registry/gatehouse/internal/blob/blobtest"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

// TestStore runs the conformance suite on a folder, and on the S3-compatible
// bucket GATEHOUSE_TEST_S3 names (failing on CI when it is unset). Every test
// gets a store of its own: a fresh folder, or a fresh key prefix of the bucket.
func TestStore(t *testing.T) {
	blobtest.Each(t, func(t *testing.T, b blobtest.Backend) {
		cases := []struct {
			name string
			run  func(t *testing.T, s *blob.Store)
		}{
			{"PutOpenRead", testPutOpenRead},
			{"Ranges", testRanges},
			{"Missing", testMissing},
			{"Delete", testDelete},
			{"OverwriteSameContent", testOverwriteSameContent},
			{"List", testList},
			{"ListWhileDeleting", testListWhileDeleting},
			{"ConcurrentPuts", testConcurrentPuts},
			{"Large", testLarge},
			{"FailedWrite", testFailedWrite},
			{"CancelledWrite", testCancelledWrite},
			{"BadKeys", testBadKeys},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) { c.run(t, b.Open(t)) })
		}
	})
}

// readAll opens key and returns its bytes and reported size.
func readAll(t *testing.T, s *blob.Store, key string) ([]byte, int64) {
	t.Helper()
	r, err := s.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("open %s: %v", key, err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return got, r.Size()
}

// listAll returns every key under prefix with its attributes, in listing order.
func listAll(t *testing.T, s *blob.Store, prefix string) ([]string, map[string]blob.Attributes) {
	t.Helper()
	var keys []string
	attrs := map[string]blob.Attributes{}
	err := s.List(t.Context(), prefix, func(key string, a blob.Attributes) error {
		keys = append(keys, key)
		attrs[key] = a
		return nil
	})
	if err != nil {
		t.Fatalf("list %q: %v", prefix, err)
	}
	return keys, attrs
}

// putOpen puts data, opens it again and checks the reader's Size; the
// reader is closed when the test ends.
func putOpen(t *testing.T, s *blob.Store, data []byte) blob.Reader {
	t.Helper()
	key := blob.KeyOf(data)
	if err := s.Put(t.Context(), key, data); err != nil {
		t.Fatalf("put %d bytes: %v", len(data), err)
	}
	r, err := s.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("open %s: %v", key, err)
	}
	t.Cleanup(func() { r.Close() })
	if r.Size() != int64(len(data)) {
		t.Fatalf("Size() = %d, want %d", r.Size(), len(data))
	}
	return r
}

// near fails t unless when is within a few minutes of now (clocks of an
// S3 server and the test may differ a little).
func near(t *testing.T, what string, when time.Time) {
	t.Helper()
	if d := time.Since(when); d < -5*time.Minute || d > 5*time.Minute {
		t.Errorf("%s is %s, %s away from now", what, when, d)
	}
}

func testPutOpenRead(t *testing.T, s *blob.Store) {
	ctx := t.Context()
	for _, size := range []int{0, 1, 4096, 100_003} {
		data := testkit.RandomBytes(t, size)
		key := blob.KeyOf(data)
		if !blob.IsKey(key) {
			t.Fatalf("KeyOf gave %q, which IsKey refuses", key)
		}
		if err := s.Put(ctx, key, data); err != nil {
			t.Fatalf("put %d bytes: %v", size, err)
		}
		got, n := readAll(t, s, key)
		if !bytes.Equal(got, data) {
			t.Fatalf("read back %d bytes, want the %d put", len(got), size)
		}
		if n != int64(size) {
			t.Errorf("reader Size() = %d, want %d", n, size)
		}
		a, err := s.Stat(ctx, key)
		if err != nil {
			t.Fatalf("stat: %v", err)
		}
		if a.Size != int64(size) {
			t.Errorf("Stat size = %d, want %d", a.Size, size)
		}
		near(t, "Stat mod time", a.ModTime)
		ok, err := s.Exists(ctx, key)
		if err != nil || !ok {
			t.Errorf("Exists = %v, %v; want true", ok, err)
		}
	}
}

func testRanges(t *testing.T, s *blob.Store) {
	data := testkit.RandomBytes(t, 10_000)
	r := putOpen(t, s, data)
	near(t, "reader mod time", r.ModTime())
	steps := []struct {
		offset int64
		whence int
		n      int
		want   []byte // nil: read to the end
		pos    int64  // the position Seek must report
	}{
		{offset: 0, whence: io.SeekStart, n: 10, want: data[:10], pos: 0},
		{offset: 5000, whence: io.SeekStart, n: 100, want: data[5000:5100], pos: 5000},
		{offset: 50, whence: io.SeekCurrent, n: 7, want: data[5150:5157], pos: 5150},
		{offset: -16, whence: io.SeekEnd, want: data[len(data)-16:], pos: int64(len(data) - 16)},
		{offset: 1, whence: io.SeekStart, n: 1, want: data[1:2], pos: 1},
		{offset: 0, whence: io.SeekEnd, want: []byte{}, pos: int64(len(data))},
		{offset: 3, whence: io.SeekStart, n: 2, want: data[3:5], pos: 3},
		// Seeking past the end stops at the end, where reading gives io.EOF.
		{offset: int64(len(data)) + 500, whence: io.SeekStart, want: []byte{}, pos: int64(len(data))},
	}
	for i, st := range steps {
		pos, err := r.Seek(st.offset, st.whence)
		if err != nil {
			t.Fatalf("step %d: seek(%d, %d): %v", i, st.offset, st.whence, err)
		}
		if pos != st.pos {
			t.Fatalf("step %d: seek returned %d, want %d", i, pos, st.pos)
		}
		var got []byte
		if st.n > 0 {
			got = make([]byte, st.n)
			if _, err := io.ReadFull(r, got); err != nil {
				t.Fatalf("step %d: read %d bytes: %v", i, st.n, err)
			}
		} else {
			got, err = io.ReadAll(r)
			if err != nil {
				t.Fatalf("step %d: read to the end: %v", i, err)
			}
		}
		if !bytes.Equal(got, st.want) {
			t.Fatalf("step %d: read %d bytes that differ from bytes %d..%d", i, len(got), st.pos, int(st.pos)+len(st.want))
		}
	}
	if _, err := r.Seek(-1, io.SeekStart); err == nil {
		t.Error("seeking before the start succeeded")
	}
	if n, err := r.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("read at the end gave %d bytes, %v; want 0, io.EOF", n, err)
	}
}

func testMissing(t *testing.T, s *blob.Store) {
	ctx := t.Context()
	key := blob.KeyOf(testkit.RandomBytes(t, 32))
	if _, err := s.Open(ctx, key); !fault.Is(err, fault.NotFound) {
		t.Errorf("Open of a missing blob: %v, want a NotFound fault", err)
	}
	if _, err := s.Stat(ctx, key); !fault.Is(err, fault.NotFound) {
		t.Errorf("Stat of a missing blob: %v, want a NotFound fault", err)
	}
	ok, err := s.Exists(ctx, key)
	if err != nil || ok {
		t.Errorf("Exists of a missing blob = %v, %v; want false, nil", ok, err)
	}
	if keys, _ := listAll(t, s, ""); len(keys) != 0 {
		t.Errorf("a fresh store lists %q", keys)
	}
}

func testDelete(t *testing.T, s *blob.Store) {
	ctx := t.Context()
	keep, gone := testkit.RandomBytes(t, 100), testkit.RandomBytes(t, 200)
	for _, d := range [][]byte{keep, gone} {
		if err := s.Put(ctx, blob.KeyOf(d), d); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(ctx, blob.KeyOf(gone)); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if ok, err := s.Exists(ctx, blob.KeyOf(gone)); err != nil || ok {
		t.Errorf("Exists after Delete = %v, %v; want false", ok, err)
	}
	if _, err := s.Open(ctx, blob.KeyOf(gone)); !fault.Is(err, fault.NotFound) {
		t.Errorf("Open after Delete: %v, want a NotFound fault", err)
	}
	if err := s.Delete(ctx, blob.KeyOf(gone)); err != nil {
		t.Errorf("deleting a deleted blob: %v, want no error", err)
	}
	if err := s.Delete(ctx, blob.KeyOf(testkit.RandomBytes(t, 8))); err != nil {
		t.Errorf("deleting a blob never stored: %v, want no error", err)
	}
	if got, _ := readAll(t, s, blob.KeyOf(keep)); !bytes.Equal(got, keep) {
		t.Error("deleting one blob changed another")
	}
	if keys, _ := listAll(t, s, ""); !slices.Equal(keys, []string{blob.KeyOf(keep)}) {
		t.Errorf("after Delete the store lists %q, want only %q", keys, blob.KeyOf(keep))
	}
}

func testOverwriteSameContent(t *testing.T, s *blob.Store) {
	ctx := t.Context()
	data := testkit.RandomBytes(t, 3000)
	key := blob.KeyOf(data)
	for i := range 3 {
		if err := s.Put(ctx, key, data); err != nil {
			t.Fatalf("put #%d: %v", i+1, err)
		}
	}
	if got, n := readAll(t, s, key); !bytes.Equal(got, data) || n != int64(len(data)) {
		t.Fatalf("after three puts read %d bytes (size %d), want the %d put", len(got), n, len(data))
	}
	if keys, _ := listAll(t, s, ""); !slices.Equal(keys, []string{key}) {
		t.Errorf("after three puts of one blob the store lists %q", keys)
	}
}

func testList(t *testing.T, s *blob.Store) {
	ctx := t.Context()
	want := map[string]int64{}
	for i := range 7 {
		d := testkit.RandomBytes(t, 10+i*111)
		want[blob.KeyOf(d)] = int64(len(d))
		if err := s.Put(ctx, blob.KeyOf(d), d); err != nil {
			t.Fatal(err)
		}
	}
	// A blob outside the tarballs' prefix is listed only without a prefix.
	other := "other/" + strings.Repeat("x", 10)
	if err := s.Put(ctx, other, []byte("not a tarball")); err != nil {
		t.Fatal(err)
	}

	keys, attrs := listAll(t, s, blob.KeyPrefix())
	if len(keys) != len(want) {
		t.Fatalf("listed %d keys under %q, want %d: %q", len(keys), blob.KeyPrefix(), len(want), keys)
	}
	if !slices.IsSorted(keys) {
		t.Errorf("keys are not listed in order: %q", keys)
	}
	for _, k := range keys {
		size, ok := want[k]
		if !ok {
			t.Errorf("listed %q, which was never put", k)
			continue
		}
		if attrs[k].Size != size {
			t.Errorf("%s listed with size %d, want %d", k, attrs[k].Size, size)
		}
		near(t, "listed mod time of "+k, attrs[k].ModTime)
	}

	all, _ := listAll(t, s, "")
	if len(all) != len(want)+1 || !slices.Contains(all, other) {
		t.Errorf("listing everything gave %d keys, want %d including %q", len(all), len(want)+1, other)
	}
	one := keys[0][:len(blob.KeyPrefix())+2]
	sub, _ := listAll(t, s, one)
	for _, k := range sub {
		if !strings.HasPrefix(k, one) {
			t.Errorf("listing %q gave %q", one, k)
		}
	}
	if len(sub) == 0 {
		t.Errorf("listing %q gave nothing, though %q starts with it", one, keys[0])
	}

	// An error from the callback stops the listing and comes back as is.
	stop := errors.New("stop here")
	calls := 0
	err := s.List(ctx, blob.KeyPrefix(), func(string, blob.Attributes) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("List with a failing callback: %v after %d calls, want %v after 1", err, calls, stop)
	}
}

func testListWhileDeleting(t *testing.T, s *blob.Store) {
	ctx := t.Context()
	var put []string
	for range 12 {
		d := testkit.RandomBytes(t, 64)
		put = append(put, blob.KeyOf(d))
		if err := s.Put(ctx, blob.KeyOf(d), d); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(put)
	var seen []string
	err := s.List(ctx, blob.KeyPrefix(), func(key string, _ blob.Attributes) error {
		seen = append(seen, key)
		return s.Delete(ctx, key)
	})
	if err != nil {
		t.Fatalf("list while deleting: %v", err)
	}
	if !slices.Equal(seen, put) {
		t.Errorf("listing while deleting saw %d keys, want the %d put", len(seen), len(put))
	}
	if keys, _ := listAll(t, s, ""); len(keys) != 0 {
		t.Errorf("after deleting every listed blob the store still lists %q", keys)
	}
}

func testConcurrentPuts(t *testing.T, s *blob.Store) {
	ctx := t.Context()
	data := testkit.RandomBytes(t, 256<<10)
	key := blob.KeyOf(data)
	const writers = 8
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() { errs[i] = s.Put(ctx, key, data) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	if got, _ := readAll(t, s, key); !bytes.Equal(got, data) {
		t.Fatalf("after %d concurrent puts the blob holds %d bytes that differ from the %d put", writers, len(got), len(data))
	}
	if keys, _ := listAll(t, s, ""); !slices.Equal(keys, []string{key}) {
		t.Errorf("after %d concurrent puts of one blob the store lists %q", writers, keys)
	}
}

func testLarge(t *testing.T, s *blob.Store) {
	// Over the S3 uploader's 8 MiB part size, so it goes up in parts.
	data := testkit.RandomBytes(t, 13<<20+12345)
	r := putOpen(t, s, data)
	h := sha512.New()
	if _, err := io.Copy(h, r); err != nil {
		t.Fatalf("read: %v", err)
	}
	if got, key := blob.Key([64]byte(h.Sum(nil))), blob.KeyOf(data); got != key {
		t.Fatalf("read back content with address %s, want %s", got, key)
	}
	tail := make([]byte, 1000)
	if _, err := r.Seek(int64(len(data)-1000), io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(r, tail); err != nil || !bytes.Equal(tail, data[len(data)-1000:]) {
		t.Errorf("the last 1000 bytes read back differ (err %v)", err)
	}
}

// failingReader yields its data, then fails.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func testFailedWrite(t *testing.T, s *blob.Store) {
	ctx := t.Context()
	old := testkit.RandomBytes(t, 500)
	oldKey := blob.KeyOf(old)
	if err := s.Put(ctx, oldKey, old); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("client went away")
	for _, c := range []struct {
		name string
		key  string
		size int
	}{
		{"new key, small", blob.KeyOf(testkit.RandomBytes(t, 8)), 100_000},
		// Past the S3 uploader's part size: a multipart upload to abort.
		{"new key, multipart", blob.KeyOf(testkit.RandomBytes(t, 8)), 9 << 20},
		{"existing key", oldKey, 100_000},
	} {
		err := s.Write(ctx, c.key, &failingReader{data: testkit.RandomBytes(t, c.size), err: boom})
		if !errors.Is(err, boom) {
			t.Errorf("%s: Write with a failing reader returned %v, want %v", c.name, err, boom)
		}
	}
	keys, _ := listAll(t, s, "")
	if !slices.Equal(keys, []string{oldKey}) {
		t.Errorf("after failed writes the store lists %q, want only %q", keys, oldKey)
	}
	if got, _ := readAll(t, s, oldKey); !bytes.Equal(got, old) {
		t.Error("a failed write changed the blob already stored under its key")
	}
}

// cancellingReader yields its data, cancelling the write's context half way.
type cancellingReader struct {
	data   []byte
	cancel context.CancelFunc
	after  int
	read   int
}

func (c *cancellingReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	if c.read >= c.after {
		c.cancel()
	}
	n := copy(p[:min(len(p), 32<<10)], c.data)
	c.data = c.data[n:]
	c.read += n
	return n, nil
}

func testCancelledWrite(t *testing.T, s *blob.Store) {
	for _, size := range []int{200_000, 9 << 20} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			key := blob.KeyOf(testkit.RandomBytes(t, 8))
			err := s.Write(ctx, key, &cancellingReader{data: testkit.RandomBytes(t, size), cancel: cancel, after: size / 2})
			if err == nil {
				t.Fatal("a write whose context was cancelled half way succeeded")
			}
			if ok, err := s.Exists(t.Context(), key); err != nil || ok {
				t.Errorf("after a cancelled write Exists = %v, %v; want false", ok, err)
			}
			if keys, _ := listAll(t, s, ""); len(keys) != 0 {
				t.Errorf("after a cancelled write the store lists %q", keys)
			}
		})
	}
}

// testBadKeys shows that keys which could name something outside the store
// (a folder's parent, an absolute path) are refused by every method, and
// that nothing is written for them.
func testBadKeys(t *testing.T, s *blob.Store) {
	ctx := t.Context()
	for _, key := range []string{"", ".", "..", "../escape", "sha512/../../escape", "/abs", "a//b", "a/", "a/./b"} {
		if err := s.Put(ctx, key, []byte("x")); err == nil {
			t.Errorf("Put(%q) succeeded", key)
		}
		if r, err := s.Open(ctx, key); err == nil {
			r.Close()
			t.Errorf("Open(%q) succeeded", key)
		}
		if _, err := s.Stat(ctx, key); err == nil {
			t.Errorf("Stat(%q) succeeded", key)
		}
		if ok, err := s.Exists(ctx, key); err == nil || ok {
			t.Errorf("Exists(%q) = %v, %v; want an error", key, ok, err)
		}
		if err := s.Delete(ctx, key); err == nil {
			t.Errorf("Delete(%q) succeeded", key)
		}
	}
	if keys, _ := listAll(t, s, ""); len(keys) != 0 {
		t.Errorf("after refused writes the store lists %q", keys)
	}
}
