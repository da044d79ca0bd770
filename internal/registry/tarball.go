package registry

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/maphash"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

const (
	// defaultMaxUnpacked caps the uncompressed bytes of a tarball when
	// TarballCheck.MaxUnpacked is zero.
	defaultMaxUnpacked = 1 << 30
	// maxPackageJSON caps the size of package/package.json.
	maxPackageJSON = 10 << 20
	// packageJSONPath is where npm puts the manifest inside a tarball.
	packageJSONPath = "package/package.json"
)

// TarballCheck is what a publish says about its tarball.
type TarballCheck struct {
	// Name and Version are the published name and version; they must equal
	// package/package.json's.
	Name, Version string
	// Shasum is dist.shasum, the hex SHA-1 of the tarball; it or Integrity is required.
	Shasum string
	// Integrity is dist.integrity, a Subresource Integrity string that may hold
	// several space-separated hashes; it or Shasum is required. Every supported algorithm it
	// names (sha512, sha384, sha256, sha1) must have a matching hash, so one
	// holding sha512 hashes is checked against SHA-512 and one holding only
	// sha1 hashes against SHA-1.
	Integrity string
	// Length is the attachment's declared "length", or -1 when absent.
	Length int64
	// MaxUnpacked caps the total uncompressed bytes read (a guard against
	// gzip bombs); 0 means 1 GiB.
	MaxUnpacked int64
}

// Digest is what gatehouse records about an accepted tarball.
type Digest struct {
	// SHA512 is the tarball's SHA-512, also the content address of its blob.
	SHA512 [64]byte
	// Shasum is the hex SHA-1 of the tarball.
	Shasum string
	// Integrity is "sha512-<base64>" of the tarball.
	Integrity string
	// Size is the tarball's length in bytes.
	Size int64
	// FileCount is the number of regular files in the archive.
	FileCount int
	// UnpackedSize is the total size of those files.
	UnpackedSize int64
	// PackageJSON is the raw bytes of package/package.json.
	PackageJSON []byte
}

// IntegrityOf returns the SRI string "sha512-<standard base64>" of data.
func IntegrityOf(data []byte) string {
	sum := sha512.Sum512(data)
	return "sha512-" + base64.StdEncoding.EncodeToString(sum[:])
}

// digestOf returns data's checksums and size; the rest of a Digest comes
// from reading the archive.
func digestOf(data []byte) Digest {
	d := Digest{SHA512: sha512.Sum512(data), Size: int64(len(data))}
	sha1Sum := sha1.Sum(data)
	d.Shasum = hex.EncodeToString(sha1Sum[:])
	d.Integrity = "sha512-" + base64.StdEncoding.EncodeToString(d.SHA512[:])
	return d
}

// VerifyTarball checks a published tarball: data is the raw .tgz (already
// base64-decoded). It checks the declared length, the SHA-1 against
// want.Shasum and the SRI against want.Integrity, then reads the whole gzip
// tar: every header must be valid and every path relative and free of "..",
// the uncompressed stream must stay within want.MaxUnpacked, and
// package/package.json (or ./package/package.json) must appear exactly once
// and hold a JSON object whose "name" and "version" equal want's. The version
// may be written as npm would clean it ("v1.2.3" for 1.2.3). It returns the
// Digest, or an Invalid fault saying what is wrong.
func VerifyTarball(data []byte, want TarballCheck) (Digest, error) {
	if want.Length >= 0 && want.Length != int64(len(data)) {
		return Digest{}, fault.Invalidf("attached tarball length mismatch: declared %d bytes, got %d", want.Length, len(data))
	}
	d := digestOf(data)
	err := checkDeclaredHashes(want, d.Shasum, func(algo string) ([]byte, error) {
		h := newSRIHash(algo)
		h.Write(data)
		return h.Sum(nil), nil
	})
	if err != nil {
		return Digest{}, err
	}

	limit := want.MaxUnpacked
	if limit <= 0 {
		limit = defaultMaxUnpacked
	}
	contents, err := readTarball(data, limit)
	if err != nil {
		return Digest{}, err
	}
	if err := checkPackageJSON(contents.packageJSON, want.Name, want.Version); err != nil {
		return Digest{}, err
	}
	d.FileCount = contents.files
	d.UnpackedSize = contents.unpacked
	d.PackageJSON = contents.packageJSON
	return d, nil
}

// checkDeclaredHashes checks the tarball's hashes against what the
// document declares: at least one of dist.shasum and dist.integrity (npm
// sends both; some older clients, yarn 1, only the shasum), and each one
// given must match. shasum is the tarball's hex SHA-1; sum returns its hash
// by an SRI algorithm.
func checkDeclaredHashes(want TarballCheck, shasum string, sum func(algo string) ([]byte, error)) error {
	if want.Shasum == "" && strings.TrimSpace(want.Integrity) == "" {
		return fault.Invalidf("dist.shasum or dist.integrity is required for the attached tarball")
	}
	if want.Shasum != "" {
		if err := checkShasum(want.Shasum, shasum); err != nil {
			return err
		}
	}
	if strings.TrimSpace(want.Integrity) != "" {
		return checkIntegrity(want.Integrity, sum)
	}
	return nil
}

// attachedTarball is what the checks of a publish call its tarball.
const attachedTarball = "the attached tarball"

// checkShasum compares the declared hex SHA-1 with the computed one.
func checkShasum(declared, got string) error { return checkShasumOf(declared, got, attachedTarball) }

// checkShasumOf compares the declared hex SHA-1 of subject, the tarball
// checked, with the computed one.
func checkShasumOf(declared, got, subject string) error {
	if declared == "" {
		return fault.Invalidf("dist.shasum is required for %s", subject)
	}
	if len(declared) != 2*sha1.Size {
		return fault.Invalidf("dist.shasum %s is not a hex SHA-1", quoteClipped(declared))
	}
	if _, err := hex.DecodeString(declared); err != nil {
		return fault.Invalidf("dist.shasum %s is not a hex SHA-1", quoteClipped(declared))
	}
	if !strings.EqualFold(declared, got) {
		return fault.Invalidf("shasum mismatch for %s: expected %s, got %s", subject, declared, got)
	}
	return nil
}

// newSRIHash returns a hash for an SRI algorithm gatehouse can check, or nil.
func newSRIHash(algo string) hash.Hash {
	switch algo {
	case "sha512":
		return sha512.New()
	case "sha384":
		return sha512.New384()
	case "sha256":
		return sha256.New()
	case "sha1":
		return sha1.New()
	}
	return nil
}

// checkIntegrity checks the SRI string declared against the tarball whose
// hashes sum returns. Tokens are
// "<algorithm>-<base64>[?options]" separated by whitespace, as ssri parses
// them; tokens of algorithms gatehouse does not know are ignored. For each
// known algorithm present, at least one of its hashes must match.
func checkIntegrity(declared string, sum func(algo string) ([]byte, error)) error {
	return checkIntegrityOf(declared, attachedTarball, sum)
}

// checkIntegrityOf is checkIntegrity for subject, the tarball checked,
// whose digest by each SRI algorithm sum returns.
func checkIntegrityOf(declared, subject string, sum func(algo string) ([]byte, error)) error {
	if strings.TrimSpace(declared) == "" {
		return fault.Invalidf("dist.integrity is required for %s", subject)
	}
	claimed := make(map[string][]string)
	for _, token := range strings.Fields(declared) {
		algo, digest, ok := strings.Cut(token, "-")
		if !ok {
			continue
		}
		digest, _, _ = strings.Cut(digest, "?")
		claimed[algo] = append(claimed[algo], digest)
	}
	checked := false
	for _, algo := range [...]string{"sha512", "sha384", "sha256", "sha1"} {
		digests := claimed[algo]
		if len(digests) == 0 {
			continue
		}
		checked = true
		got, err := sum(algo)
		if err != nil {
			return err
		}
		if !anyDigestMatches(digests, got) {
			expected := make([]string, len(digests))
			for i, dg := range digests {
				expected[i] = algo + "-" + clip(dg)
			}
			return fault.Invalidf("integrity mismatch for %s: expected %s, got %s-%s",
				subject, strings.Join(expected, " "), algo, base64.StdEncoding.EncodeToString(got))
		}
	}
	if !checked {
		return fault.Invalidf("dist.integrity %s holds no sha512, sha384, sha256 or sha1 hash", quoteClipped(declared))
	}
	return nil
}

// anyDigestMatches reports whether one of the base64 digests decodes to sum.
func anyDigestMatches(digests []string, sum []byte) bool {
	for _, dg := range digests {
		raw, err := base64.StdEncoding.DecodeString(dg)
		if err != nil {
			raw, err = base64.RawStdEncoding.DecodeString(dg)
		}
		if err == nil && subtle.ConstantTimeCompare(raw, sum) == 1 {
			return true
		}
	}
	return false
}

// tarballContents is what reading the archive yields.
type tarballContents struct {
	files       int
	unpacked    int64
	packageJSON []byte
}

// maxTarEntries bounds the entries of one archive: each costs a little
// memory while the archive is checked (its normalised path is remembered to
// find a second entry for the same path), and no real package comes near it.
const maxTarEntries = 100_000

// gzipStream decompresses the gzip members src holds one after another, as
// Node's zlib does when npm installs a tarball: after a member, another member
// may follow and trailing zero bytes are ignored, but anything else is an
// error. It reads src as a stream, never holding more than a buffer of it.
type gzipStream struct {
	src *bufio.Reader
	z   *gzip.Reader
}

// trailingDataError reports bytes after the last gzip member that are neither
// another member nor zero padding.
type trailingDataError struct{}

func (trailingDataError) Error() string { return "unexpected data after the gzip stream" }

func newGzipStream(r io.Reader) (*gzipStream, error) {
	// A *bufio.Reader is an io.ByteReader, so the decompressor reads no
	// further than the end of each member and what follows can be peeked at.
	src := bufio.NewReaderSize(r, 32<<10)
	z, err := gzip.NewReader(src)
	if err != nil {
		return nil, fmt.Errorf("read gzip header: %w", err)
	}
	z.Multistream(false)
	return &gzipStream{src: src, z: z}, nil
}

func (g *gzipStream) Read(p []byte) (int, error) {
	for {
		n, err := g.z.Read(p)
		if err != io.EOF {
			return n, err
		}
		if n > 0 {
			return n, nil
		}
		head, err := g.src.Peek(2)
		switch {
		case len(head) == 0 && err == io.EOF:
			return 0, io.EOF
		case len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b:
			if err := g.z.Reset(g.src); err != nil {
				return 0, fmt.Errorf("read gzip header of a following member: %w", err)
			}
			g.z.Multistream(false)
		case err != nil && err != io.EOF:
			return 0, err
		default:
			return 0, onlyZeros(g.src)
		}
	}
}

// onlyZeros reads r to its end: io.EOF when it held only zero bytes, a
// trailingDataError at the first other byte, or r's error.
func onlyZeros(r *bufio.Reader) error {
	for {
		b, err := r.ReadByte()
		if err != nil {
			return err
		}
		if b != 0 {
			return trailingDataError{}
		}
	}
}

// gzipCounter counts the uncompressed bytes read through it and remembers the
// first error the decompressor reported, so that a broken gzip stream is not
// blamed on the tar format.
type gzipCounter struct {
	r   io.Reader
	n   int64
	err error
}

func (c *gzipCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	return n, err
}

// readTarball checks the gzip tar in data (see inspectTarball).
func readTarball(data []byte, limit int64) (tarballContents, error) {
	return inspectTarball(bytes.NewReader(data), limit)
}

// inspectTarball reads the gzip tar r yields to its very end, reading at
// most limit uncompressed bytes, and keeps only package/package.json. Every
// entry name is normalised (see entryPath) and must be safe; only regular
// files and directories are accepted; no two entries may land on the same
// path once npm extracts them (npm drops the first folder of every path, so
// package/x and other/x land on the same file); and package/package.json
// must appear exactly once, as a regular file. It holds no more than one
// buffer of r and the manifest, whatever the archive's size.
func inspectTarball(r io.Reader, limit int64) (tarballContents, error) {
	zr, err := newGzipStream(r)
	if err != nil {
		return tarballContents{}, fault.Wrap(fault.Invalid, err, "attached tarball is not a gzip file")
	}
	// Read one byte past the limit so that going over it can be told apart
	// from ending exactly on it.
	bound := limit
	if bound < 1<<62 {
		bound++
	}
	counter := &gzipCounter{r: &io.LimitedReader{R: zr, N: bound}}
	// fail turns a read error into the fault that explains it best.
	fail := func(err error, what string) error {
		var trailing trailingDataError
		switch {
		case counter.n > limit:
			return fault.Invalidf("attached tarball unpacks to more than %d bytes", limit)
		case errors.As(counter.err, &trailing):
			return fault.Wrap(fault.Invalid, fmt.Errorf("%s: %w", what, counter.err), "attached tarball has unexpected data after the end of its gzip stream")
		case counter.err != nil:
			return fault.Wrap(fault.Invalid, fmt.Errorf("%s: %w", what, counter.err), "attached tarball is a corrupt or truncated gzip file")
		default:
			return fault.Wrap(fault.Invalid, fmt.Errorf("%s: %w", what, err), "attached tarball is not a valid tar archive")
		}
	}

	var c tarballContents
	seenPackageJSON := false
	paths := newExtractedPaths()
	tr := tar.NewReader(counter)
	for entries := 0; ; entries++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return tarballContents{}, fail(err, "read tar header")
		}
		if entries == maxTarEntries {
			return tarballContents{}, fault.Invalidf("attached tarball has more than %d entries", maxTarEntries)
		}
		name, ok := entryPath(hdr.Name)
		if !ok {
			return tarballContents{}, fault.Invalidf("attached tarball has an unsafe path: %s", quoteClipped(hdr.Name))
		}
		regular := hdr.Typeflag == tar.TypeReg
		isManifest := name == packageJSONPath
		if !regular && hdr.Typeflag != tar.TypeDir && !isManifest {
			return tarballContents{}, fault.Invalidf("attached tarball entry %s is %s: only regular files and directories are accepted",
				quoteClipped(hdr.Name), entryKind(hdr.Typeflag))
		}
		if clash := paths.add(name, regular || isManifest); clash != "" {
			if isManifest || strings.EqualFold(clash, packageJSONPath) {
				return tarballContents{}, fault.Invalidf("%s appears more than once in the attached tarball", packageJSONPath)
			}
			return tarballContents{}, fault.Invalidf("attached tarball has two entries for the path %s", quoteClipped(hdr.Name))
		}
		if regular {
			c.files++
			c.unpacked += hdr.Size
		}
		if isManifest {
			seenPackageJSON = true
			if !regular {
				return tarballContents{}, fault.Invalidf("%s in the attached tarball is not a regular file", packageJSONPath)
			}
			if hdr.Size > maxPackageJSON {
				return tarballContents{}, fault.Invalidf("%s in the attached tarball is larger than %d MiB", packageJSONPath, maxPackageJSON>>20)
			}
			c.packageJSON, err = io.ReadAll(tr)
			if err != nil {
				return tarballContents{}, fail(err, "read "+packageJSONPath)
			}
			continue
		}
		if _, err := io.Copy(io.Discard, tr); err != nil {
			return tarballContents{}, fail(err, "read "+strconv.Quote(hdr.Name))
		}
	}
	// Read what follows the end-of-archive marker, so that the gzip checksum
	// is verified and the size bound covers the whole stream.
	if _, err := io.Copy(io.Discard, counter); err != nil || counter.n > limit {
		return tarballContents{}, fail(err, "read past the end of the archive")
	}
	if !seenPackageJSON {
		return tarballContents{}, fault.Invalidf("%s not found in the attached tarball", packageJSONPath)
	}
	return c, nil
}

// entryPath normalises a tar entry's name the way the checks see it, and
// reports whether it is safe: backslashes count as slashes (Windows
// extracts them so), then the path must be relative (no leading slash, no
// drive letter such as C:), hold no ".." element and no NUL, and is cleaned
// ("./package//a/./b" is "package/a/b").
func entryPath(name string) (string, bool) {
	if name == "" || strings.ContainsRune(name, 0) {
		return "", false
	}
	n := strings.ReplaceAll(name, `\`, "/")
	if strings.HasPrefix(n, "/") || len(n) >= 2 && n[1] == ':' && isASCIILetter(n[0]) {
		return "", false
	}
	for _, part := range strings.Split(n, "/") {
		if part == ".." {
			return "", false
		}
	}
	return path.Clean(n), true
}

func isASCIILetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// entryKind names a tar entry type for an error message.
func entryKind(flag byte) string {
	switch flag {
	case tar.TypeSymlink:
		return "a symbolic link"
	case tar.TypeLink:
		return "a hard link"
	case tar.TypeChar, tar.TypeBlock:
		return "a device file"
	case tar.TypeFifo:
		return "a named pipe"
	case tar.TypeXGlobalHeader:
		return "a global header"
	}
	return fmt.Sprintf("of type %q", flag)
}

// extractedPaths remembers where the entries of an archive land when npm
// extracts it: npm drops each path's first folder (tar's strip: 1), so
// package/x, other/x and package/./x all land on x.
type extractedPaths struct {
	seed  maphash.Seed
	files map[uint64]bool // by the hash of the landing path: true for a file, false for a folder
	// manifest is the normalised path of the entry landing on package.json
	// (compared without regard to case, as a case-insensitive file system
	// would), "" until one is seen.
	manifest string
}

func newExtractedPaths() *extractedPaths {
	return &extractedPaths{seed: maphash.MakeSeed(), files: map[uint64]bool{}}
}

// add records the entry at the normalised path name, a file or a folder, and
// returns the normalised path of an earlier entry it would overwrite or
// clash with ("" when none): any earlier entry for a file, an earlier file
// for a folder (folders may repeat). Paths are compared by a 64-bit hash
// with a seed of the archive's own, so a clash by chance is out of reach.
func (e *extractedPaths) add(name string, file bool) string {
	_, landing, ok := strings.Cut(name, "/")
	if !ok || landing == "" {
		return "" // the top folder itself: npm extracts nothing for it
	}
	if strings.EqualFold(landing, "package.json") {
		if e.manifest != "" && (file || e.files[maphash.String(e.seed, landing)]) {
			return e.manifest
		}
		if e.manifest == "" {
			e.manifest = name
		}
	}
	h := maphash.String(e.seed, landing)
	was, seen := e.files[h]
	if seen && (file || was) {
		return name
	}
	e.files[h] = file || was
	return ""
}

// checkPackageJSON checks that raw is a JSON object naming the published
// name and version.
func checkPackageJSON(raw []byte, name, version string) error {
	body := bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf")) // npm tolerates a byte order mark
	if !json.Valid(body) {
		return fault.Invalidf("%s in the attached tarball is not valid JSON", packageJSONPath)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return fault.Invalidf("%s in the attached tarball is not a JSON object", packageJSONPath)
	}
	gotName, err := stringField(fields, "name")
	if err != nil {
		return err
	}
	gotVersion, err := stringField(fields, "version")
	if err != nil {
		return err
	}
	// npm trims the name and cleans the version before publishing, so the
	// published values may differ from the file's in just those ways.
	if gotName != name && strings.TrimFunc(gotName, isJSSpace) != name {
		return fault.Invalidf("name in %s (%s) does not match the published name (%s)", packageJSONPath, quoteClipped(gotName), quoteClipped(name))
	}
	if gotVersion != version && cleanVersion(gotVersion) != version {
		return fault.Invalidf("version in %s (%s) does not match the published version (%s)", packageJSONPath, quoteClipped(gotVersion), quoteClipped(version))
	}
	return nil
}

// stringField returns the string value of key in fields, "" when absent.
func stringField(fields map[string]json.RawMessage, key string) (string, error) {
	raw, ok := fields[key]
	if !ok || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fault.Invalidf("%s in %s is not a string", key, packageJSONPath)
	}
	return s, nil
}

// cleanVersion is what node-semver's clean (in the loose mode npm uses when
// reading package.json) makes of v: surrounding spaces and leading "=" or
// "v" dropped, numbers without leading zeros, a prerelease that may lack its
// hyphen, and no build metadata. It returns "" when v is no version at all.
func cleanVersion(v string) string {
	v = strings.TrimLeft(strings.TrimFunc(v, isJSSpace), "=v \t")
	v, _, _ = strings.Cut(v, "+")
	var main [3]string
	rest := v
	for i := range main {
		end := 0
		for end < len(rest) && '0' <= rest[end] && rest[end] <= '9' {
			end++
		}
		if end == 0 {
			return ""
		}
		n, err := strconv.ParseInt(rest[:end], 10, 64)
		if err != nil || n > maxSafeInteger {
			return ""
		}
		main[i] = strconv.FormatInt(n, 10)
		rest = rest[end:]
		if i < 2 {
			if !strings.HasPrefix(rest, ".") {
				return ""
			}
			rest = rest[1:]
		}
	}
	out := main[0] + "." + main[1] + "." + main[2]
	if rest == "" {
		return out
	}
	rest = strings.TrimPrefix(rest, "-")
	ids := strings.Split(rest, ".")
	for i, id := range ids {
		if !isBuildIdentifier(id) {
			return ""
		}
		if strings.Trim(id, "0123456789") == "" {
			// Numeric identifiers become numbers unless they are too large.
			if n, err := strconv.ParseInt(id, 10, 64); err == nil && n < maxSafeInteger {
				ids[i] = strconv.FormatInt(n, 10)
			}
		}
	}
	return out + "-" + strings.Join(ids, ".")
}
