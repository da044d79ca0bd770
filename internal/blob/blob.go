// Package blob stores tarballs as content-addressed blobs, keyed by the
// SHA-512 of their bytes, in any gocloud.dev/blob bucket: a folder by default.
package blob

import (
	"context"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/gcerrors"
)

// Store holds blobs in a bucket.
type Store struct {
	bucket *blob.Bucket
	dir    string // the folder of a folder-backed store, for Ping; empty otherwise
}

// OpenFolder opens (creating it if needed) a folder-backed store. Writes go to
// a temporary file first and are renamed into place, so a crash never leaves a
// partial blob under its final name.
func OpenFolder(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create blob folder: %w", err)
	}
	b, err := fileblob.OpenBucket(dir, &fileblob.Options{NoTempDir: true, Metadata: fileblob.MetadataDontWrite})
	if err != nil {
		return nil, fmt.Errorf("open blob folder %s: %w", dir, err)
	}
	return &Store{bucket: b, dir: dir}, nil
}

// New wraps an open bucket.
func New(b *blob.Bucket) *Store { return &Store{bucket: b} }

// Close releases the bucket.
func (s *Store) Close() error { return s.bucket.Close() }

// Key returns the content address of data's SHA-512.
func Key(sum [64]byte) string {
	h := hex.EncodeToString(sum[:])
	return "sha512/" + h[:2] + "/" + h[2:]
}

// KeyOf returns the content address of data.
func KeyOf(data []byte) string { return Key(sha512.Sum512(data)) }

// Put stores data under key. Writing the same content twice is harmless.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	if err := s.bucket.WriteAll(ctx, key, data, &blob.WriterOptions{ContentType: "application/octet-stream"}); err != nil {
		return fmt.Errorf("write blob %s: %w", key, err)
	}
	return nil
}

// Reader reads one blob; it is an io.ReadSeeker so ranges can be served.
type Reader interface {
	io.ReadSeekCloser
	Size() int64
	ModTime() time.Time
}

// Open opens the blob at key; a missing blob is a NotFound fault.
func (s *Store) Open(ctx context.Context, key string) (Reader, error) {
	r, err := s.bucket.NewReader(ctx, key, nil)
	if err != nil {
		if gcerrors.Code(err) == gcerrors.NotFound {
			return nil, fault.Wrap(fault.NotFound, err, "Not found")
		}
		return nil, fmt.Errorf("open blob %s: %w", key, err)
	}
	return r, nil
}

// Delete removes the blob at key; a missing blob is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	err := s.bucket.Delete(ctx, key)
	if err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("delete blob %s: %w", key, err)
	}
	return nil
}

// Exists reports whether a blob is stored at key.
func (s *Store) Exists(ctx context.Context, key string) (bool, error) {
	ok, err := s.bucket.Exists(ctx, key)
	if err != nil {
		return false, fmt.Errorf("check blob %s: %w", key, err)
	}
	return ok, nil
}
