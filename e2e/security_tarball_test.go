package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// craftedEntry is one entry of a tarball written by hand, as an attacker
// would, past what npm pack writes.
type craftedEntry struct {
	name, linkname, body string
	kind                 byte
}

// craftedTarball writes entries as a gzip tar to a file and returns its path.
func craftedTarball(t *testing.T, entries ...craftedEntry) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		kind := e.kind
		if kind == 0 {
			kind = tar.TypeReg
		}
		hdr := &tar.Header{Name: e.name, Linkname: e.linkname, Typeflag: kind, Mode: 0o644, Size: int64(len(e.body)),
			ModTime: time.Unix(499162500, 0), Format: tar.FormatPAX}
		if kind != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if kind == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "crafted.tgz")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCraftedTarballNeverInstalled: a tarball written by hand with a second
// package.json under another spelling of its path (which npm 11 extracted
// over the first, so that what was installed differed from what the
// registry checked), a link, or a name that climbs out of the package with
// backslashes, is refused when the real npm publishes it, and so never
// reaches an install. A well-formed tarball sent the same way is accepted,
// so the refusals are the registry's.
func TestCraftedTarballNeverInstalled(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	npm := npm11(t)
	c := newClient(t, srv, npm).login(srv.createUser(t, "alice"))
	anon := newClient(t, srv, npm)

	manifest := func(name, main string) string {
		return `{"name":"` + name + `","version":"1.0.0","main":"` + main + `"}`
	}
	good := func(name string) []craftedEntry {
		return []craftedEntry{
			{name: "package/package.json", body: manifest(name, "index.js")},
			{name: "package/index.js", body: "module.exports = 'checked'\n"},
		}
	}
	tests := []struct {
		name  string
		extra []craftedEntry
		want  string // in npm's output: the registry's refusal
	}{
		{"e2e-twin-slash", []craftedEntry{{name: "package//package.json", body: manifest("e2e-twin-slash", "evil.js")},
			{name: "package/evil.js", body: "module.exports = 'swapped'\n"}}, "package/package.json appears more than once"},
		{"e2e-twin-dot", []craftedEntry{{name: "package/./package.json", body: manifest("e2e-twin-dot", "evil.js")},
			{name: "package/evil.js", body: "module.exports = 'swapped'\n"}}, "package/package.json appears more than once"},
		{"e2e-symlink", []craftedEntry{{name: "package/passwd", linkname: "../../../../etc/passwd", kind: tar.TypeSymlink}},
			"only regular files and directories are accepted"},
		{"e2e-hardlink", []craftedEntry{{name: "package/passwd", linkname: "/etc/passwd", kind: tar.TypeLink}},
			"only regular files and directories are accepted"},
		{"e2e-backslash", []craftedEntry{{name: `package\..\..\x.js`, body: "x"}}, "unsafe path"},
	}
	for _, tt := range tests {
		tgz := craftedTarball(t, append(good(tt.name), tt.extra...)...)
		c.mustFail("", []string{tt.want}, "publish", tgz)
		anon.mustFail(makeProject(t, nil), []string{"E404"}, "view", tt.name)
		project := makeProject(t, nil)
		anon.mustFail(project, []string{"E404"}, "install", "--prefer-online", tt.name+"@1.0.0")
		assertNotInstalled(t, project, tt.name)
	}

	// The same path with a tarball as npm pack writes it works.
	c.mustRun("", "publish", craftedTarball(t, good("e2e-untwinned")...))
	project := makeProject(t, nil)
	anon.mustRun(project, "install", "--prefer-online", "e2e-untwinned@1.0.0")
	if v := installedVersion(t, project, "e2e-untwinned"); v != "1.0.0" {
		t.Errorf("installed e2e-untwinned@%s, want 1.0.0", v)
	}
	if got := string(readFile(t, filepath.Join(project, "node_modules", "e2e-untwinned"), "index.js")); got != "module.exports = 'checked'\n" {
		t.Errorf("installed index.js = %q", got)
	}
}
