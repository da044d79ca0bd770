// Package blob stores tarballs as content-addressed blobs, keyed by the
// SHA-512 of their bytes, in any gocloud.dev/blob bucket: a folder by default.
package blob

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
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
	return keyPrefix + h[:2] + "/" + h[2:]
}

// KeyOf returns the content address of data.
func KeyOf(data []byte) string { return Key(sha512.Sum512(data)) }

// Put stores data under key. Writing the same content twice is harmless.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	return s.Write(ctx, key, bytes.NewReader(data))
}

// Write stores what r yields under key. The blob appears whole or not at
// all: when r fails or ctx ends before the end, the write is abandoned and
// nothing is stored under key (an earlier blob there stays as it was).
func (s *Store) Write(ctx context.Context, key string, r io.Reader) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.bucket.NewWriter(wctx, key, &blob.WriterOptions{ContentType: "application/octet-stream"})
	if err != nil {
		return fmt.Errorf("write blob %s: %w", key, err)
	}
	if _, err := io.Copy(w, r); err != nil {
		// Cancelling before Close is how a gocloud write is abandoned:
		// Close then stores nothing.
		cancel()
		_ = w.Close()
		return fmt.Errorf("write blob %s: %w", key, err)
	}
	if err := w.Close(); err != nil {
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
	return &reader{r: r}, nil
}

// reader makes every backend behave alike at the end of a blob: reading
// there gives io.EOF (S3 would answer a range past the end with 416), and
// seeking past it stops at it.
type reader struct {
	r   *blob.Reader
	pos int64
}

func (r *reader) Read(p []byte) (int, error) {
	if r.pos >= r.r.Size() {
		return 0, io.EOF
	}
	n, err := r.r.Read(p)
	r.pos += int64(n)
	return n, err
}

func (r *reader) Seek(offset int64, whence int) (int64, error) {
	target := offset
	switch whence {
	case io.SeekCurrent:
		target += r.pos
	case io.SeekEnd:
		target += r.r.Size()
	case io.SeekStart:
	default:
		return r.pos, fmt.Errorf("seek: invalid whence %d", whence)
	}
	if target < 0 {
		return r.pos, fmt.Errorf("seek to %d: before the start of the blob", target)
	}
	target = min(target, r.r.Size())
	pos, err := r.r.Seek(target, io.SeekStart)
	if err != nil {
		return r.pos, err
	}
	r.pos = pos
	return pos, nil
}

func (r *reader) Close() error       { return r.r.Close() }
func (r *reader) Size() int64        { return r.r.Size() }
func (r *reader) ModTime() time.Time { return r.r.ModTime() }

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

// Attributes are what List and Stat tell about a blob.
type Attributes struct {
	Size    int64
	ModTime time.Time
}

// Stat returns the size and modification time of the blob at key; a
// missing blob is a NotFound fault.
func (s *Store) Stat(ctx context.Context, key string) (Attributes, error) {
	a, err := s.bucket.Attributes(ctx, key)
	if err != nil {
		if gcerrors.Code(err) == gcerrors.NotFound {
			return Attributes{}, fault.Wrap(fault.NotFound, err, "Not found")
		}
		return Attributes{}, fmt.Errorf("stat blob %s: %w", key, err)
	}
	return Attributes{Size: a.Size, ModTime: a.ModTime}, nil
}

// List calls fn for every blob whose key starts with prefix, in key order,
// a page at a time, so memory does not grow with the number of blobs. fn
// may delete the blob it is given. An error from fn stops the listing and
// is returned as is.
//
// On a folder store, a write in flight (or cut short by a crash) shows as
// KEY.HEX.tmp, the temporary file it is renamed from.
func (s *Store) List(ctx context.Context, prefix string, fn func(key string, a Attributes) error) error {
	it := s.bucket.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list blobs under %q: %w", prefix, err)
		}
		if obj.IsDir {
			continue
		}
		if err := fn(obj.Key, Attributes{Size: obj.Size, ModTime: obj.ModTime}); err != nil {
			return err
		}
	}
}

// check asks the bucket for one key, to learn early that it answers.
func (s *Store) check(ctx context.Context) error {
	_, _, err := s.bucket.ListPage(ctx, blob.FirstPageToken, 1, nil)
	if err != nil {
		return err
	}
	return nil
}

// keyPrefix starts every content address.
const keyPrefix = "sha512/"

// KeyPrefix is what every content address (Key) starts with; listing it
// lists every tarball.
func KeyPrefix() string { return keyPrefix }

// IsKey reports whether key has the shape of a content address from Key:
// "sha512/" then the digest's 128 lower-case hex digits, split after two.
func IsKey(key string) bool {
	rest, ok := strings.CutPrefix(key, keyPrefix)
	if !ok || len(rest) != 129 || rest[2] != '/' {
		return false
	}
	return isLowerHex(rest[:2]) && isLowerHex(rest[3:])
}

// IsLeftover reports whether key is the temporary file of a folder store's
// write to a content address (KEY.HEX.tmp), and returns that content address.
// A leftover older than any write in flight was cut short by a crash.
func IsLeftover(key string) (string, bool) {
	rest, ok := strings.CutSuffix(key, ".tmp")
	if !ok {
		return "", false
	}
	i := strings.LastIndexByte(rest, '.')
	if i < 0 || i == len(rest)-1 || !isLowerHex(rest[i+1:]) || !IsKey(rest[:i]) {
		return "", false
	}
	return rest[:i], true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return s != ""
}
