package blob_test

import (
	"os"
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/blob"
	"github.com/gatehouse-registry/gatehouse/internal/blob/blobtest"
)

func TestParseLocation(t *testing.T) {
	cases := []struct {
		raw    string
		dir    string // want a folder store here
		bucket string // want an S3 store of this bucket
		prefix string
		show   string // what String() must give
		err    string // want an error containing this
	}{
		{raw: "", dir: "/data/tarballs", show: "/data/tarballs"},
		{raw: "  ", dir: "/data/tarballs", show: "/data/tarballs"},
		{raw: "file:///srv/blobs", dir: "/srv/blobs", show: "/srv/blobs"},
		{raw: "file://localhost/srv/blobs/", dir: "/srv/blobs", show: "/srv/blobs"},
		{raw: "FILE:///srv/x/../blobs", dir: "/srv/blobs", show: "/srv/blobs"},
		{raw: "file://relative/path", err: `names host "relative"`},
		{raw: "file:relative", err: "absolute path"},
		{raw: "file:///srv/blobs?create_dir=1", err: "no query parameters"},
		{raw: "s3://tarballs", bucket: "tarballs", show: "s3://tarballs"},
		{
			raw:    "s3://tarballs?endpoint=http://127.0.0.1:8333&region=us-east-1&use_path_style=true&prefix=gatehouse/",
			bucket: "tarballs", prefix: "gatehouse/",
			show: "s3://tarballs?endpoint=http%3A%2F%2F127.0.0.1%3A8333&prefix=gatehouse%2F&region=us-east-1&use_path_style=true",
		},
		{raw: "s3://", err: "must name a bucket"},
		{raw: "s3:tarballs", err: "must name a bucket"},
		{raw: "s3://tarballs/sub/dir", err: "prefix="},
		{raw: "s3://AKIAEXAMPLE:sekrit-value@tarballs", err: "AWS_ACCESS_KEY_ID"},
		{raw: "s3://tarballs?endpoint=http://AKIAEXAMPLE:sekrit-value@127.0.0.1:8333", err: "AWS_ACCESS_KEY_ID"},
		{raw: "s3://tarballs?endpoint=127.0.0.1:8333", err: "endpoint= must be an http"},
		{raw: "s3://tarballs?region=a&region=b", err: "given 2 times"},
		{raw: "s3://tarballs#frag", err: "fragment"},
		{raw: "s3://tarballs?profile=ci", bucket: "tarballs", show: "s3://tarballs?profile=ci"},
		{raw: "s3://tarballs?disable_https=true", err: `unknown query parameter "disable_https"`},
		{raw: "s3://tarballs?use_path_style=yes", err: "use_path_style= must be true or false"},
		{raw: "s3://tarballs?endpoint=http://127.0.0.1:8333/sub", err: "no path"},
		{raw: "gs://tarballs", err: `unknown scheme "gs"`},
		{raw: "/srv/blobs", err: `unknown scheme ""`},
		{raw: "http://[::1", err: "not a valid URL"},
	}
	for _, c := range cases {
		t.Run(c.raw, func(t *testing.T) {
			loc, err := blob.ParseLocation(c.raw, "/data/tarballs")
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				if strings.Contains(err.Error(), "sekrit") {
					t.Errorf("the error repeats the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if loc.Dir != c.dir || loc.Bucket != c.bucket || loc.Prefix != c.prefix {
				t.Errorf("got dir %q bucket %q prefix %q, want %q %q %q", loc.Dir, loc.Bucket, loc.Prefix, c.dir, c.bucket, c.prefix)
			}
			if got := loc.String(); got != c.show {
				t.Errorf("String() = %q, want %q", got, c.show)
			}
		})
	}
}

func TestKeyShapes(t *testing.T) {
	key := blob.KeyOf([]byte("hello"))
	cases := []struct {
		key      string
		isKey    bool
		leftover string // the content address of a leftover temporary file
	}{
		{key: key, isKey: true},
		{key: key + ".18a2b3c4d5e6f708.tmp", leftover: key},
		{key: key + ".tmp"},
		{key: key + ".XYZ.tmp"},
		{key: key + "0"},
		{key: strings.ToUpper(key)},
		{key: "sha512/" + strings.Repeat("0", 129)},
		{key: "sha512/ab/" + strings.Repeat("g", 126)},
		{key: "other/" + key[len("sha512/"):]},
		{key: ""},
	}
	for _, c := range cases {
		if got := blob.IsKey(c.key); got != c.isKey {
			t.Errorf("IsKey(%q) = %v, want %v", c.key, got, c.isKey)
		}
		got, ok := blob.IsLeftover(c.key)
		if ok != (c.leftover != "") || got != c.leftover {
			t.Errorf("IsLeftover(%q) = %q, %v; want %q", c.key, got, ok, c.leftover)
		}
	}
}

// TestOpenChecksTheBucket shows that a wrong bucket or credential fails when
// the store opens, not at the first publish, and that the error does not
// hold the secret.
func TestOpenChecksTheBucket(t *testing.T) {
	t.Run("folder", func(t *testing.T) {
		file := t.TempDir() + "/file"
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := blob.Open(t.Context(), "file://"+file+"/sub", ""); err == nil {
			t.Error("opened a folder under a file")
		}
	})
	t.Run("s3", func(t *testing.T) {
		b := blobtest.S3(t)
		good := b.URL(t)
		s, loc, err := blob.Open(t.Context(), good, "")
		if err != nil {
			t.Fatalf("open %s: %v", good, err)
		}
		s.Close()
		if loc.Bucket == "" {
			t.Fatalf("%s opened as a folder", good)
		}
		noBucket := strings.Replace(good, "s3://"+loc.Bucket, "s3://no-such-bucket-"+strings.ToLower(t.Name()[:2]), 1)
		if _, _, err := blob.Open(t.Context(), noBucket, ""); err == nil {
			t.Error("opened a bucket that does not exist")
		}
		const wrong = "wrong-secret-c4f1e2"
		t.Setenv("AWS_SECRET_ACCESS_KEY", wrong)
		_, _, err = blob.Open(t.Context(), good, "")
		if err == nil {
			t.Fatal("opened the bucket with a wrong secret key")
		}
		if strings.Contains(err.Error(), wrong) {
			t.Errorf("the error holds the secret key: %v", err)
		}
	})
}
