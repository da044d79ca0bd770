package blob_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/blob"
)

// sendfileSpy wraps net/http's ResponseWriter and records whether what
// ReadFrom is handed is a source net's sendfile path takes: an
// *io.LimitedReader (from io.CopyN) around a syscall.Conn.
type sendfileSpy struct {
	http.ResponseWriter
	sendfile bool
}

func (s *sendfileSpy) ReadFrom(src io.Reader) (int64, error) {
	if lr, ok := src.(*io.LimitedReader); ok {
		_, s.sendfile = lr.R.(syscall.Conn)
	}
	return s.ResponseWriter.(io.ReaderFrom).ReadFrom(src)
}

// TestFolderBlobSendfile shows that a folder blob served with
// http.ServeContent, whole and in ranges, reaches net/http's ReadFrom as a
// syscall.Conn: the source net's sendfile(2) path takes (net/sendfile.go).
// docs/benchmarks.md shows the sendfile calls themselves, with strace.
func TestFolderBlobSendfile(t *testing.T) {
	s, err := blob.OpenFolder(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := randomBytes(t, 3<<20+17)
	key := blob.KeyOf(data)
	if err := s.Put(t.Context(), key, data); err != nil {
		t.Fatal(err)
	}
	var spy *sendfileSpy
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		br, err := s.Open(r.Context(), key)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer br.Close()
		spy = &sendfileSpy{ResponseWriter: w}
		http.ServeContent(spy, r, "", br.ModTime(), br)
	}))
	defer srv.Close()

	for _, c := range []struct {
		rng  string
		want []byte
	}{
		{"", data},
		{"bytes=1000-", data[1000:]},
		{fmt.Sprintf("bytes=%d-%d", 1<<20, 2<<20), data[1<<20 : 2<<20+1]},
	} {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		if c.rng != "" {
			req.Header.Set("Range", c.rng)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, c.want) {
			t.Fatalf("Range %q: got %d bytes that differ from the %d wanted", c.rng, len(got), len(c.want))
		}
		if !spy.sendfile {
			t.Errorf("Range %q: ReadFrom was not handed a syscall.Conn: the blob is copied through user space", c.rng)
		}
	}
}

// hidden hides every method of a blob.Reader but its own, as a wrapper
// around the file would: the copy then goes through user space.
type hidden struct{ blob.Reader }

// BenchmarkServeFolderBlob serves an 8 MiB folder blob over loopback HTTP
// with http.ServeContent: "sendfile" as the store opens it, "copy" through
// a wrapper that hides its file, so net/http copies it with read and write.
func BenchmarkServeFolderBlob(b *testing.B) {
	s, err := blob.OpenFolder(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 8<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	key := blob.KeyOf(data)
	if err := s.Put(b.Context(), key, data); err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"sendfile", "copy"} {
		b.Run(mode, func(b *testing.B) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				br, err := s.Open(r.Context(), key)
				if err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				defer br.Close()
				var content io.ReadSeeker = br
				if mode == "copy" {
					content = hidden{br}
				}
				http.ServeContent(w, r, "", br.ModTime(), content)
			}))
			defer srv.Close()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				res, err := http.Get(srv.URL)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if err != nil || n != int64(len(data)) {
					b.Fatalf("read %d bytes (%v), want %d", n, err, len(data))
				}
			}
		})
	}
}
