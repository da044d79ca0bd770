package server

import (
	"bytes"
	"crypto/sha512"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/blob"
	"github.com/gatehouse-registry/gatehouse/internal/blob/blobtest"
	"github.com/gatehouse-registry/gatehouse/internal/config"
)

// TestTarballsOnEachBlobStore publishes and serves tarballs, whole and in
// ranges, with --blobs naming a folder and an S3-compatible bucket.
func TestTarballsOnEachBlobStore(t *testing.T) {
	blobtest.Each(t, func(t *testing.T, b blobtest.Backend) {
		where := b.URL(t)
		var logs bytes.Buffer
		cfg := config.Default()
		cfg.DataDir = t.TempDir()
		cfg.Blobs = where
		tr := openRegistry(t, cfg, NewLogger(&logs, "info", false))

		loc, err := blob.ParseLocation(where, "")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(logs.String(), "blobs="+loc.String()) && !strings.Contains(logs.String(), fmt.Sprintf("blobs=%q", loc.String())) {
			t.Errorf("the start log does not name the blob store %s:\n%s", loc, logs.String())
		}
		if secret := os.Getenv("AWS_SECRET_ACCESS_KEY"); secret != "" && strings.Contains(logs.String(), secret) {
			t.Error("the log holds the AWS secret key")
		}

		alice := tr.user("alice")
		body := publishBody(t, "demo", "1.0.0")
		if res := tr.do("PUT", "/demo", alice, body); res.status != http.StatusCreated {
			t.Fatalf("publish: %d %s", res.status, res.body)
		}
		tgz := tr.do("GET", "/demo/-/demo-1.0.0.tgz", "", nil)
		if tgz.status != 200 || tgz.header.Get("Content-Length") != fmt.Sprint(len(tgz.body)) {
			t.Fatalf("tarball: %d, length %s for %d bytes", tgz.status, tgz.header.Get("Content-Length"), len(tgz.body))
		}
		ranges := []struct {
			header string
			status int
			want   []byte
		}{
			{"bytes=0-9", http.StatusPartialContent, tgz.body[:10]},
			{"bytes=-7", http.StatusPartialContent, tgz.body[len(tgz.body)-7:]},
			{fmt.Sprintf("bytes=%d-", len(tgz.body)-3), http.StatusPartialContent, tgz.body[len(tgz.body)-3:]},
			{fmt.Sprintf("bytes=%d-", len(tgz.body)+10), http.StatusRequestedRangeNotSatisfiable, nil},
		}
		for _, r := range ranges {
			res := tr.do("GET", "/demo/-/demo-1.0.0.tgz", "", nil, "Range", r.header)
			if res.status != r.status || r.want != nil && !bytes.Equal(res.body, r.want) {
				t.Errorf("Range %s: %d with %d bytes, want %d with %d", r.header, res.status, len(res.body), r.status, len(r.want))
			}
		}

		// The tarball is in the store --blobs names, under its content address.
		s, _, err := blob.Open(t.Context(), where, "")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		r, err := s.Open(t.Context(), blob.Key(sha512.Sum512(tgz.body)))
		if err != nil {
			t.Fatalf("the published tarball is not in %s: %v", loc, err)
		}
		stored, _ := io.ReadAll(r)
		r.Close()
		if !bytes.Equal(stored, tgz.body) {
			t.Error("the stored blob differs from the served tarball")
		}
		if _, err := os.Stat(filepath.Join(cfg.DataDir, "tarballs")); !os.IsNotExist(err) {
			t.Errorf("with --blobs %s the data folder has a tarballs folder (%v)", loc, err)
		}
	})
}

// TestBadBlobsFailAtStart shows that an unusable --blobs stops the server at
// start with an error naming the problem.
func TestBadBlobsFailAtStart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ blobs, want string }{
		{"gs://tarballs", `unknown scheme "gs"`},
		{"file://" + file + "/tarballs", "blob folder"},
	} {
		cfg := config.Default()
		cfg.DataDir = t.TempDir()
		cfg.Blobs = c.blobs
		srv, err := Open(t.Context(), cfg, NewLogger(io.Discard, "error", false))
		if err == nil {
			srv.Close()
			t.Errorf("--blobs %s: the server opened", c.blobs)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("--blobs %s: error %q does not contain %q", c.blobs, err, c.want)
		}
	}
}
