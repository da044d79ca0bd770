package blob

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"gocloud.dev/blob/fileblob"
)

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
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping on a store holding a blob = %v, want nil", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Ping(cancelled); err == nil {
		t.Error("Ping with a cancelled context = nil, want an error")
	}
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

// TestPingBucket checks a store over a bucket that is not a plain folder
// store (here a fileblob bucket opened directly, as New is used for S3).
func TestPingBucket(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := fileblob.OpenBucket(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := New(b)
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping on an open bucket = %v, want nil", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping on a closed bucket = nil, want an error")
	}
}
