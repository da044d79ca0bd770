package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"
)

var testCorpus = Corpus{Prefix: "bench", Packages: 20, Versions: 5, HotVersions: 30, ReadmeBytes: 4096}

// untar returns the files of a gzip tar by name.
func untar(t *testing.T, tgz []byte) map[string][]byte {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = data
	}
}

func TestReleaseIsDeterministic(t *testing.T) {
	a, err := testCorpus.Release(3, 2)
	if err != nil {
		t.Fatal(err)
	}
	b, err := testCorpus.Release(3, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Tarball, b.Tarball) {
		t.Fatal("the same release built twice has different tarballs")
	}
	ba, _ := a.PublishBody("http://127.0.0.1:1")
	bb, _ := b.PublishBody("http://127.0.0.1:1")
	if !bytes.Equal(ba, bb) {
		t.Fatal("the same release built twice has different publish bodies")
	}
	c, err := testCorpus.Release(3, 3)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Tarball, c.Tarball) {
		t.Fatal("two versions share a tarball")
	}
}

func TestReleaseTarballAndManifest(t *testing.T) {
	r, err := testCorpus.Release(0, 29)
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "bench-stream-0000" || r.Version != "1.2.9" {
		t.Fatalf("release %s@%s", r.Name, r.Version)
	}
	files := untar(t, r.Tarball)
	for _, f := range []string{"package/package.json", "package/README.md", "package/index.js", "package/LICENSE"} {
		if len(files[f]) == 0 {
			t.Errorf("tarball lacks %s", f)
		}
	}
	var pkg map[string]any
	if err := json.Unmarshal(files["package/package.json"], &pkg); err != nil {
		t.Fatal(err)
	}
	if pkg["name"] != r.Name || pkg["version"] != r.Version {
		t.Errorf("package.json says %v@%v", pkg["name"], pkg["version"])
	}
	if _, ok := pkg["readme"]; ok {
		t.Error("package.json in the tarball should not carry the readme")
	}
	readme := r.Manifest["readme"].(string)
	if string(files["package/README.md"]) != readme {
		t.Error("the manifest's readme differs from README.md")
	}
	if n := len(readme); n < 3500 || n > 5000 {
		t.Errorf("readme of %d bytes, want about 4096", n)
	}
	for _, want := range []string{"# bench-stream-0000", "## Install", "npm install bench-stream-0000", "## API", "## License"} {
		if !strings.Contains(readme, want) {
			t.Errorf("readme lacks %q", want)
		}
	}
	sum := sha512.Sum512(r.Tarball)
	dist := r.Manifest["dist"].(map[string]any)
	if dist["integrity"] != "sha512-"+base64.StdEncoding.EncodeToString(sum[:]) {
		t.Errorf("integrity %v does not match the tarball", dist["integrity"])
	}
	deps := r.Manifest["dependencies"].(map[string]string)
	if deps["bench-buffer-0001"] != "^1.0.0" || deps["bench-request-0007"] != "^1.0.0" || len(deps) != 2 {
		t.Errorf("dependencies %v", deps)
	}
}

func TestPublishBodyIsWhatNpmSends(t *testing.T) {
	r, err := testCorpus.Release(5, 1)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := r.PublishBody("http://127.0.0.1:4873/")
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		ID          string                    `json:"_id"`
		Name        string                    `json:"name"`
		DistTags    map[string]string         `json:"dist-tags"`
		Versions    map[string]map[string]any `json:"versions"`
		Attachments map[string]struct {
			ContentType string `json:"content_type"`
			Data        string `json:"data"`
			Length      int    `json:"length"`
		} `json:"_attachments"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatal(err)
	}
	if body.ID != r.Name || body.Name != r.Name || body.DistTags["latest"] != "1.0.1" {
		t.Fatalf("head of the body: %s %s %v", body.ID, body.Name, body.DistTags)
	}
	v := body.Versions["1.0.1"]
	if v == nil || v["_id"] != r.Name+"@1.0.1" || v["readmeFilename"] != "README.md" {
		t.Fatalf("version document %v", v)
	}
	dist := v["dist"].(map[string]any)
	if dist["tarball"] != "http://127.0.0.1:4873/"+r.Name+"/-/"+r.Name+"-1.0.1.tgz" {
		t.Errorf("dist.tarball %v", dist["tarball"])
	}
	if _, ok := r.Manifest["dist"].(map[string]any)["tarball"]; ok {
		t.Error("PublishBody changed the release's manifest")
	}
	att, ok := body.Attachments[r.Name+"-1.0.1.tgz"]
	if !ok || len(body.Attachments) != 1 {
		t.Fatalf("attachments %v", body.Attachments)
	}
	data, err := base64.StdEncoding.DecodeString(att.Data)
	if err != nil || !bytes.Equal(data, r.Tarball) || att.Length != len(r.Tarball) || att.ContentType != "application/octet-stream" {
		t.Errorf("attachment: %d bytes, length %d, type %q, err %v", len(data), att.Length, att.ContentType, err)
	}
}

func TestScopedTarballPath(t *testing.T) {
	r := Release{Name: "@acme/lib", Version: "1.0.0"}
	if got := r.TarballPath(); got != "/@acme/lib/-/lib-1.0.0.tgz" {
		t.Errorf("TarballPath = %q", got)
	}
	if got := EscapeName(r.Name); got != "@acme%2flib" {
		t.Errorf("EscapeName = %q", got)
	}
}

func TestCorpusShape(t *testing.T) {
	index := map[string]int{}
	for i := range testCorpus.Packages {
		n := testCorpus.Name(i)
		if _, ok := index[n]; ok {
			t.Fatalf("name %s repeats", n)
		}
		index[n] = i
	}
	for i := range testCorpus.Packages {
		for dep := range testCorpus.Dependencies(i) {
			if j, ok := index[dep]; !ok || j <= i {
				t.Errorf("%s depends on %s: dependencies must be later packages of the corpus", testCorpus.Name(i), dep)
			}
		}
	}
	if testCorpus.VersionCount(0) != 30 || testCorpus.VersionCount(1) != 5 {
		t.Errorf("version counts %d %d", testCorpus.VersionCount(0), testCorpus.VersionCount(1))
	}
	if c := (Corpus{Versions: 7}); c.VersionCount(0) != 7 {
		t.Errorf("without hot versions package 0 has %d", c.VersionCount(0))
	}
	prev := semver.MustParse(VersionString(0))
	for k := 1; k < maxVersions; k++ {
		v := semver.MustParse(VersionString(k))
		if !v.GreaterThan(prev) || v.Major() != 1 {
			t.Fatalf("version %d (%s) does not follow %s within 1.x", k, v, prev)
		}
		prev = v
	}
}

func TestCorpusValidate(t *testing.T) {
	if err := testCorpus.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []Corpus{
		{Prefix: "", Packages: 1, Versions: 1},
		{Prefix: "Bench", Packages: 1, Versions: 1},
		{Prefix: "@x/y", Packages: 1, Versions: 1},
		{Prefix: "b", Packages: 0, Versions: 1},
		{Prefix: "b", Packages: 1, Versions: 0},
		{Prefix: "b", Packages: 1, Versions: maxVersions + 1},
		{Prefix: "b", Packages: 1, Versions: 1, HotVersions: -1},
		{Prefix: "b", Packages: 1, Versions: 1, ReadmeBytes: -1},
	}
	for _, c := range bad {
		if c.Validate() == nil {
			t.Errorf("%+v passed validation", c)
		}
	}
}

func TestSizedRelease(t *testing.T) {
	for _, size := range []int{4 << 10, 10 << 10, 100 << 10} {
		r, err := SizedRelease("pub-0001", "1.0.0", size, 7)
		if err != nil {
			t.Fatal(err)
		}
		if d := len(r.Tarball) - size; d*50 > size || -d*50 > size {
			t.Errorf("want %d bytes, tarball has %d", size, len(r.Tarball))
		}
		if files := untar(t, r.Tarball); len(files["package/data.js"]) == 0 {
			t.Error("no data file")
		}
	}
}

func TestProjectManifest(t *testing.T) {
	raw, err := ProjectManifest(testCorpus, 20)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Private      bool              `json:"private"`
		Dependencies map[string]string `json:"dependencies"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	if !p.Private || len(p.Dependencies) != 20 || p.Dependencies[testCorpus.Name(19)] != "^1.0.0" {
		t.Errorf("project %+v", p)
	}
	if _, err := ProjectManifest(testCorpus, 21); err == nil {
		t.Error("more dependencies than packages should fail")
	}
}
