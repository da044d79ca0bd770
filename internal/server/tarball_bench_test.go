package server

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkTarballMemoryOrFile compares the two ways a tarball leaves
// gatehouse, over loopback HTTP with keep-alive, through the access log's
// recorder: from memory (the tarball cache's bytes, copied into the
// connection's buffer behind the headers) and from a file opened for each
// request (what the folder store does past the cache: open, fstat, then the
// kernel's sendfile). Sizes from a typical npm tarball to the cache's 1 MiB
// bound. Run with -cpu 2 and a few parallel clients.
func BenchmarkTarballMemoryOrFile(b *testing.B) {
	for _, size := range []int{2 << 10, 64 << 10, 256 << 10, 1 << 20} {
		data := bytes.Repeat([]byte("0123456789abcdef"), size/16)
		path := filepath.Join(b.TempDir(), "blob.tgz")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			b.Fatal(err)
		}
		published := time.Unix(1700000000, 0)
		serve := map[string]http.HandlerFunc{
			"memory": func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/octet-stream")
				http.ServeContent(w, r, "", published, bytes.NewReader(data))
			},
			"file": func(w http.ResponseWriter, r *http.Request) {
				f, err := os.Open(path)
				if err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				defer f.Close()
				w.Header().Set("Content-Type", "application/octet-stream")
				http.ServeContent(w, r, "", published, f)
			},
		}
		for _, how := range []string{"memory", "file"} {
			b.Run(fmt.Sprintf("%dKiB/%s", size>>10, how), func(b *testing.B) {
				h := serve[how]
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					h(&statusRecorder{ResponseWriter: w}, r)
				}))
				defer srv.Close()
				tr := &http.Transport{MaxIdleConnsPerHost: 64}
				defer tr.CloseIdleConnections()
				client := &http.Client{Transport: tr}
				b.SetBytes(int64(size))
				b.SetParallelism(4)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						resp, err := client.Get(srv.URL)
						if err != nil {
							b.Error(err)
							return
						}
						n, _ := io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if n != int64(size) {
							b.Errorf("read %d bytes, want %d", n, size)
							return
						}
					}
				})
			})
		}
	}
}
