// Package blob stores tarballs as content-addressed blobs, keyed by the
// SHA-512 of their bytes: in a folder by default (folder.go, the standard
// library alone), or in an S3-compatible bucket (s3.go).
package blob

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// Store holds blobs in a backend: a folder or an S3 bucket.
type Store struct {
	b backend
}

// backend is what a kind of blob storage provides; Store adds the key
// checks, the error context and the common behaviour on top. Every backend
// passes the conformance suite (conformance_test.go).
type backend interface {
	// write stores what r yields under key, whole or not at all. size is
	// r's length when known, else -1.
	write(ctx context.Context, key string, r io.Reader, size int64) error
	// open opens the blob at key; a missing blob is a NotFound fault.
	open(ctx context.Context, key string) (Reader, error)
	// stat returns the blob's attributes; a missing blob is a NotFound fault.
	stat(ctx context.Context, key string) (Attributes, error)
	// delete removes the blob at key; a missing blob is not an error.
	delete(ctx context.Context, key string) error
	// list calls fn for every blob whose key starts with prefix, in key
	// order; fn may delete the blob it is given.
	list(ctx context.Context, prefix string, fn func(key string, a Attributes) error) error
	// ping checks cheaply that the backend answers.
	ping(ctx context.Context) error
	close() error
}

// Close releases the store.
func (s *Store) Close() error { return s.b.close() }

// Key returns the content address of data's SHA-512.
func Key(sum [64]byte) string {
	h := hex.EncodeToString(sum[:])
	return keyPrefix + h[:2] + "/" + h[2:]
}

// KeyOf returns the content address of data.
func KeyOf(data []byte) string { return Key(sha512.Sum512(data)) }

// checkKey refuses keys that are not slash-separated relative names (empty
// elements, "." or "..", a leading or trailing slash): in a folder such a
// key could name a file outside the store.
func checkKey(key string) error {
	if key == "." || !fs.ValidPath(key) {
		return fmt.Errorf("invalid blob key %q", key)
	}
	return nil
}

// Put stores data under key. Writing the same content twice is harmless.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	return s.write(ctx, key, bytes.NewReader(data), int64(len(data)))
}

// Write stores what r yields under key. The blob appears whole or not at
// all: when r fails or ctx ends before the end, the write is abandoned and
// nothing is stored under key (an earlier blob there stays as it was).
func (s *Store) Write(ctx context.Context, key string, r io.Reader) error {
	return s.write(ctx, key, r, -1)
}

// WriteSized is Write for a reader of a known size: an S3 bucket then needs
// no buffer of its own to learn it.
func (s *Store) WriteSized(ctx context.Context, key string, r io.Reader, size int64) error {
	return s.write(ctx, key, r, size)
}

func (s *Store) write(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := s.b.write(ctx, key, &contextReader{ctx: ctx, r: r}, size); err != nil {
		return fmt.Errorf("write blob %s: %w", key, err)
	}
	return nil
}

// contextReader fails its reads once ctx has ended, so a write whose
// context ends part way stops reading and is abandoned.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Reader reads one blob; it is an io.ReadSeeker so ranges can be served.
// Reading at the end gives io.EOF, and seeking past the end stops there,
// on every backend.
//
// A folder store's Reader also implements syscall.Conn with the open
// file's descriptor, which is what net's sendfile(2) path asks of a source:
// http.ServeContent given it, with the http.ResponseWriter net/http made
// (or a wrapper that passes io.ReaderFrom through), sends the file from the
// kernel's page cache without copying it through user space.
type Reader interface {
	io.ReadSeekCloser
	Size() int64
	ModTime() time.Time
}

// Open opens the blob at key; a missing blob is a NotFound fault.
func (s *Store) Open(ctx context.Context, key string) (Reader, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	r, err := s.b.open(ctx, key)
	if err != nil {
		return nil, wrap(err, "open blob %s", key)
	}
	return r, nil
}

// wrap adds context to err, keeping a NotFound fault's public message.
func wrap(err error, format string, args ...any) error {
	if fault.Is(err, fault.NotFound) {
		return fault.Wrap(fault.NotFound, fmt.Errorf(format+": %w", append(args, err)...), "Not found")
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

// notFound marks err, a backend's answer for a missing blob, as a NotFound fault.
func notFound(err error) error { return fault.Wrap(fault.NotFound, err, "Not found") }

// Delete removes the blob at key; a missing blob is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := s.b.delete(ctx, key); err != nil {
		return fmt.Errorf("delete blob %s: %w", key, err)
	}
	return nil
}

// Exists reports whether a blob is stored at key.
func (s *Store) Exists(ctx context.Context, key string) (bool, error) {
	_, err := s.Stat(ctx, key)
	if fault.Is(err, fault.NotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}

// Attributes are what List and Stat tell about a blob.
type Attributes struct {
	Size    int64
	ModTime time.Time
}

// Stat returns the size and modification time of the blob at key; a
// missing blob is a NotFound fault.
func (s *Store) Stat(ctx context.Context, key string) (Attributes, error) {
	if err := checkKey(key); err != nil {
		return Attributes{}, err
	}
	a, err := s.b.stat(ctx, key)
	if err != nil {
		return Attributes{}, wrap(err, "stat blob %s", key)
	}
	return a, nil
}

// ReadAll reads the whole blob at key; a missing blob is a NotFound fault.
func (s *Store) ReadAll(ctx context.Context, key string) ([]byte, error) {
	r, err := s.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data := make([]byte, r.Size())
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, fmt.Errorf("read blob %s: %w", key, err)
	}
	return data, nil
}

// errStopList carries an error from List's callback through a backend.
var errStopList = errors.New("listing stopped by its callback")

// List calls fn for every blob whose key starts with prefix, in key order,
// a page (on a folder store: a folder) at a time, so memory does not grow
// with the number of blobs. fn may delete the blob it is given. An error
// from fn stops the listing and is returned as is.
//
// On a folder store, a write in flight (or cut short by a crash) shows as
// KEY.HEX.tmp, the temporary file it is renamed from.
func (s *Store) List(ctx context.Context, prefix string, fn func(key string, a Attributes) error) error {
	var stop error
	err := s.b.list(ctx, prefix, func(key string, a Attributes) error {
		if err := fn(key, a); err != nil {
			stop = err
			return errStopList
		}
		return nil
	})
	if stop != nil {
		return stop
	}
	if err != nil {
		return fmt.Errorf("list blobs under %q: %w", prefix, err)
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

// SumOf returns the SHA-512 a content address (Key) names.
func SumOf(key string) ([64]byte, error) {
	var sum [64]byte
	if !IsKey(key) {
		return sum, fmt.Errorf("%q is not a content address", key)
	}
	rest := strings.TrimPrefix(key, keyPrefix)
	if _, err := hex.Decode(sum[:], []byte(rest[:2]+rest[3:])); err != nil {
		return sum, fmt.Errorf("decode content address %q: %w", key, err)
	}
	return sum, nil
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
