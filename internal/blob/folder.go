package blob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// folder keeps each blob as a plain file at its key's path under dir, so
// the folder can be copied into a bucket as it is.
type folder struct {
	dir string
}

// OpenFolder opens (creating it if needed) a folder-backed store. A write
// goes to a temporary file beside its blob, is synced, and is renamed into
// place, and the folder is synced: a crash never leaves a partial blob under
// its final name, and a blob written is on disk when the write returns.
func OpenFolder(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create blob folder: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("open blob folder %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("open blob folder %s: not a folder", dir)
	}
	return &Store{b: &folder{dir: dir}}, nil
}

// path is the file of key, which checkKey has accepted.
func (f *folder) path(key string) string { return filepath.Join(f.dir, filepath.FromSlash(key)) }

func (f *folder) write(ctx context.Context, key string, r io.Reader, _ int64) (err error) {
	path := f.path(key)
	dir := filepath.Dir(path)
	if err := f.mkdirs(dir); err != nil {
		return err
	}
	tmp, err := createTemp(path)
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				_ = tmp.Close()
			}
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := io.Copy(tmp, r); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp.Name(), err)
	}
	closed = true
	if err := tmp.Close(); err != nil {
		return err
	}
	// The context may have ended after the last read: abandon the write.
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

// createTemp creates path.HEX.tmp, a new file only this write uses (IsLeftover
// recognises the name, so gc can remove one a crash left behind).
func createTemp(path string) (*os.File, error) {
	for range 10 {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		name := path + "." + hex.EncodeToString(b[:]) + ".tmp"
		file, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return file, err
	}
	return nil, fmt.Errorf("create a temporary file beside %s: names taken", path)
}

// mkdirs creates dir and its missing parents under the store's folder,
// syncing each parent a folder is created in, so the new folder survives a
// crash along with the blob in it.
func (f *folder) mkdirs(dir string) error {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a folder", dir)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) || dir == f.dir {
		return err
	}
	parent := filepath.Dir(dir)
	if err := f.mkdirs(parent); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(parent)
}

// syncDir makes a folder's entries (a rename, a new file) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	return nil
}

// missing reports whether err says a path does not exist (or passes
// through a file, where a folder was expected).
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func (f *folder) open(_ context.Context, key string) (Reader, error) {
	file, err := os.Open(f.path(key))
	if err != nil {
		if missing(err) {
			return nil, notFound(err)
		}
		return nil, err
	}
	fi, err := file.Stat()
	if err != nil {
		_ = file.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		_ = file.Close()
		return nil, notFound(fmt.Errorf("%s is not a file", file.Name()))
	}
	return &fileReader{f: file, size: fi.Size(), modTime: fi.ModTime()}, nil
}

// fileReader reads a folder store's blob straight from its *os.File. Read,
// Seek and sendfile(2) share the descriptor's offset, so a range served by
// http.ServeContent (a Seek, then a copy) sends the right bytes either way.
type fileReader struct {
	f       *os.File
	size    int64
	modTime time.Time
}

func (r *fileReader) Read(p []byte) (int, error) { return r.f.Read(p) }

// Seek moves within the blob; seeking past the end stops at the end.
func (r *fileReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		pos, err := r.f.Seek(0, io.SeekCurrent)
		if err != nil {
			return 0, err
		}
		offset += pos
	case io.SeekEnd:
		offset += r.size
	default:
		return 0, fmt.Errorf("seek: invalid whence %d", whence)
	}
	if offset < 0 {
		return 0, fmt.Errorf("seek to %d: before the start of the blob", offset)
	}
	return r.f.Seek(min(offset, r.size), io.SeekStart)
}

func (r *fileReader) Close() error       { return r.f.Close() }
func (r *fileReader) Size() int64        { return r.size }
func (r *fileReader) ModTime() time.Time { return r.modTime }

// SyscallConn gives the file's descriptor, which lets net/http send the
// blob with sendfile(2) (see Reader).
func (r *fileReader) SyscallConn() (syscall.RawConn, error) { return r.f.SyscallConn() }

func (f *folder) stat(_ context.Context, key string) (Attributes, error) {
	fi, err := os.Stat(f.path(key))
	if err != nil {
		if missing(err) {
			return Attributes{}, notFound(err)
		}
		return Attributes{}, err
	}
	if !fi.Mode().IsRegular() {
		return Attributes{}, notFound(fmt.Errorf("%s is not a file", f.path(key)))
	}
	return Attributes{Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

func (f *folder) delete(_ context.Context, key string) error {
	path := f.path(key)
	fi, err := os.Lstat(path)
	if err != nil {
		if missing(err) {
			return nil
		}
		return err
	}
	if fi.IsDir() {
		return nil // a folder of keys, not a blob
	}
	if err := os.Remove(path); err != nil && !missing(err) {
		return err
	}
	return nil
}

// list walks the folders the prefix can reach, one folder's entries in
// memory at a time, in key order: within a folder, a subfolder sorts as its
// name followed by "/", as its keys do.
func (f *folder) list(ctx context.Context, prefix string, fn func(key string, a Attributes) error) error {
	start := prefix[:strings.LastIndexByte(prefix, '/')+1]
	if start != "" && checkKey(strings.TrimSuffix(start, "/")) != nil {
		return nil // no key can start with this prefix
	}
	return f.walk(ctx, start, prefix, fn)
}

// walk lists the folder of keys starting with rel ("" or ending in "/").
func (f *folder) walk(ctx context.Context, rel, prefix string, fn func(key string, a Attributes) error) error {
	entries, err := os.ReadDir(filepath.Join(f.dir, filepath.FromSlash(rel)))
	if err != nil {
		if missing(err) {
			return nil // the folder is gone, or never was
		}
		return err
	}
	sortName := func(e fs.DirEntry) string {
		if e.IsDir() {
			return e.Name() + "/"
		}
		return e.Name()
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(sortName(a), sortName(b)) })
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		key := rel + e.Name()
		switch {
		case e.IsDir():
			sub := key + "/"
			if strings.HasPrefix(sub, prefix) || strings.HasPrefix(prefix, sub) {
				if err := f.walk(ctx, sub, prefix, fn); err != nil {
					return err
				}
			}
		case e.Type().IsRegular() && strings.HasPrefix(key, prefix):
			fi, err := e.Info()
			if missing(err) {
				continue // deleted since the folder was read
			}
			if err != nil {
				return err
			}
			if err := fn(key, Attributes{Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
				return err
			}
		}
	}
	return nil
}

// ping checks that the folder is still there and readable (a folder removed,
// or a volume gone, fails).
func (f *folder) ping(_ context.Context) error {
	d, err := os.Open(f.dir)
	if err != nil {
		return fmt.Errorf("open the blob folder: %w", err)
	}
	defer d.Close()
	fi, err := d.Stat()
	if err != nil {
		return fmt.Errorf("stat the blob folder: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("the blob folder %s is not a folder", f.dir)
	}
	// Reading one entry proves the folder is readable, not only there.
	if _, err := d.Readdirnames(1); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read the blob folder: %w", err)
	}
	return nil
}

func (f *folder) close() error { return nil }
