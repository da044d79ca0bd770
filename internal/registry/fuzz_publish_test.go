package registry

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"
	"testing"
)

// seedEntry is one member of a seed archive: a regular file unless typeflag
// says otherwise.
type seedEntry struct {
	name, body, link string
	typeflag         byte
}

// seedTar builds an uncompressed tar of entries for a fuzz seed; it panics
// on an error, which only a broken seed can cause.
func seedTar(entries ...seedEntry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: 0o644, Typeflag: e.typeflag, Linkname: e.link, Format: tar.FormatGNU}
		if hdr.Typeflag == 0 {
			hdr.Typeflag = tar.TypeReg
		}
		if hdr.Typeflag == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			panic(fmt.Sprintf("seed tar header %q: %v", e.name, err))
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				panic(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// seedGzip compresses b as one gzip member.
func seedGzip(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

const fuzzManifest = `{"name":"a","version":"1.0.0"}`

// tarballSeeds are archives with the entries the tarball check must refuse,
// and honest ones.
func tarballSeeds() [][]byte {
	m := seedEntry{name: "package/package.json", body: fuzzManifest}
	js := seedEntry{name: "package/index.js", body: "module.exports = 1\n"}
	return [][]byte{
		seedTar(m, js),
		seedTar(seedEntry{name: "package/", typeflag: tar.TypeDir}, m, js),
		seedTar(seedEntry{name: "./package/package.json", body: fuzzManifest}),
		seedTar(m, seedEntry{name: "package//package.json", body: `{"name":"evil","version":"6.6.6"}`}),
		seedTar(m, seedEntry{name: "package/./package.json", body: fuzzManifest}),
		seedTar(m, seedEntry{name: "package/link", link: "../../etc/passwd", typeflag: tar.TypeSymlink}),
		seedTar(m, seedEntry{name: "package/hard", link: "/etc/passwd", typeflag: tar.TypeLink}),
		seedTar(m, seedEntry{name: "package/dev", typeflag: tar.TypeChar}),
		seedTar(m, seedEntry{name: "package/fifo", typeflag: tar.TypeFifo}),
		seedTar(m, seedEntry{name: "C:/package/x", body: "x"}),
		seedTar(m, seedEntry{name: `package\..\..\x`, body: "x"}),
		seedTar(m, seedEntry{name: "/etc/cron.d/x", body: "x"}),
		seedTar(m, seedEntry{name: "package/../../x", body: "x"}),
		seedTar(m, seedEntry{name: "other/index.js", body: "x"}, js),
		seedTar(m, seedEntry{name: "package/PACKAGE.JSON", body: fuzzManifest}),
		seedTar(m, seedEntry{name: "package/a", typeflag: tar.TypeDir}, seedEntry{name: "package/a", body: "x"}),
	}
}

// FuzzVerifyTarball feeds the tarball check archives (the fuzzer mutates
// the tar, the target gzips it; with raw set, the bytes are taken as the
// .tgz itself). Property: whatever it accepts, read again entry by entry,
// holds only regular files and folders whose names, backslashes read as
// slashes, are relative, with no ".." and no NUL, no two files landing on
// one path once npm drops the first folder, exactly one manifest at
// package/package.json naming the package and version checked, and a file
// count and size that match the digest.
func FuzzVerifyTarball(f *testing.F) {
	for _, s := range tarballSeeds() {
		f.Add(s, false)
		f.Add(seedGzip(s), true)
	}
	f.Fuzz(func(t *testing.T, in []byte, raw bool) {
		data := in
		if !raw {
			data = seedGzip(in)
		}
		check := TarballCheck{Name: "a", Version: "1.0.0", Shasum: sha1Hex(data), Integrity: IntegrityOf(data),
			Length: int64(len(data)), MaxUnpacked: 1 << 20}
		d, err := VerifyTarball(data, check)
		if err != nil {
			return
		}
		checkAcceptedTarball(t, data, d, "a")
	})
}

// checkAcceptedTarball reads data, a tarball of name the check accepted, with the
// standard library alone and fails t on any entry the check must refuse.
func checkAcceptedTarball(t *testing.T, data []byte, d Digest, name string) {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("accepted tarball is not gzip: %v", err)
	}
	tr := tar.NewReader(zr)
	landed := map[string]bool{}
	manifests, files := 0, 0
	var size int64
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("accepted tarball does not read again: %v", err)
		}
		if hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeDir {
			t.Fatalf("accepted entry %q of type %q", hdr.Name, hdr.Typeflag)
		}
		n := strings.ReplaceAll(hdr.Name, `\`, "/")
		if strings.ContainsRune(n, 0) || strings.HasPrefix(n, "/") || len(n) >= 2 && n[1] == ':' {
			t.Fatalf("accepted entry %q is absolute or holds a NUL", hdr.Name)
		}
		for _, part := range strings.Split(n, "/") {
			if part == ".." {
				t.Fatalf("accepted entry %q climbs out", hdr.Name)
			}
		}
		clean := path.Clean(n)
		if clean == packageJSONPath {
			manifests++
		}
		if hdr.Typeflag == tar.TypeReg {
			files++
			size += hdr.Size
			if _, landing, ok := strings.Cut(clean, "/"); ok && landing != "" {
				if landed[strings.ToLower(landing)] && strings.EqualFold(landing, "package.json") {
					t.Fatalf("accepted a second manifest %q", hdr.Name)
				}
				if landed[landing] {
					t.Fatalf("accepted two files landing on %q", landing)
				}
				landed[landing] = true
				landed[strings.ToLower(landing)] = true
			}
		}
	}
	if manifests != 1 {
		t.Fatalf("accepted a tarball with %d manifests", manifests)
	}
	if files != d.FileCount || size != d.UnpackedSize {
		t.Fatalf("digest says %d files, %d bytes; the archive holds %d, %d", d.FileCount, d.UnpackedSize, files, size)
	}
	var m struct{ Name, Version string }
	if err := json.Unmarshal(d.PackageJSON, &m); err != nil || m.Name != name {
		t.Fatalf("accepted manifest %q: %v", d.PackageJSON, err)
	}
}

// npmPublishBody is a publish document in the shape npm 11 sends.
func npmPublishBody(name, version string, tgz []byte) string {
	_, bare := SplitName(name)
	manifest := fmt.Sprintf(`{"name":%q,"version":%q,"description":"d","main":"index.js","scripts":{"test":"echo"},`+
		`"_id":"%s@%s","_nodeVersion":"22.0.0","_npmVersion":"11.0.0","dist":{"integrity":%q,"shasum":%q,"tarball":"http://127.0.0.1/%s/-/%s-%s.tgz"}}`,
		name, version, name, version, IntegrityOf(tgz), sha1Hex(tgz), name, bare, version)
	return fmt.Sprintf(`{"_id":%q,"name":%q,"description":"d","dist-tags":{"latest":%q},"versions":{%q:%s},"access":null,`+
		`"_attachments":{"%s-%s.tgz":{"content_type":"application/octet-stream","data":%q,"length":%d}}}`,
		name, name, version, version, manifest, bare, version, base64.StdEncoding.EncodeToString(tgz), len(tgz))
}

// FuzzReadDocumentDecodePublish feeds the streaming publish reader a body
// and the package name of the URL. Properties: a body it reads is JSON that
// encoding/json reads to the same name, versions and dist-tags; a publish
// DecodePublish accepts is for the URL's name (the body names it or
// nothing), carries a valid version whose tags are valid and point at it,
// and its tarball, read again, holds what the tarball check promises.
func FuzzReadDocumentDecodePublish(f *testing.F) {
	for _, name := range []string{"a", "@acme/a"} {
		tgz := seedGzip(seedTar(seedEntry{name: "package/package.json", body: fmt.Sprintf(`{"name":%q,"version":"1.0.0"}`, name)}))
		body := npmPublishBody(name, "1.0.0", tgz)
		f.Add([]byte(body), name)
		f.Add([]byte(body), "other")
		f.Add([]byte(strings.Replace(body, `"latest"`, `"1.x"`, 1)), name)
		f.Add([]byte(strings.Replace(body, `"_attachments"`, `"_attachments":{},"x"`, 1)), name)
		f.Add([]byte(strings.ReplaceAll(body, "/", `\/`)), name)
	}
	f.Add([]byte(`{"name":"a","name":"b"}`), "a")
	f.Add([]byte(`{"_attachments":{"a-1.0.0.tgz":{"data":"\u0041AAA"}}}`), "a")
	f.Add([]byte(`[]`), "a")
	f.Fuzz(func(t *testing.T, body []byte, name string) {
		o := ReadOptions{MaxDocument: 1 << 20, MaxUnpacked: 1 << 20, SpoolDir: t.TempDir()}
		doc, err := ReadDocument(bytes.NewReader(body), o)
		if err != nil {
			return
		}
		defer doc.Close()
		var plain PublishDocument
		if err := json.Unmarshal(body, &plain); err != nil {
			t.Fatalf("ReadDocument read a body encoding/json refuses: %v", err)
		}
		if plain.Name != doc.Name || len(plain.Versions) != len(doc.Versions) || len(plain.DistTags) != len(doc.DistTags) {
			t.Fatalf("ReadDocument and encoding/json differ: %q/%d/%d vs %q/%d/%d", doc.Name, len(doc.Versions),
				len(doc.DistTags), plain.Name, len(plain.Versions), len(plain.DistTags))
		}
		pub, err := DecodePublish(name, doc)
		if err != nil {
			return
		}
		if pub.Name != name || doc.Name != "" && doc.Name != name {
			t.Fatalf("publish of %q accepted under the URL name %q", doc.Name, name)
		}
		if ValidateVersion(pub.Version) != nil {
			t.Fatalf("accepted version %q", pub.Version)
		}
		for tag, v := range pub.Tags {
			if ValidateTag(tag) != nil || v != pub.Version {
				t.Fatalf("accepted tag %q -> %q for %q", tag, v, pub.Version)
			}
		}
		if pub.Received == nil {
			t.Fatal("accepted publish without a received tarball")
		}
		data, err := io.ReadAll(pub.Received.Reader())
		if err != nil {
			t.Fatal(err)
		}
		if IntegrityOf(data) != pub.Digest.Integrity {
			t.Fatal("digest does not match the received tarball")
		}
		checkAcceptedTarball(t, data, pub.Digest, name)
	})
}
