package registry

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// tarEntry is one member of a test archive.
type tarEntry struct {
	name     string
	body     string
	typeflag byte   // tar.TypeReg when zero
	linkname string // for links
}

// file is a regular-file entry.
func file(name, body string) tarEntry { return tarEntry{name: name, body: body} }

// makeTar builds an uncompressed tar archive of entries.
func makeTar(t *testing.T, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: 0o644, Typeflag: e.typeflag, Linkname: e.linkname}
		if hdr.Typeflag == 0 {
			hdr.Typeflag = tar.TypeReg
		}
		if hdr.Typeflag == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("write tar header %s: %v", e.name, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatalf("write tar body %s: %v", e.name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatalf("close tar: %v", err)
	}
	return buf.Bytes()
}

// gzipped compresses b as one gzip member.
func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatalf("gzip: %v", err)
	}
	if err := zw.Close(); err != nil {
		t.Fatalf("close gzip: %v", err)
	}
	return buf.Bytes()
}

// tgz builds a gzipped tar of entries.
func tgz(t *testing.T, entries ...tarEntry) []byte {
	t.Helper()
	return gzipped(t, makeTar(t, entries...))
}

func sha1Hex(b []byte) string {
	sum := sha1.Sum(b)
	return hex.EncodeToString(sum[:])
}

func sri(algo string, sum []byte) string {
	return algo + "-" + base64.StdEncoding.EncodeToString(sum)
}

func sha1SRI(b []byte) string {
	sum := sha1.Sum(b)
	return sri("sha1", sum[:])
}

// checkFor is the TarballCheck an honest client sends for data.
func checkFor(data []byte) TarballCheck {
	return TarballCheck{
		Name:      "a",
		Version:   "1.0.0",
		Shasum:    sha1Hex(data),
		Integrity: IntegrityOf(data),
		Length:    int64(len(data)),
	}
}

const goodManifest = `{"name":"a","version":"1.0.0","description":"test"}`

// wantInvalid fails t unless err is an Invalid fault whose message contains want.
func wantInvalid(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", want)
	}
	fe, ok := fault.As(err)
	if !ok || fe.Kind != fault.Invalid {
		t.Fatalf("got %T %v, want an Invalid *fault.Error", err, err)
	}
	if !strings.Contains(fe.Message, want) {
		t.Fatalf("message %q does not contain %q", fe.Message, want)
	}
}

func TestVerifyTarball(t *testing.T) {
	good := tgz(t, file("package/package.json", goodManifest), file("package/index.js", "module.exports = 1\n"))
	goodTar := makeTar(t, file("package/package.json", goodManifest), file("package/index.js", "module.exports = 1\n"))
	sha512Sum := sha512.Sum512(good)
	sha256Sum := sha256.Sum256(good)
	other := tgz(t, file("package/package.json", goodManifest), file("package/other.js", ""))
	truncated := good[:len(good)-10]
	big := strings.Repeat("x", 10_000)

	tests := []struct {
		name    string
		data    []byte
		check   func(c *TarballCheck) // adjusts the honest check
		wantErr string                // "" for success
	}{
		{name: "good", data: good},
		{name: "uppercase shasum", data: good, check: func(c *TarballCheck) { c.Shasum = strings.ToUpper(c.Shasum) }},
		{name: "length absent", data: good, check: func(c *TarballCheck) { c.Length = -1 }},
		{
			name: "declared length mismatch", data: good,
			check:   func(c *TarballCheck) { c.Length = int64(len(good) + 1) },
			wantErr: "attached tarball length mismatch: declared",
		},
		{
			name: "wrong shasum", data: good,
			check:   func(c *TarballCheck) { c.Shasum = sha1Hex(other) },
			wantErr: "shasum mismatch for the attached tarball: expected " + sha1Hex(other) + ", got " + sha1Hex(good),
		},
		{name: "integrity alone (no shasum)", data: good, check: func(c *TarballCheck) { c.Shasum = "" }},
		{name: "neither shasum nor integrity", data: good, check: func(c *TarballCheck) { c.Shasum, c.Integrity = "", " " },
			wantErr: "dist.shasum or dist.integrity is required"},
		{name: "wrong integrity without shasum", data: good, check: func(c *TarballCheck) { c.Shasum, c.Integrity = "", IntegrityOf(other) },
			wantErr: "integrity mismatch"},
		{name: "shasum not hex", data: good, check: func(c *TarballCheck) { c.Shasum = strings.Repeat("z", 40) }, wantErr: "is not a hex SHA-1"},
		{
			name: "wrong integrity", data: good,
			check:   func(c *TarballCheck) { c.Integrity = IntegrityOf(other) },
			wantErr: "integrity mismatch for the attached tarball: expected " + IntegrityOf(other) + ", got " + IntegrityOf(good),
		},
		{name: "integrity with sha512 and sha1", data: good, check: func(c *TarballCheck) { c.Integrity += " " + sha1SRI(good) }},
		{name: "integrity with sha256 and sha512", data: good, check: func(c *TarballCheck) { c.Integrity = sri("sha256", sha256Sum[:]) + "\t" + c.Integrity }},
		{name: "integrity with an alternative sha512", data: good, check: func(c *TarballCheck) { c.Integrity = IntegrityOf(other) + " " + c.Integrity }},
		{name: "integrity with options", data: good, check: func(c *TarballCheck) { c.Integrity = sri("sha512", sha512Sum[:]) + "?foo" }},
		{name: "integrity with an unknown algorithm", data: good, check: func(c *TarballCheck) { c.Integrity = "md5-abc " + c.Integrity }},
		{
			name: "integrity with a wrong sha1 beside sha512", data: good,
			check:   func(c *TarballCheck) { c.Integrity += " " + sha1SRI(other) },
			wantErr: "integrity mismatch for the attached tarball: expected " + sha1SRI(other),
		},
		{name: "shasum alone (yarn 1)", data: good, check: func(c *TarballCheck) { c.Integrity = "" }},
		{name: "wrong shasum without integrity", data: good, check: func(c *TarballCheck) { c.Shasum, c.Integrity = sha1Hex(other), "" },
			wantErr: "shasum mismatch"},
		{name: "integrity with only sha1", data: good, check: func(c *TarballCheck) { c.Integrity = sha1SRI(good) }},
		{
			name: "integrity with only a wrong sha1", data: good,
			check:   func(c *TarballCheck) { c.Integrity = sha1SRI(other) },
			wantErr: "integrity mismatch for the attached tarball: expected " + sha1SRI(other) + ", got " + sha1SRI(good),
		},
		{name: "integrity with only unknown algorithms", data: good, check: func(c *TarballCheck) { c.Integrity = "md5-abc" }, wantErr: "holds no sha512"},
		{name: "not gzip", data: []byte("this is not a tarball"), wantErr: "attached tarball is not a gzip file"},
		{name: "empty", data: nil, wantErr: "attached tarball is not a gzip file"},
		{name: "gzip but not tar", data: gzipped(t, bytes.Repeat([]byte(goodManifest), 40)), wantErr: "attached tarball is not a valid tar archive"},
		{name: "truncated gzip", data: truncated, wantErr: "attached tarball is a corrupt or truncated gzip file"},
		{name: "trailing zeros after gzip", data: append(append([]byte{}, good...), make([]byte, 64)...)},
		{name: "trailing garbage after gzip", data: append(append([]byte{}, good...), "garbage!!!"...), wantErr: "unexpected data after the end of its gzip stream"},
		{name: "two gzip members", data: append(gzipped(t, goodTar[:700]), gzipped(t, goodTar[700:])...)},
		{name: "no package.json", data: tgz(t, file("package/index.js", "")), wantErr: "package/package.json not found in the attached tarball"},
		{name: "package.json in another folder", data: tgz(t, file("pkg/package.json", goodManifest)), wantErr: "package/package.json not found"},
		{name: "package.json not JSON", data: tgz(t, file("package/package.json", "{name: a")), wantErr: "package/package.json in the attached tarball is not valid JSON"},
		{name: "package.json not an object", data: tgz(t, file("package/package.json", `["a"]`)), wantErr: "is not a JSON object"},
		{name: "package.json with a byte order mark", data: tgz(t, file("package/package.json", "\ufeff"+goodManifest))},
		{name: "name not a string", data: tgz(t, file("package/package.json", `{"name":1,"version":"1.0.0"}`)), wantErr: "name in package/package.json is not a string"},
		{
			name:    "name mismatch",
			data:    tgz(t, file("package/package.json", `{"name":"b","version":"1.0.0"}`)),
			wantErr: `name in package/package.json ("b") does not match the published name ("a")`,
		},
		{
			name:    "name missing",
			data:    tgz(t, file("package/package.json", `{"version":"1.0.0"}`)),
			wantErr: `name in package/package.json ("") does not match the published name ("a")`,
		},
		{
			name:    "version mismatch",
			data:    tgz(t, file("package/package.json", `{"name":"a","version":"1.0.1"}`)),
			wantErr: `version in package/package.json ("1.0.1") does not match the published version ("1.0.0")`,
		},
		{name: "version that npm cleans", data: tgz(t, file("package/package.json", `{"name":" a ","version":"v1.0.0+build"}`))},
		{
			name: "over MaxUnpacked", data: tgz(t, file("package/package.json", goodManifest), file("package/big.txt", big)),
			check:   func(c *TarballCheck) { c.MaxUnpacked = 4096 },
			wantErr: "attached tarball unpacks to more than 4096 bytes",
		},
		{name: "exactly MaxUnpacked", data: good, check: func(c *TarballCheck) { c.MaxUnpacked = int64(len(goodTar)) }},
		{
			name: "one byte over MaxUnpacked", data: good,
			check:   func(c *TarballCheck) { c.MaxUnpacked = int64(len(goodTar)) - 1 },
			wantErr: "unpacks to more than",
		},
		{name: "leading ./", data: tgz(t, tarEntry{name: "./", typeflag: tar.TypeDir}, file("./package/package.json", goodManifest))},
		{
			name:    "package.json twice",
			data:    tgz(t, file("package/package.json", goodManifest), file("./package/package.json", goodManifest)),
			wantErr: "package/package.json appears more than once",
		},
		{
			name:    "package.json as a symlink",
			data:    tgz(t, tarEntry{name: "package/package.json", typeflag: tar.TypeSymlink, linkname: "other.json"}),
			wantErr: "package/package.json in the attached tarball is not a regular file",
		},
		{
			name:    "package.json too large",
			data:    tgz(t, file("package/package.json", `{"name":"a","version":"1.0.0","x":"`+strings.Repeat(" ", 10<<20)+`"}`)),
			wantErr: "package/package.json in the attached tarball is larger than 10 MiB",
		},
		{name: "parent path", data: tgz(t, file("package/package.json", goodManifest), file("package/../../evil", "")), wantErr: "unsafe path"},
		{name: "absolute path", data: tgz(t, file("/etc/evil", ""), file("package/package.json", goodManifest)), wantErr: "unsafe path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := checkFor(tt.data)
			c.Name, c.Version = "a", "1.0.0"
			if tt.check != nil {
				tt.check(&c)
			}
			d, err := VerifyTarball(tt.data, c)
			if tt.wantErr != "" {
				wantInvalid(t, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("VerifyTarball: %v", err)
			}
			if d.Shasum != sha1Hex(tt.data) || d.Integrity != IntegrityOf(tt.data) || d.SHA512 != sha512.Sum512(tt.data) {
				t.Errorf("digest hashes = %s %s, want the data's", d.Shasum, d.Integrity)
			}
			if d.Size != int64(len(tt.data)) {
				t.Errorf("Size = %d, want %d", d.Size, len(tt.data))
			}
			if d.PackageJSON == nil {
				t.Errorf("PackageJSON is empty")
			}
		})
	}
}

func TestVerifyTarballCounts(t *testing.T) {
	data := tgz(t,
		tarEntry{name: "package/", typeflag: tar.TypeDir},
		file("package/package.json", goodManifest),
		file("package/lib/a.js", "12345"),
		file("package/README.md", "hello"),
	)
	d, err := VerifyTarball(data, checkFor(data))
	if err != nil {
		t.Fatalf("VerifyTarball: %v", err)
	}
	if d.FileCount != 3 {
		t.Errorf("FileCount = %d, want 3", d.FileCount)
	}
	if want := int64(len(goodManifest) + 10); d.UnpackedSize != want {
		t.Errorf("UnpackedSize = %d, want %d", d.UnpackedSize, want)
	}
	if string(d.PackageJSON) != goodManifest {
		t.Errorf("PackageJSON = %q, want %q", d.PackageJSON, goodManifest)
	}
}

func TestIntegrityOf(t *testing.T) {
	tests := []struct {
		data []byte
		want string
	}{
		{nil, "sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg=="},
		{[]byte("abc"), "sha512-3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpkqJ0/BqDa6PCOj/uu9RU1EI2Q86A4qmslPpUyknw=="},
	}
	for _, tt := range tests {
		if got := IntegrityOf(tt.data); got != tt.want {
			t.Errorf("IntegrityOf(%q) = %s, want %s", tt.data, got, tt.want)
		}
	}
}

func TestCleanVersion(t *testing.T) {
	tests := []struct{ in, want string }{
		{"1.2.3", "1.2.3"},
		{" =v1.2.3 ", "1.2.3"},
		{"1.2.3+build.5", "1.2.3"},
		{"01.002.3", "1.2.3"},
		{"1.2.3beta", "1.2.3-beta"},
		{"1.2.3-beta.01", "1.2.3-beta.1"},
		{"1.2", ""},
		{"1.2.3-", ""},
		{"latest", ""},
	}
	for _, tt := range tests {
		if got := cleanVersion(tt.in); got != tt.want {
			t.Errorf("cleanVersion(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestVerifyTarballNpmPack checks a tarball made by the real npm CLI against
// the shasum and integrity npm itself reports.
func TestVerifyTarballNpmPack(t *testing.T) {
	npm, err := exec.LookPath("npm")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("npm is not on PATH: %v", err)
		}
		t.Skipf("npm is not on PATH: %v", err)
	}
	tests := []struct {
		name, version string
		files         map[string]string
	}{
		{name: "tiny", version: "1.0.0", files: map[string]string{"index.js": "module.exports = 42\n"}},
		{name: "@acme/web", version: "2.1.0-beta.3", files: map[string]string{
			"index.js":     "export default 'web'\n",
			"lib/util.js":  strings.Repeat("// padding\n", 500),
			"README.md":    "# web\n",
			"bin/cli.js":   "#!/usr/bin/env node\n",
			"data/a.json":  `{"a":1}`,
			".npmignore":   "secret.txt\n",
			"secret.txt":   "not packed",
			"LICENSE":      "MIT",
			"docs/guide.t": "guide",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			manifest, err := json.Marshal(map[string]any{"name": tt.name, "version": tt.version, "description": "gatehouse test", "license": "MIT"})
			if err != nil {
				t.Fatal(err)
			}
			files := map[string]string{"package.json": string(manifest)}
			for k, v := range tt.files {
				files[k] = v
			}
			for path, body := range files {
				full := filepath.Join(dir, "src", path)
				if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			out := filepath.Join(dir, "out")
			if err := os.Mkdir(out, 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(npm, "pack", "--json", "--pack-destination", out, "--ignore-scripts", "--offline", "--no-update-notifier", "--no-fund", "--no-audit")
			cmd.Dir = filepath.Join(dir, "src")
			cmd.Env = append(os.Environ(), "npm_config_cache="+filepath.Join(dir, "cache"), "npm_config_userconfig="+filepath.Join(dir, "npmrc"))
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			stdout, err := cmd.Output()
			if err != nil {
				t.Fatalf("npm pack: %v\n%s", err, stderr.String())
			}
			var packed []struct {
				Name, Version, Shasum, Integrity, Filename string
				Size, UnpackedSize                         int64
				EntryCount                                 int
			}
			if err := json.Unmarshal(stdout, &packed); err != nil || len(packed) != 1 {
				t.Fatalf("npm pack --json printed %q: %v", stdout, err)
			}
			p := packed[0]
			data, err := os.ReadFile(filepath.Join(out, p.Filename))
			if err != nil {
				t.Fatal(err)
			}
			d, err := VerifyTarball(data, TarballCheck{
				Name: tt.name, Version: tt.version,
				Shasum: p.Shasum, Integrity: p.Integrity, Length: int64(len(data)),
			})
			if err != nil {
				t.Fatalf("VerifyTarball of npm's tarball: %v", err)
			}
			if d.Shasum != p.Shasum || d.Integrity != p.Integrity || d.Size != p.Size {
				t.Errorf("digest %s %s %d, npm says %s %s %d", d.Shasum, d.Integrity, d.Size, p.Shasum, p.Integrity, p.Size)
			}
			if d.FileCount != p.EntryCount || d.UnpackedSize != p.UnpackedSize {
				t.Errorf("FileCount %d, UnpackedSize %d; npm says %d, %d", d.FileCount, d.UnpackedSize, p.EntryCount, p.UnpackedSize)
			}
			if !bytes.Equal(d.PackageJSON, manifest) {
				t.Errorf("PackageJSON = %s, want %s", d.PackageJSON, manifest)
			}
			// The same tarball published under another version is refused.
			_, err = VerifyTarball(data, TarballCheck{Name: tt.name, Version: "9.9.9", Shasum: p.Shasum, Integrity: p.Integrity, Length: -1})
			wantInvalid(t, err, "does not match the published version")
		})
	}
}
