// Package blobtest gives tests the blob stores to run on: a fresh folder,
// and a fresh key prefix of the S3-compatible bucket named by
// GATEHOUSE_TEST_S3. On CI (CI=true) a missing S3 bucket fails the test
// instead of skipping it, so the S3 half is never silently untested.
package blobtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/blob"
)

// S3Env names the bucket the tests also run on, as a --blobs URL such as
// s3://gatehouse-test?endpoint=http://127.0.0.1:8333&region=us-east-1&use_path_style=true
// with the credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
// (.ci/run and scripts/s3-test-server.sh start such a server).
const S3Env = "GATEHOUSE_TEST_S3"

// Backend is one kind of blob store.
type Backend struct {
	// Name is "folder" or "s3".
	Name string
	// URL returns a --blobs setting naming a fresh, empty store, whose
	// blobs are removed when t ends.
	URL func(t *testing.T) string
}

// Open opens a fresh, empty store of b, closed when t ends.
func (b Backend) Open(t *testing.T) *blob.Store {
	t.Helper()
	s, _, err := blob.Open(t.Context(), b.URL(t), "")
	if err != nil {
		t.Fatalf("open %s blob store: %v", b.Name, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Folder is a fresh temporary folder per test.
func Folder() Backend {
	return Backend{Name: "folder", URL: func(t *testing.T) string {
		return (&url.URL{Scheme: "file", Path: t.TempDir()}).String()
	}}
}

// S3 is a fresh key prefix of the bucket GATEHOUSE_TEST_S3 names, for each
// test. It skips t when the variable is empty, and fails it on CI.
func S3(t *testing.T) Backend {
	t.Helper()
	base := os.Getenv(S3Env)
	if base == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is empty on CI: the S3 blob store must be tested (.ci/run starts a server)", S3Env)
		}
		t.Skipf("%s is empty: run scripts/s3-test-server.sh and export what it prints to test on S3", S3Env)
	}
	if _, err := blob.ParseLocation(base, ""); err != nil {
		t.Fatalf("%s: %v", S3Env, err)
	}
	return Backend{Name: "s3", URL: func(t *testing.T) string {
		t.Helper()
		raw, err := WithPrefix(base, "test-"+randomHex(8)+"/")
		if err != nil {
			t.Fatalf("%s: %v", S3Env, err)
		}
		t.Cleanup(func() { empty(t, raw) })
		return raw
	}}
}

// Each runs fn once per backend, as the subtests "folder" and "s3".
func Each(t *testing.T, fn func(t *testing.T, b Backend)) {
	t.Run("folder", func(t *testing.T) { fn(t, Folder()) })
	t.Run("s3", func(t *testing.T) { fn(t, S3(t)) })
}

// WithPrefix returns the s3:// URL raw with sub appended to its key prefix.
func WithPrefix(raw, sub string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("prefix", q.Get("prefix")+sub)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// empty removes every blob of the store at raw, so test runs leave the
// bucket as they found it.
func empty(t *testing.T, raw string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, _, err := blob.Open(ctx, raw, "")
	if err != nil {
		t.Errorf("clean up test blobs: %v", err)
		return
	}
	defer s.Close()
	err = s.List(ctx, "", func(key string, _ blob.Attributes) error { return s.Delete(ctx, key) })
	if err != nil {
		t.Errorf("clean up test blobs: %v", err)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
