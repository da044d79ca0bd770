package registry

import (
	"bufio"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// ReceivedTarball is an attached tarball as ReadDocument received it:
// decoded from base64, checked as a gzip tar (every entry, the size bound,
// package/package.json present once), hashed and written to a file, all
// while the body was read. What the document says of it (length, shasum,
// integrity, name and version) is checked by DecodePublish.
type ReceivedTarball struct {
	file     *os.File
	size     int64
	sums     map[string][]byte // by SRI algorithm
	contents tarballContents
}

// Size is the tarball's length in bytes.
func (t *ReceivedTarball) Size() int64 { return t.size }

// Reader reads the tarball from its start; reads through different Readers
// must not overlap.
func (t *ReceivedTarball) Reader() io.Reader { return io.NewSectionReader(t.file, 0, t.size) }

// Close removes the tarball's file.
func (t *ReceivedTarball) Close() {
	if t == nil || t.file == nil {
		return
	}
	_ = t.file.Close()
	_ = os.Remove(t.file.Name())
	t.file = nil
}

// sum returns the tarball's hash by the SRI algorithm algo, hashing the file
// again for one that was not computed while it was received.
func (t *ReceivedTarball) sum(algo string) ([]byte, error) {
	if s, ok := t.sums[algo]; ok {
		return s, nil
	}
	h := newSRIHash(algo)
	if h == nil {
		return nil, fmt.Errorf("no hash %s", algo)
	}
	if _, err := io.Copy(h, t.Reader()); err != nil {
		return nil, fmt.Errorf("hash the received tarball: %w", err)
	}
	t.sums[algo] = h.Sum(nil)
	return t.sums[algo], nil
}

// verify checks the received tarball against what the document says, in
// VerifyTarball's order and with its messages, and returns its Digest.
func (t *ReceivedTarball) verify(want TarballCheck) (Digest, error) {
	if want.Length >= 0 && want.Length != t.size {
		return Digest{}, fault.Invalidf("attached tarball length mismatch: declared %d bytes, got %d", want.Length, t.size)
	}
	d := Digest{Size: t.size}
	copy(d.SHA512[:], t.sums["sha512"])
	d.Shasum = hex.EncodeToString(t.sums["sha1"])
	d.Integrity = "sha512-" + base64.StdEncoding.EncodeToString(d.SHA512[:])
	if err := checkDeclaredHashes(want, d.Shasum, t.sum); err != nil {
		return Digest{}, err
	}
	if err := checkPackageJSON(t.contents.packageJSON, want.Name, want.Version); err != nil {
		return Digest{}, err
	}
	d.FileCount = t.contents.files
	d.UnpackedSize = t.contents.unpacked
	d.PackageJSON = t.contents.packageJSON
	return d, nil
}

// sourceError remembers the first error its reader returned (io.EOF aside).
type sourceError struct {
	r   io.Reader
	err error
}

func (s *sourceError) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// spooler hashes and counts what is written to it and writes it on to a file.
type spooler struct {
	w      *bufio.Writer
	hashes map[string]hash.Hash
	size   int64
	err    error
}

func (s *spooler) Write(p []byte) (int, error) {
	for _, h := range s.hashes {
		h.Write(p)
	}
	s.size += int64(len(p))
	n, err := s.w.Write(p)
	if err != nil && s.err == nil {
		s.err = err
	}
	return n, err
}

// receiveTarball reads an attached tarball from src, the base64 text of the
// data string, decoding it, hashing it with algos, writing it to a new file
// in dir and checking it as a gzip tar of at most limit uncompressed bytes
// (0: 1 GiB), all in one pass. What it holds in memory is a few buffers,
// whatever the tarball's size. src must be read to its end for a tarball to
// be whole; its errors come back as they are.
func receiveTarball(src io.Reader, dir string, algos []string, limit int64) (rt *ReceivedTarball, err error) {
	f, err := os.CreateTemp(dir, "publish-*.tgz")
	if err != nil {
		return nil, fmt.Errorf("spool the attached tarball: %w", err)
	}
	spooled := &ReceivedTarball{file: f, sums: map[string][]byte{}}
	defer func() {
		if err != nil {
			spooled.Close()
		}
	}()
	if limit <= 0 {
		limit = defaultMaxUnpacked
	}
	in := &sourceError{r: src}
	decoded := &sourceError{r: base64.NewDecoder(base64.StdEncoding, in)}
	out := &spooler{w: bufio.NewWriterSize(f, 64<<10), hashes: map[string]hash.Hash{}}
	for _, a := range algos {
		if h := newSRIHash(a); h != nil {
			out.hashes[a] = h
		}
	}
	tee := io.TeeReader(decoded, out)
	contents, checkErr := inspectTarball(tee, limit)
	if checkErr == nil {
		// The archive ended; whatever follows (nothing, for a tarball that
		// passed) is part of the tarball's bytes all the same.
		_, checkErr = io.Copy(io.Discard, tee)
	}
	switch {
	case in.err != nil:
		return nil, in.err
	case decoded.err != nil:
		return nil, fault.Wrap(fault.Invalid, decoded.err, "the attached tarball is not valid base64")
	case out.err != nil:
		return nil, fmt.Errorf("spool the attached tarball: %w", out.err)
	case checkErr != nil:
		return nil, checkErr
	}
	if err := out.w.Flush(); err != nil {
		return nil, fmt.Errorf("spool the attached tarball: %w", err)
	}
	for a, h := range out.hashes {
		spooled.sums[a] = h.Sum(nil)
	}
	spooled.size, spooled.contents = out.size, contents
	return spooled, nil
}
