package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Corpus describes the packages the harness publishes. Everything it builds
// is a pure function of its fields, so two registries seeded with the same
// Corpus hold byte-identical tarballs and the same lockfile installs from
// either.
type Corpus struct {
	// Prefix starts every package name.
	Prefix string
	// Packages is how many packages there are.
	Packages int
	// Versions is how many versions each package has.
	Versions int
	// HotVersions is how many versions package 0, the one the load test
	// reads, has; 0 means Versions.
	HotVersions int
	// ReadmeBytes is the approximate size of each version's README.
	ReadmeBytes int
}

// Validate reports settings that cannot make a corpus.
func (c Corpus) Validate() error {
	switch {
	case c.Prefix == "" || strings.ToLower(c.Prefix) != c.Prefix || strings.ContainsAny(c.Prefix, "/@ "):
		return fmt.Errorf("prefix %q: want a lowercase unscoped name", c.Prefix)
	case c.Packages < 1:
		return fmt.Errorf("packages must be at least 1, not %d", c.Packages)
	case c.Versions < 1 || c.Versions > maxVersions:
		return fmt.Errorf("versions must be between 1 and %d, not %d", maxVersions, c.Versions)
	case c.HotVersions < 0 || c.HotVersions > maxVersions:
		return fmt.Errorf("hot versions must be between 0 and %d, not %d", maxVersions, c.HotVersions)
	case c.ReadmeBytes < 0:
		return fmt.Errorf("readme bytes must not be negative")
	}
	return nil
}

// maxVersions bounds the versions of one package: VersionString numbers
// them 1.0.0 to 1.99.9.
const maxVersions = 1000

// words feed the generated prose: READMEs, descriptions and keywords.
var words = strings.Fields(`stream buffer parse format cache token route request response header
	config option value table index query record field schema merge patch diff tree graph node edge
	queue worker retry timeout signal event emit listen handle error result promise async await
	string number array object map set key path file folder module import export build bundle
	minify compile render template layout style color theme icon image font locale date time
	zone offset range limit page cursor batch chunk slice split join trim pad match replace`)

// Name is the name of package i.
func (c Corpus) Name(i int) string {
	return fmt.Sprintf("%s-%s-%04d", c.Prefix, words[i%len(words)], i)
}

// VersionCount is how many versions package i has.
func (c Corpus) VersionCount(i int) int {
	if i == 0 && c.HotVersions > 0 {
		return c.HotVersions
	}
	return c.Versions
}

// VersionString is the k-th version of every package, in semver order:
// 1.0.0, 1.0.1, ... 1.0.9, 1.1.0, ...
func VersionString(k int) string {
	return fmt.Sprintf("1.%d.%d", k/10, k%10)
}

// Dependencies are the packages package i depends on: up to two packages of
// higher index, so the graph has no cycles and every package appears in an
// install of all of them.
func (c Corpus) Dependencies(i int) map[string]string {
	deps := map[string]string{}
	for _, j := range []int{i + 1, i + 7} {
		if j < c.Packages {
			deps[c.Name(j)] = "^1.0.0"
		}
	}
	return deps
}

// Release is one version of a package ready to publish: its manifest as
// npm sends it and its tarball.
type Release struct {
	Name, Version string
	// Manifest is the version document of the publish body (package.json
	// plus readme and dist); dist.tarball is filled by PublishBody.
	Manifest map[string]any
	// Tarball is the gzip tar npm pack would make.
	Tarball []byte
}

// Release builds version k of package i.
func (c Corpus) Release(i, k int) (Release, error) {
	name, version := c.Name(i), VersionString(k)
	rng := rand.New(rand.NewPCG(uint64(i)+1, uint64(k)+1))
	pkg := packageJSON(name, version, sentence(rng, 8), c.Dependencies(i), rng)
	files := []tarFile{
		{"package/package.json", mustJSON(pkg)},
		{"package/README.md", []byte(Readme(rng, name, version, c.ReadmeBytes))},
		{"package/index.js", []byte(indexJS(rng, name))},
		{"package/LICENSE", []byte(license)},
	}
	return newRelease(pkg, files)
}

// SizedRelease builds a release whose tarball is close to size bytes: the
// package carries a data file of incompressible text, trimmed until the
// gzip output is within 2% of the wanted size.
func SizedRelease(name, version string, size int, seed uint64) (Release, error) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	pkg := packageJSON(name, version, "a package of about "+fmt.Sprint(size)+" bytes", nil, rng)
	base := []tarFile{
		{"package/package.json", mustJSON(pkg)},
		{"package/README.md", []byte(Readme(rng, name, version, 1024))},
		{"package/index.js", []byte("module.exports = require('./data.js');\n")},
	}
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	noise := make([]byte, 2*size+64)
	for n := range noise {
		noise[n] = alphabet[rng.IntN(len(alphabet))]
	}
	pad := size // first guess; corrected from the measured size below
	var r Release
	for range 8 {
		if pad < 0 {
			pad = 0
		}
		pad = min(pad, len(noise))
		data := "module.exports = '" + string(noise[:pad]) + "';\n"
		var err error
		r, err = newRelease(pkg, append(base[:len(base):len(base)], tarFile{"package/data.js", []byte(data)}))
		if err != nil {
			return Release{}, err
		}
		diff := size - len(r.Tarball)
		if diff*50 <= size && -diff*50 <= size {
			break
		}
		// base64 text gzips to about three quarters of its length.
		pad += diff * 4 / 3
	}
	return r, nil
}

func newRelease(pkg map[string]any, files []tarFile) (Release, error) {
	tgz, err := Tarball(files)
	if err != nil {
		return Release{}, err
	}
	manifest := make(map[string]any, len(pkg)+6)
	for k, v := range pkg {
		manifest[k] = v
	}
	for _, f := range files {
		if f.name == "package/README.md" {
			manifest["readme"] = string(f.data)
			manifest["readmeFilename"] = "README.md"
		}
	}
	name, version := pkg["name"].(string), pkg["version"].(string)
	manifest["_id"] = name + "@" + version
	manifest["_nodeVersion"] = "22.12.0"
	manifest["_npmVersion"] = "10.9.0"
	sum1 := sha1.Sum(tgz)
	sum512 := sha512.Sum512(tgz)
	manifest["dist"] = map[string]any{
		"shasum":    hex.EncodeToString(sum1[:]),
		"integrity": "sha512-" + base64.StdEncoding.EncodeToString(sum512[:]),
	}
	return Release{Name: name, Version: version, Manifest: manifest, Tarball: tgz}, nil
}

// TarballFile is the file name of a release's tarball, as in its URL.
func (r Release) TarballFile() string {
	base := r.Name
	if i := strings.LastIndexByte(base, '/'); i >= 0 {
		base = base[i+1:]
	}
	return base + "-" + r.Version + ".tgz"
}

// TarballPath is the URL path a registry serves the tarball at.
func (r Release) TarballPath() string {
	return "/" + r.Name + "/-/" + r.TarballFile()
}

// PublishBody is the JSON document `npm publish` sends with PUT /<name>:
// the version under "versions", the latest dist-tag and the tarball as a
// base64 attachment. registry fills dist.tarball, as npm does.
func (r Release) PublishBody(registry string) ([]byte, error) {
	manifest := make(map[string]any, len(r.Manifest))
	for k, v := range r.Manifest {
		manifest[k] = v
	}
	dist := map[string]any{}
	if d, ok := r.Manifest["dist"].(map[string]any); ok {
		for k, v := range d {
			dist[k] = v
		}
	}
	dist["tarball"] = strings.TrimRight(registry, "/") + r.TarballPath()
	manifest["dist"] = dist
	body := map[string]any{
		"_id":         r.Name,
		"name":        r.Name,
		"description": r.Manifest["description"],
		"dist-tags":   map[string]string{"latest": r.Version},
		"versions":    map[string]any{r.Version: manifest},
		"access":      nil,
		"_attachments": map[string]any{r.TarballFile(): map[string]any{
			"content_type": "application/octet-stream",
			"data":         base64.StdEncoding.EncodeToString(r.Tarball),
			"length":       len(r.Tarball),
		}},
	}
	return json.Marshal(body)
}

func packageJSON(name, version, description string, deps map[string]string, rng *rand.Rand) map[string]any {
	pkg := map[string]any{
		"name":        name,
		"version":     version,
		"description": description,
		"main":        "index.js",
		"scripts":     map[string]string{"test": "node --test"},
		"keywords":    []string{pick(rng), pick(rng), pick(rng)},
		"author":      "Bench Author <bench@example.com>",
		"license":     "MIT",
		"repository":  map[string]string{"type": "git", "url": "git+https://example.com/bench/" + name + ".git"},
		"bugs":        map[string]string{"url": "https://example.com/bench/" + name + "/issues"},
		"homepage":    "https://example.com/bench/" + name + "#readme",
		"engines":     map[string]string{"node": ">=18"},
	}
	if len(deps) > 0 {
		pkg["dependencies"] = deps
	}
	return pkg
}

// Readme writes a Markdown README of about size bytes (at least the title
// and install section): the sections a real package has, with generated
// prose and code.
func Readme(rng *rand.Rand, name, version string, size int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", name)
	fmt.Fprintf(&b, "[![version](https://example.com/badge/%s-%s.svg)](https://example.com/%s) ", name, version, name)
	b.WriteString("[![license](https://example.com/badge/MIT.svg)](LICENSE)\n\n")
	fmt.Fprintf(&b, "%s\n\n", paragraph(rng, 3))
	fmt.Fprintf(&b, "## Install\n\n```sh\nnpm install %s\n```\n\n", name)
	fmt.Fprintf(&b, "## Usage\n\n```js\nconst lib = require('%s');\n\nconst %s = lib.%s({ %s: true });\nconsole.log(%s.%s());\n```\n\n",
		name, pick(rng), pick(rng), pick(rng), pick(rng), pick(rng))
	b.WriteString("## API\n\n")
	for b.Len() < size-200 {
		fn := pick(rng) + strings.ToUpper(pick(rng)[:1]) + pick(rng)[1:]
		fmt.Fprintf(&b, "### `%s(%s, [options])`\n\n%s\n\n", fn, pick(rng), paragraph(rng, 2))
		fmt.Fprintf(&b, "| option | type | default |\n|---|---|---|\n| `%s` | `boolean` | `false` |\n| `%s` | `number` | `%d` |\n\n",
			pick(rng), pick(rng), rng.IntN(1000))
	}
	fmt.Fprintf(&b, "## License\n\nMIT. Version %s.\n", version)
	return b.String()
}

func indexJS(rng *rand.Rand, name string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "'use strict';\n\n// %s: %s\n\n", name, sentence(rng, 10))
	for range 12 {
		fmt.Fprintf(&b, "function %s(%s, options = {}) {\n  if (options.%s) return %s;\n  return [%s, %d].join('-');\n}\n\n",
			pick(rng)+fmt.Sprint(rng.IntN(100)), pick(rng), pick(rng), pick(rng), pick(rng), rng.IntN(1000))
	}
	b.WriteString("module.exports = {};\n")
	return b.String()
}

const license = `MIT License

Permission is hereby granted, free of charge, to any person obtaining a copy of this
software and associated documentation files, to deal in the Software without restriction.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND.
`

func pick(rng *rand.Rand) string { return words[rng.IntN(len(words))] }

func sentence(rng *rand.Rand, n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = pick(rng)
	}
	s := strings.Join(parts, " ")
	return strings.ToUpper(s[:1]) + s[1:] + "."
}

func paragraph(rng *rand.Rand, sentences int) string {
	parts := make([]string, sentences)
	for i := range parts {
		parts[i] = sentence(rng, 8+rng.IntN(10))
	}
	return strings.Join(parts, " ")
}

type tarFile struct {
	name string
	data []byte
}

// tarTime is the modification time of every file in a generated tarball,
// the one npm pack uses, so the bytes never depend on the clock.
var tarTime = time.Date(1985, 10, 26, 8, 15, 0, 0, time.UTC)

// Tarball packs files into a gzip tar, deterministically.
func Tarball(files []tarFile) ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: tarTime, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func mustJSON(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err) // only maps of strings reach here
	}
	return append(b, '\n')
}
