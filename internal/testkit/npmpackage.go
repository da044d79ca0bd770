package testkit

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"testing"
	"time"
)

// File is one regular file of a package tarball: its path in the archive
// (package/package.json) and its bytes.
type File struct {
	Name string
	Data []byte
}

// fileTime is the modification time of every file Tarball packs, so the
// bytes depend on the files alone.
var fileTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// Tarball packs files, in order, into a gzip tar as npm pack lays a package
// out: regular files of mode 0644, all with one fixed modification time. It
// fails only when the archive cannot be written, and is safe to call from
// any goroutine.
func Tarball(files ...File) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range files {
		hdr := &tar.Header{Name: f.Name, Mode: 0o644, Size: int64(len(f.Data)), ModTime: fileTime, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("tar header of %s: %w", f.Name, err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, fmt.Errorf("tar %s: %w", f.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("close the tar: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("close the gzip stream: %w", err)
	}
	return buf.Bytes(), nil
}

// PackageTarball is the tarball of the smallest package: pkgJSON as
// package/package.json, and a package/index.js. It fails t when it cannot
// be built.
func PackageTarball(t testing.TB, pkgJSON string) []byte {
	t.Helper()
	tgz, err := Tarball(File{"package/package.json", []byte(pkgJSON)},
		File{"package/index.js", []byte("module.exports = 1\n")})
	if err != nil {
		t.Fatal(err)
	}
	return tgz
}

// Shasum is what npm sends as dist.shasum for data: its hex SHA-1.
func Shasum(data []byte) string {
	sum := sha1.Sum(data)
	return hex.EncodeToString(sum[:])
}

// Integrity is what npm sends as dist.integrity for data: its SHA-512 as a
// Subresource Integrity string.
func Integrity(data []byte) string {
	sum := sha512.Sum512(data)
	return "sha512-" + base64.StdEncoding.EncodeToString(sum[:])
}

// PublishBody completes body into the document npm publish sends for
// name@version with the tarball tgz, filling in what body lacks: _id and
// name; dist-tags, with latest at version; the version's manifest under
// versions, with its name and version; the manifest's dist, with tgz's
// Shasum and Integrity; and the attachment, tgz in base64 with its length,
// under the key npm gives it (<name>-<version>.tgz). What body holds is
// kept, so a test can send a publish broken in one chosen way. body may be
// nil; PublishBody returns the completed map.
func PublishBody(body map[string]any, name, version string, tgz []byte) map[string]any {
	if body == nil {
		body = map[string]any{}
	}
	setDefault(body, "_id", name)
	setDefault(body, "name", name)
	setDefault(body, "dist-tags", map[string]any{"latest": version})
	versions := setDefault(body, "versions", map[string]any{})
	if vs, ok := versions.(map[string]any); ok {
		if manifest, ok := setDefault(vs, version, map[string]any{}).(map[string]any); ok {
			setDefault(manifest, "name", name)
			setDefault(manifest, "version", version)
			setDefault(manifest, "dist", map[string]any{"shasum": Shasum(tgz), "integrity": Integrity(tgz)})
		}
	}
	setDefault(body, "_attachments", map[string]any{name + "-" + version + ".tgz": map[string]any{
		"content_type": "application/octet-stream", "data": base64.StdEncoding.EncodeToString(tgz), "length": len(tgz)}})
	return body
}

// setDefault sets m[key] to v unless m holds key, and returns m[key].
func setDefault(m map[string]any, key string, v any) any {
	if old, ok := m[key]; ok {
		return old
	}
	m[key] = v
	return v
}

// Dependencies is n made-up dependencies, each wanting ^1.2.3: about 45
// bytes each in a packument that lists them. As a version's
// devDependencies, which are listed and never installed, they make its
// documents larger without changing what installs.
func Dependencies(n int) map[string]any {
	deps := make(map[string]any, n)
	for i := range n {
		deps[fmt.Sprintf("a-development-dependency-%04d", i)] = "^1.2.3"
	}
	return deps
}
