package registry

import (
	"context"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/blob"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/gatehouse-registry/gatehouse/internal/uplink"
)

// proxiedTarball serves a tarball of name, which is not local, from the
// uplink that serves it: a cached one like a local one (after the gates,
// which may have changed since it was fetched), else one fetched now and
// streamed to the client and into the blob store at once (Tarball.Stream).
func (s *Service) proxiedTarball(ctx context.Context, p *auth.Principal, name, filename string) (Tarball, error) {
	x := s.proxy
	u := x.uplinkFor(name)
	if u == nil {
		return Tarball{}, fault.NotFoundf("Not found")
	}
	if err := policy.Decide(p, policy.Read, s.uplinkFacts(u, name)); err != nil {
		return Tarball{}, err
	}
	version, ok := versionFromFilename(name, filename)
	if !ok {
		return Tarball{}, fault.NotFoundf("Not found")
	}
	now := s.now()
	q := s.store.Q()
	row, cached := x.mem.tarball(tarballKey{name, version})
	s.obs.CacheLookup("uplink_tarball", cached)
	if !cached || row.Uplink != u.Name() {
		gen := x.mem.generation()
		r, err := q.UplinkTarball(ctx, name, version)
		switch {
		case err == nil && r.Uplink == u.Name():
			local, err := x.isLocal(ctx, q, name)
			if err != nil {
				return Tarball{}, err
			}
			if local {
				return Tarball{}, errors.Join(fault.NotFoundf("Not found"), x.forgetPackage(ctx, name))
			}
			row, cached = r, true
			x.mem.putTarball(row, gen)
		case err != nil && !fault.Is(err, fault.NotFound):
			return Tarball{}, err
		default:
			cached = false
		}
	}
	if cached {
		published := msTime(row.PublishedAt)
		if err := u.Allowed(name, version, published, now); err != nil {
			return Tarball{}, err
		}
		t, err := s.blobTarball(ctx, row.BlobKey, row.Size, cmpTime(published, msTime(row.FetchedAt)))
		if !fault.Is(err, fault.NotFound) {
			return t, err
		}
		// The blob went (removed by hand, or by gc): fetch it again.
		x.log.Warn("a cached tarball's blob is missing: fetching it again", slog.String("uplink", u.Name()),
			slog.String("package", name), slog.String("version", version))
		if err := q.DeleteUplinkTarball(ctx, name, version); err != nil {
			return Tarball{}, err
		}
		x.mem.forget(name)
	}

	local, err := x.isLocal(ctx, q, name)
	if err != nil {
		return Tarball{}, err
	}
	if local {
		return Tarball{}, errors.Join(fault.NotFoundf("Not found"), x.forgetPackage(ctx, name))
	}
	pk, err := x.packumentFor(ctx, u, name, version)
	if err != nil {
		return Tarball{}, err
	}
	dist, ok := pk.Dist(version)
	if !ok {
		if contains(pk.Versions(), version) {
			return Tarball{}, fault.New(fault.Upstream, "uplink %s gives neither an integrity nor a shasum for %s@%s: "+
				"its tarball cannot be verified, so it is not served", u.Name(), name, version)
		}
		return Tarball{}, fault.NotFoundf("Not found")
	}
	published := pk.Published(version)
	if err := u.Allowed(name, version, published, now); err != nil {
		return Tarball{}, err
	}
	return Tarball{Size: -1, Published: cmpTime(published, now), Stream: x.streamer(u, name, version, dist, published)}, nil
}

// msTime is the time of Unix milliseconds ms, zero for 0.
func msTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// cmpTime is t, or else when t is zero.
func cmpTime(t, or time.Time) time.Time {
	if t.IsZero() {
		return or
	}
	return t
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// blobTarball is a tarball kept in the blob store under key, ready to
// serve: small ones from memory.
func (s *Service) blobTarball(ctx context.Context, key string, size int64, published time.Time) (Tarball, error) {
	t := Tarball{Key: key, Size: size, Published: published}
	data, ok := s.tarballs.Get(key)
	s.obs.CacheLookup("tarball", ok)
	if ok {
		t.Data = data
		return t, nil
	}
	if size <= maxKeptTarball {
		data, err := s.blobs.ReadAll(ctx, key)
		if err != nil {
			return Tarball{}, err
		}
		s.tarballs.Put(key, data)
		t.Data, t.Size = data, int64(len(data))
		return t, nil
	}
	r, err := s.blobs.Open(ctx, key)
	if err != nil {
		return Tarball{}, err
	}
	t.Reader, t.Size = r, r.Size()
	return t, nil
}

// packumentFor returns the packument of name from u that lists version:
// the one cached (either kind; parsed, from memory when it is kept, else
// from the store), or, when none is or it does not list the
// version (published since?), one fetched now. Without a fresh one, the
// one cached is returned and the caller finds the version missing.
func (x *proxy) packumentFor(ctx context.Context, u *uplink.Uplink, name, version string) (*uplink.Packument, error) {
	q := x.s.store.Q()
	kinds := []string{storedKind(u, true)}
	if kinds[0] != store.DocumentFull {
		kinds = append(kinds, store.DocumentFull)
	}
	var found *uplink.Packument
	var fetchedAt int64 = -1
	for _, kind := range kinds {
		var p *uplink.Packument
		var at int64
		d := x.mem.parsed(name, kind)
		x.s.obs.CacheLookup("uplink_parsed", d != nil && d.uplink == u.Name())
		if d != nil && d.uplink == u.Name() {
			p, at = d.p, d.fetchedAt
		} else {
			gen := x.mem.generation()
			d, err := q.UplinkDocument(ctx, name, kind)
			if fault.Is(err, fault.NotFound) || err == nil && d.Uplink != u.Name() {
				continue
			}
			if err != nil {
				return nil, err
			}
			if p, err = x.parsedOf(fetchedDoc{doc: d}, gen); err != nil {
				return nil, err
			}
			at = d.FetchedAt
		}
		if _, ok := p.Dist(version); ok || contains(p.Versions(), version) {
			return p, nil
		}
		if found == nil {
			found, fetchedAt = p, at
		}
	}
	// A version missing from a packument fetched a moment ago is not worth
	// asking again for: requests for versions that do not exist would
	// otherwise each cost an upstream request.
	if found != nil && (u.Offline() || x.s.now().Sub(time.UnixMilli(fetchedAt)) < retryAfter(u)) {
		return found, nil
	}
	gen := x.mem.generation()
	fd, err := x.fetch(u, name, kinds[0], fetchedAt)
	if err != nil {
		if found != nil && !fault.Is(err, fault.NotFound) {
			return found, nil
		}
		return nil, err
	}
	return x.parsedOf(fd, gen)
}

// fetchedTarball is the outcome of a tarball's fetch: its record, and
// whether the fetch streamed it to the client that started it.
type fetchedTarball struct {
	row      store.UplinkTarball
	streamed bool
}

// streamer is the Stream of a tarball not cached yet. The first request
// for it (per node) fetches it, streaming the bytes to its client and into
// the blob store at once; requests arriving meanwhile wait for that fetch
// and are then served from the blob store. A fetch that fails before the
// first byte is an error the handler answers; one that fails after (the
// bytes do not match the packument's integrity, the uplink broke off) is
// an error after start, and the handler must abort the response so the
// client cannot use what it got.
func (x *proxy) streamer(u *uplink.Uplink, name, version string, dist uplink.Dist, published time.Time) func(context.Context, func(int64) io.Writer) error {
	return func(ctx context.Context, start func(size int64) io.Writer) error {
		leader := false
		v, err, _ := x.flights.Do("tgz\x00"+name+"\x00"+version, func() (any, error) {
			leader = true
			return x.fetchTarball(u, name, version, dist, published, start)
		})
		if err != nil {
			return err
		}
		res := v.(fetchedTarball)
		if leader && res.streamed {
			return nil
		}
		r, err := x.s.blobs.Open(ctx, res.row.BlobKey)
		if err != nil {
			return err
		}
		defer r.Close()
		_, err = io.Copy(start(r.Size()), r)
		return err
	}
}

// fetchTarball fetches name@version from u into the blob store, verified
// against dist, streaming it to start's writer as it goes, and records it.
// It first looks again for a record: a fetch that ended just before this
// one began has left one.
func (x *proxy) fetchTarball(u *uplink.Uplink, name, version string, dist uplink.Dist, published time.Time,
	start func(int64) io.Writer) (fetchedTarball, error) {
	ctx := x.ctx
	q := x.s.store.Q()
	gen := x.mem.generation()
	if row, err := q.UplinkTarball(ctx, name, version); err == nil && row.Uplink == u.Name() {
		if ok, err := x.s.blobs.Exists(ctx, row.BlobKey); err == nil && ok {
			return fetchedTarball{row: row}, nil
		}
	}
	subject := fmt.Sprintf("the tarball of %s@%s from uplink %s", name, version, u.Name())
	d, err := u.OpenTarball(ctx, u.TarballURL(dist.Tarball, name, version), name, version)
	if err != nil {
		x.log.Warn("uplink failed", slog.String("uplink", u.Name()), slog.String("package", name),
			slog.String("version", version), slog.Any("error", err))
		return fetchedTarball{}, err
	}
	defer d.Body.Close()

	sums := newDigester(dist.Integrity)
	out := &holdback{w: start(d.Size)}
	src := &verifying{r: io.TeeReader(d.Body, io.MultiWriter(sums, out)), check: func() error {
		return sums.check(dist, subject)
	}}
	key, known := sha512Key(dist.Integrity)
	if known {
		err = x.s.blobs.Write(ctx, key, src)
	} else {
		key, err = x.spill(ctx, src, sums)
	}
	if err == nil && !src.checked {
		// Every blob store reads its source to the end; one that did not
		// would have stored bytes nobody checked.
		err = errors.Join(fmt.Errorf("the blob store stopped reading %s before its end", subject), x.s.blobs.Delete(ctx, key))
	}
	if err != nil {
		if e, ok := fault.As(err); ok && e.Kind == fault.Invalid {
			// The bytes do not match what the uplink's packument says.
			err = fault.Wrap(fault.Upstream, err, e.Message+": refused, nothing kept")
		}
		x.log.Warn("uplink tarball refused", slog.String("uplink", u.Name()), slog.String("package", name),
			slog.String("version", version), slog.Any("error", err))
		return fetchedTarball{}, err
	}
	row := store.UplinkTarball{Name: name, Version: version, Uplink: u.Name(), BlobKey: key, Size: sums.n,
		FetchedAt: x.s.now().UnixMilli()}
	if !published.IsZero() {
		row.PublishedAt = published.UnixMilli()
	}
	if err := x.commits.do(func(q store.Queries) error { return q.SaveUplinkTarball(ctx, row) }); err != nil {
		return fetchedTarball{}, err
	}
	x.mem.putTarball(row, gen)
	out.release()
	return fetchedTarball{row: row, streamed: true}, nil
}

// spill stores a tarball whose packument gives no single SHA-512 (its
// content address is known only at its end): through a temporary file,
// then into the blob store under the digest sums computed.
func (x *proxy) spill(ctx context.Context, src io.Reader, sums *digester) (string, error) {
	f, err := os.CreateTemp("", "gatehouse-uplink-*.tgz")
	if err != nil {
		return "", fmt.Errorf("spill a tarball: %w", err)
	}
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()
	if _, err := io.Copy(f, src); err != nil {
		return "", err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", fmt.Errorf("spill a tarball: %w", err)
	}
	var sum [64]byte
	copy(sum[:], sums.sum("sha512"))
	key := blob.Key(sum)
	return key, x.s.blobs.Write(ctx, key, f)
}

// sha512Key is the content address integrity names, when it names exactly
// one SHA-512 digest.
func sha512Key(integrity string) (string, bool) {
	var found []byte
	for _, token := range strings.Fields(integrity) {
		algo, digest, _ := strings.Cut(token, "-")
		if algo != "sha512" {
			continue
		}
		digest, _, _ = strings.Cut(digest, "?")
		raw, err := base64.StdEncoding.DecodeString(digest)
		if err != nil || len(raw) != sha512.Size || found != nil && string(found) != string(raw) {
			return "", false
		}
		found = raw
	}
	if found == nil {
		return "", false
	}
	var sum [64]byte
	copy(sum[:], found)
	return blob.Key(sum), true
}

// digester computes a tarball's digests as it passes: SHA-512 and SHA-1
// always, and SHA-256 or SHA-384 when the integrity names them.
type digester struct {
	hashes map[string]hash.Hash
	sums   map[string][]byte
	n      int64
}

func newDigester(integrity string) *digester {
	d := &digester{hashes: map[string]hash.Hash{"sha512": sha512.New(), "sha1": sha1.New()}, sums: map[string][]byte{}}
	for _, token := range strings.Fields(integrity) {
		algo, _, _ := strings.Cut(token, "-")
		if _, ok := d.hashes[algo]; !ok {
			if h := newSRIHash(algo); h != nil {
				d.hashes[algo] = h
			}
		}
	}
	return d
}

func (d *digester) Write(p []byte) (int, error) {
	for _, h := range d.hashes {
		h.Write(p)
	}
	d.n += int64(len(p))
	return len(p), nil
}

// sum is the digest by algo of everything written.
func (d *digester) sum(algo string) []byte {
	if s, ok := d.sums[algo]; ok {
		return s
	}
	h, ok := d.hashes[algo]
	if !ok {
		return nil
	}
	s := h.Sum(nil)
	d.sums[algo] = s
	return s
}

// check compares the digests with dist: each of the integrity and the
// shasum it gives must match, as for a publish.
func (d *digester) check(dist uplink.Dist, subject string) error {
	if dist.Shasum != "" {
		if err := checkShasumOf(dist.Shasum, hex.EncodeToString(d.sum("sha1")), subject); err != nil {
			return err
		}
	}
	if dist.Integrity != "" {
		return checkIntegrityOf(dist.Integrity, subject, func(algo string) ([]byte, error) { return d.sum(algo), nil })
	}
	return nil
}

// verifying reads r and, at its end, runs check: an error from it takes the
// place of io.EOF, so whoever reads (the blob store) abandons what it was
// writing.
type verifying struct {
	r       io.Reader
	check   func() error
	checked bool
}

func (v *verifying) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	if err == io.EOF && !v.checked {
		v.checked = true
		if cerr := v.check(); cerr != nil {
			return n, cerr
		}
	}
	return n, err
}

// holdback passes what is written to w, always keeping back the last
// write until release: a tarball refused at its end (its digest does not
// match) never reaches the client whole. Errors writing to w (a client gone)
// are remembered, not returned: the fetch goes on into the blob store for
// the requests waiting on it.
type holdback struct {
	w       io.Writer
	pending []byte
	err     error
}

func (h *holdback) Write(p []byte) (int, error) {
	h.flush()
	h.pending = append(h.pending[:0], p...)
	return len(p), nil
}

func (h *holdback) flush() {
	if len(h.pending) > 0 && h.err == nil {
		_, h.err = h.w.Write(h.pending)
	}
	h.pending = h.pending[:0]
}

// release passes on what was held back.
func (h *holdback) release() { h.flush() }
