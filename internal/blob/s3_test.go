package blob

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/minio/minio-go/v7"
)

// testBucket opens the bucket GATEHOUSE_TEST_S3 names under a fresh prefix
// (blobtest does this for the package's external tests, but this package's
// own tests cannot import it); it fails on CI without one.
func testBucket(t *testing.T) *bucket {
	t.Helper()
	raw := os.Getenv("GATEHOUSE_TEST_S3")
	if raw == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("GATEHOUSE_TEST_S3 is empty on CI: the S3 blob store must be tested")
		}
		t.Skip("GATEHOUSE_TEST_S3 is empty: run scripts/s3-test-server.sh to test on S3")
	}
	loc, err := ParseLocation(raw, "")
	if err != nil {
		t.Fatal(err)
	}
	loc.Prefix += "test-" + rand.Text()[:16] + "/"
	b, err := openBucket(loc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// errPartWay is the failure of a client that goes away part way.
var errPartWay = errors.New("client went away")

type failAfter struct {
	r io.Reader
}

func (f failAfter) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if errors.Is(err, io.EOF) {
		return n, errPartWay
	}
	return n, err
}

// TestS3AbortsFailedUploads shows that a multipart upload whose reader
// fails, or whose context ends, is aborted: no parts are left behind in the
// bucket (where they would cost storage while no listing of keys shows them).
func TestS3AbortsFailedUploads(t *testing.T) {
	b := testBucket(t)
	s := &Store{b: b}
	ctx := t.Context()
	data := bytes.Repeat([]byte("gatehouse"), 2*partSize/9)
	key := KeyOf(data)
	if err := s.Write(ctx, key, failAfter{bytes.NewReader(data)}); !errors.Is(err, errPartWay) {
		t.Fatalf("Write with a failing reader = %v, want %v", err, errPartWay)
	}
	cctx, cancel := context.WithCancel(ctx)
	r := io.MultiReader(bytes.NewReader(data[:partSize+100]), readFunc(func([]byte) (int, error) {
		cancel()
		return 0, nil
	}), bytes.NewReader(data[partSize+100:]))
	if err := s.Write(cctx, key, r); err == nil {
		t.Fatal("Write whose context ended part way succeeded")
	}
	if ok, err := s.Exists(ctx, key); err != nil || ok {
		t.Fatalf("after failed writes Exists = %v, %v; want false", ok, err)
	}
	// An upload left open on purpose shows that the listing sees them.
	open, err := b.core.NewMultipartUpload(ctx, b.name, b.prefix+"open", minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	uploads, err := b.core.ListMultipartUploads(ctx, b.name, b.prefix, "", "", "", 100)
	if err != nil {
		t.Fatalf("list multipart uploads: %v", err)
	}
	seen := false
	for _, u := range uploads.Uploads {
		if u.UploadID == open {
			seen = true
			if err := b.core.AbortMultipartUpload(ctx, b.name, u.Key, u.UploadID); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Errorf("upload %s of %s was left behind", u.UploadID, u.Key)
		_ = b.core.AbortMultipartUpload(ctx, b.name, u.Key, u.UploadID)
	}
	if !seen {
		t.Fatal("the upload left open on purpose is not listed: the check above proves nothing")
	}
	// A multipart write that succeeds leaves no upload either, and the
	// blob reads back whole.
	if err := s.Put(ctx, key, data); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Delete(context.Background(), key) })
	got, err := s.ReadAll(ctx, key)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes (%v), want the %d put", len(got), err, len(data))
	}
	uploads, err = b.core.ListMultipartUploads(ctx, b.name, b.prefix, "", "", "", 100)
	if err != nil || len(uploads.Uploads) != 0 {
		t.Errorf("after a successful write: uploads %v, %v; want none", uploads.Uploads, err)
	}
}

type readFunc func([]byte) (int, error)

func (f readFunc) Read(p []byte) (int, error) { return f(p) }
