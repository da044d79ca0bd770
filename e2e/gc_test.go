package e2e

import (
	"crypto/rand"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/blob"
	"github.com/gatehouse-registry/gatehouse/internal/blob/blobtest"
)

// TestGarbageCollection runs `gatehouse gc` next to a serving gatehouse,
// after real publishes and an unpublish with npm and with an orphan blob
// planted as an interrupted publish leaves one: on the default folder under
// --data, and on an S3-compatible bucket.
func TestGarbageCollection(t *testing.T) {
	t.Parallel()
	blobtest.Each(t, func(t *testing.T, b blobtest.Backend) {
		t.Parallel()
		var blobsArgs []string
		where := "" // the default: DATA/tarballs
		if b.Name == "s3" {
			where = b.URL(t)
			blobsArgs = []string{"--blobs", where}
		}
		srv := startServer(t, blobsArgs...)
		c := newClient(t, srv, npm11(t)).login(srv.createUser(t, "alice"))
		const pkg = "e2e-gc"
		for _, v := range []string{"1.0.0", "1.1.0"} {
			c.publishSpec(pkgSpec{Name: pkg, Version: v})
		}
		keyOf := func(version string) string {
			res := srv.do(t, http.MethodGet, pkg+"/-/"+pkg+"-"+version+".tgz", "", nil)
			if res.Status != http.StatusOK {
				t.Fatalf("tarball %s: %s", version, res)
			}
			return blob.KeyOf(res.Body)
		}
		kept, unpublished := keyOf("1.1.0"), keyOf("1.0.0")
		c.mustRun("", "unpublish", pkg+"@1.0.0")

		// An orphan, as a publish interrupted after writing its tarball leaves.
		blobs, _, err := blob.Open(t.Context(), where, srv.DataDir()+"/tarballs")
		if err != nil {
			t.Fatal(err)
		}
		defer blobs.Close()
		junk := make([]byte, 4321)
		_, _ = rand.Read(junk)
		orphan := blob.KeyOf(junk)
		if err := blobs.Put(t.Context(), orphan, junk); err != nil {
			t.Fatal(err)
		}

		gc := func(args ...string) string {
			t.Helper()
			argv := append([]string{"gc", "--data", srv.DataDir()}, append(blobsArgs, args...)...)
			out, code := runGatehouse(t, "", argv...)
			if code != 0 {
				t.Fatalf("gatehouse %s: exit %d\n%s", strings.Join(argv, " "), code, out)
			}
			return out
		}
		listed := func(out, verb string) []string {
			var keys []string
			for _, m := range regexp.MustCompile(`(?m)^`+verb+` (\S+) \(`).FindAllStringSubmatch(out, -1) {
				keys = append(keys, m[1])
			}
			slices.Sort(keys)
			return keys
		}
		exists := func(key string) bool {
			ok, err := blobs.Exists(t.Context(), key)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}

		// Everything is minutes old: the default grace period keeps it all.
		out := gc()
		if got := listed(out, "removed"); len(got) != 0 {
			t.Errorf("gc with the default grace removed %q:\n%s", got, out)
		}
		if !strings.Contains(out, "blobs seen: 3 (") || !strings.Contains(out, "referenced: 1;") ||
			!strings.Contains(out, "younger than 1h, kept: 2;") || !strings.Contains(out, "removed: 0 (0 bytes freed)") {
			t.Errorf("gc summary with the default grace:\n%s", out)
		}

		want := []string{orphan, unpublished}
		slices.Sort(want)
		out = gc("--grace", "0s", "--dry-run")
		if got := listed(out, "would remove"); !slices.Equal(got, want) {
			t.Errorf("gc --dry-run lists %q, want %q:\n%s", got, want, out)
		}
		if !strings.Contains(out, "would remove: 2 (") {
			t.Errorf("gc --dry-run summary:\n%s", out)
		}
		for _, k := range []string{kept, unpublished, orphan} {
			if !exists(k) {
				t.Fatalf("gc --dry-run removed %s", k)
			}
		}

		out = gc("--grace", "0s")
		if got := listed(out, "removed"); !slices.Equal(got, want) {
			t.Errorf("gc removed %q, want %q:\n%s", got, want, out)
		}
		if !strings.Contains(out, "blobs seen: 3 (") || !strings.Contains(out, "referenced: 1;") || !strings.Contains(out, "removed: 2 (") {
			t.Errorf("gc summary:\n%s", out)
		}
		for k, want := range map[string]bool{kept: true, unpublished: false, orphan: false} {
			if exists(k) != want {
				t.Errorf("after gc, %s exists = %v, want %v", k, !want, want)
			}
		}

		// The serving node still installs what is published.
		project := makeProject(t, nil)
		newClient(t, srv, npm11(t)).mustRun(project, "install", "--prefer-online", pkg)
		assertInstalled(t, project, pkg, "1.1.0")
		if again := gc("--grace", "0s"); !strings.Contains(again, "blobs seen: 1 (") || !strings.Contains(again, "removed: 0 (") {
			t.Errorf("a second gc:\n%s", again)
		}
	})
}

func TestGarbageCollectionFlags(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("e2e: skipped with -short")
	}
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"gc", "--data", dir, "--grace", "-1h"}, "must not be negative"},
		{[]string{"gc", "--data", dir, "extra"}, "usage: gatehouse gc"},
		{[]string{"gc", "--data", dir, "--grace", "soon"}, "invalid value"},
		{[]string{"gc", "--data", dir, "--blobs", "gs://tarballs"}, `unknown scheme "gs"`},
	} {
		out, code := runGatehouse(t, "", c.args...)
		if code == 0 || !strings.Contains(out, c.want) {
			t.Errorf("gatehouse %s: exit %d, want an error containing %q:\n%s", strings.Join(c.args, " "), code, c.want, out)
		}
	}
}
