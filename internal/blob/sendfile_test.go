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
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
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
	data := testkit.RandomBytes(t, 3<<20+17)
	var spy *sendfileSpy
	url := serveFolderBlob(t, data, func(w http.ResponseWriter, br blob.Reader) (http.ResponseWriter, io.ReadSeeker) {
		spy = &sendfileSpy{ResponseWriter: w}
		return spy, br
	})

	for _, c := range []struct {
		rng  string
		want []byte
	}{
		{"", data},
		{"bytes=1000-", data[1000:]},
		{fmt.Sprintf("bytes=%d-%d", 1<<20, 2<<20), data[1<<20 : 2<<20+1]},
	} {
		req, _ := http.NewRequest("GET", url, nil)
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
	data := make([]byte, 8<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, mode := range []string{"sendfile", "copy"} {
		b.Run(mode, func(b *testing.B) {
			url := serveFolderBlob(b, data, func(w http.ResponseWriter, br blob.Reader) (http.ResponseWriter, io.ReadSeeker) {
				if mode == "copy" {
					return w, hidden{br}
				}
				return w, br
			})
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				res, err := http.Get(url)
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

// serveFolderBlob puts data into a fresh folder store and serves it, until
// the test ends, at the URL it returns: every request opens the blob and
// answers with http.ServeContent, handing it what wrap makes of the response
// writer and the open blob.
func serveFolderBlob(tb testing.TB, data []byte, wrap func(http.ResponseWriter, blob.Reader) (http.ResponseWriter, io.ReadSeeker)) string {
	tb.Helper()
	s, err := blob.OpenFolder(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	key := blob.KeyOf(data)
	if err := s.Put(tb.Context(), key, data); err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		br, err := s.Open(r.Context(), key)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer br.Close()
		w, content := wrap(w, br)
		http.ServeContent(w, r, "", br.ModTime(), content)
	}))
	tb.Cleanup(srv.Close)
	return srv.URL
}
