package blob

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// assertPings checks that Ping on s, described by what, answers nil, and
// an error once its context is cancelled.
func assertPings(t *testing.T, s *Store, what string) {
	t.Helper()
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping on %s = %v, want nil", what, err)
	}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Ping(cancelled); err == nil {
		t.Error("Ping with a cancelled context = nil, want an error")
	}
}

func TestPingFolder(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "tarballs")
	s, err := OpenFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping on a fresh, empty store = %v, want nil", err)
	}
	data := []byte("a tarball")
	if err := s.Put(ctx, KeyOf(data), data); err != nil {
		t.Fatal(err)
	}
	assertPings(t, s, "a store holding a blob")
	if os.Geteuid() != 0 { // root reads anything
		if err := os.Chmod(dir, 0o000); err != nil {
			t.Fatal(err)
		}
		err := s.Ping(ctx)
		_ = os.Chmod(dir, 0o750)
		if err == nil {
			t.Error("Ping on an unreadable folder = nil, want an error")
		}
	}
	// The folder removed from under the running store, then a file in its place.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping after the folder was removed = nil, want an error")
	}
	if err := os.WriteFile(dir, []byte("not a folder"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping with a file in place of the folder = nil, want an error")
	}
}

// TestPingBucket checks Ping on an S3 store: nil while the bucket answers,
// an error for a bucket that does not exist or a refused credential. It
// runs on the bucket GATEHOUSE_TEST_S3 names (see blobtest, which this
// package's own tests cannot import), and fails on CI without one.
func TestPingBucket(t *testing.T) {
	raw := os.Getenv("GATEHOUSE_TEST_S3")
	if raw == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("GATEHOUSE_TEST_S3 is empty on CI: the S3 blob store must be tested")
		}
		t.Skip("GATEHOUSE_TEST_S3 is empty: run scripts/s3-test-server.sh to test on S3")
	}
	ctx := context.Background()
	loc, err := ParseLocation(raw, "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenLocation(ctx, loc)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	assertPings(t, s, "an open bucket")

	// A store over a bucket that does not exist (opened without the check
	// that OpenLocation makes, as if it were removed after the start).
	gone := loc
	gone.Bucket = "gatehouse-no-such-bucket"
	b, err := openBucket(gone)
	if err != nil {
		t.Fatal(err)
	}
	if err := (&Store{b: b}).Ping(ctx); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Ping on a missing bucket = %v, want an error saying it does not exist", err)
	}

	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-9d2f")
	b, err = openBucket(loc)
	if err != nil {
		t.Fatal(err)
	}
	err = (&Store{b: b}).Ping(ctx)
	if err == nil {
		t.Error("Ping with a wrong secret key = nil, want an error")
	} else if strings.Contains(err.Error(), "wrong-secret-9d2f") {
		t.Errorf("the error holds the secret key: %v", err)
	}
}
