package npmapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/registry"
)

// abbreviatedType is the Accept type of the abbreviated ("corgi") packument.
const abbreviatedType = "application/vnd.npm.install-v1+json"

func timeNow() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000Z") }

// respond answers a write with npm's {"ok": true} or the error.
func (a *API) respond(w http.ResponseWriter, r *http.Request, err error) {
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

func acceptsAbbreviated(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	if !strings.Contains(accept, abbreviatedType) {
		return false
	}
	// npm asks for "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*";
	// a client that asks for full metadata sends application/json alone.
	return true
}

// getPackument serves GET /:pkg: the full packument, or the abbreviated one
// when the Accept header asks for it.
func (a *API) getPackument(w http.ResponseWriter, r *http.Request) {
	// ?write=true asks for the full document; without a query there is
	// nothing to parse.
	abbreviated := acceptsAbbreviated(r) && (r.URL.RawQuery == "" || r.URL.Query().Get("write") != "true")
	read := a.registry.Packument
	gzipOK := acceptsGzip(r.Header["Accept-Encoding"])
	if gzipOK {
		read = a.registry.PackumentGzip
	}
	base, cached := a.packumentBase(r)
	if !cached {
		// A base the caches keep no documents for (maxCachedBases): the
		// cached document without one, filled for this response alone.
		read = func(ctx context.Context, p *auth.Principal, name string, abbreviated bool, base string) (registry.Document, error) {
			doc, err := a.registry.Packument(ctx, p, name, abbreviated, "")
			if err != nil {
				return registry.Document{}, err
			}
			return registry.WithBase(doc, base), nil
		}
	}
	doc, err := read(r.Context(), principalOf(r), r.PathValue("pkg"), abbreviated, base)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	h := w.Header()
	v := doc.Validators
	if len(v) != 3 || v[0] != doc.ETag {
		v = []string{doc.ETag, doc.LastModified, strconv.Itoa(len(doc.Body))}
	}
	// Each value a capped slice of the document's own: shared with every
	// response, and read-only to net/http (an append copies).
	h["Etag"] = v[0:1:1]
	h["Last-Modified"] = v[1:2:2]
	h["Vary"] = varyPackument
	h["Cache-Control"] = cachePackument
	if doc.Warning != "" {
		h["Warning"] = []string{doc.Warning}
	}
	if abbreviated {
		h["Content-Type"] = typeAbbreviated
	} else {
		h["Content-Type"] = typeJSON
	}
	if match := r.Header.Get("If-None-Match"); match != "" {
		if etagMatches(match, doc.ETag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		// The other form of the same document, which the client holds:
		// the JSON (always acceptable), or the gzip form when it accepts
		// gzip. The 304 names the form it holds, so its cache keeps
		// describing the bytes it has.
		other := registry.JSONETag(doc.ETag)
		if other == "" && gzipOK {
			other = registry.GzipETag(doc.ETag)
		}
		if other != "" && other != doc.ETag && etagMatches(match, other) {
			h["Etag"] = []string{other}
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	if doc.Encoding == "gzip" {
		h["Content-Encoding"] = encodingGzip
	}
	h["Content-Length"] = v[2:3:3]
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(doc.Body)
	}
}

// Header values of the hot answers, shared (net/http only reads them).
var (
	varyPackument   = []string{"Accept, Accept-Encoding, Authorization"}
	encodingGzip    = []string{"gzip"}
	cachePackument  = []string{"private, max-age=0, must-revalidate"}
	cacheTarball    = []string{"private, max-age=31536000, immutable"}
	typeAbbreviated = []string{abbreviatedType}
	typeJSON        = []string{"application/json"}
	typeOctets      = []string{"application/octet-stream"}
	acceptRanges    = []string{"bytes"}
)

// acceptsGzip reports whether a request's Accept-Encoding values accept
// gzip (RFC 9110, 12.5.3), and prefer it at least as much as no encoding:
// gzip (or its alias x-gzip), or else *, with a weight above zero and not
// below identity's when identity is named. A weight that is not a qvalue
// (RFC 9110, 12.4.2: 0 to 1 with at most three decimals) counts as zero.
// npm sends "gzip,deflate"; pnpm, yarn and bun send gzip too.
func acceptsGzip(values []string) bool {
	gzipQ, starQ, identityQ := -1, -1, -1 // in thousandths; -1 when not named
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(part, ";")
			coding = strings.TrimSpace(coding)
			q := weight(params)
			switch {
			case strings.EqualFold(coding, "gzip"), strings.EqualFold(coding, "x-gzip"):
				gzipQ = max(gzipQ, q)
			case coding == "*":
				starQ = max(starQ, q)
			case strings.EqualFold(coding, "identity"):
				identityQ = max(identityQ, q)
			}
		}
	}
	if gzipQ < 0 {
		gzipQ = starQ
	}
	return gzipQ > 0 && gzipQ >= identityQ
}

// weight is an Accept-Encoding element's weight in thousandths, from its
// parameters (what follows its first ";"): 1000 without a q, 0 for a q
// that is not a qvalue ("0" or "1", or either with a dot and up to three
// digits, at most 1.000).
func weight(params string) int {
	for p := range strings.SplitSeq(params, ";") {
		name, value, found := strings.Cut(strings.TrimSpace(p), "=")
		if !found || !strings.EqualFold(strings.TrimSpace(name), "q") {
			continue
		}
		value = strings.TrimSpace(value)
		whole, frac, dotted := strings.Cut(value, ".")
		if (whole != "0" && whole != "1") || (dotted && len(frac) > 3) {
			return 0
		}
		n := 0
		if whole == "1" {
			n = 1000
		}
		scale := 100
		for _, c := range []byte(frac) {
			if c < '0' || c > '9' {
				return 0
			}
			n += int(c-'0') * scale
			scale /= 10
		}
		if n > 1000 {
			return 0
		}
		return n
	}
	return 1000
}

func etagMatches(header, etag string) bool {
	for _, part := range strings.Split(header, ",") {
		part = strings.TrimSpace(part)
		if part == "*" || part == etag || strings.TrimPrefix(part, "W/") == etag {
			return true
		}
	}
	return false
}

// getManifest serves GET /:pkg/:version-or-tag: one version's document.
func (a *API) getManifest(w http.ResponseWriter, r *http.Request) {
	body, err := a.registry.Manifest(r.Context(), principalOf(r), r.PathValue("pkg"), r.PathValue("version"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	body = a.fillBase(r, body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// getTarball serves GET /:pkg/-/:file.tgz.
func (a *API) getTarball(w http.ResponseWriter, r *http.Request) {
	t, err := a.registry.Tarball(r.Context(), principalOf(r), r.PathValue("pkg"), r.PathValue("file"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	h := w.Header()
	h["Content-Type"] = typeOctets
	if t.Stream != nil {
		a.streamTarball(w, r, t)
		return
	}
	h["Cache-Control"] = cacheTarball
	// The content address is a strong validator: the bytes never change.
	// The registry made the header values once for the version (each a
	// capped slice of its own, shared, read-only to net/http).
	v := t.Validators
	if len(v) == 3 {
		h["Etag"] = v[0:1:1]
	} else {
		h["Etag"] = []string{`"` + strings.ReplaceAll(t.Key, "/", "") + `"`}
	}
	// ServeContent sets Content-Length and answers Range and conditional requests.
	if t.Data != nil {
		if plainRequest(r) {
			if len(v) != 3 || int64(len(t.Data)) != t.Size {
				v = nil
			}
			writeWhole(w, r, t.Published, t.Data, v)
			return
		}
		http.ServeContent(w, r, "", t.Published, bytes.NewReader(t.Data))
		return
	}
	defer t.Reader.Close()
	http.ServeContent(w, r, "", t.Published, t.Reader)
}

// plainRequest reports whether r is a GET or HEAD with none of the headers
// that make http.ServeContent answer anything but the whole body: no Range
// and no condition.
func plainRequest(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	h := r.Header
	for _, k := range conditionalHeaders {
		if _, ok := h[k]; ok {
			return false
		}
	}
	return true
}

// conditionalHeaders are the request headers http.ServeContent acts on, in
// their canonical form (net/http canonicalizes the request's).
var conditionalHeaders = [...]string{"Range", "If-Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"}

// writeWhole answers a plain request (plainRequest) for body as
// http.ServeContent does, with the same headers (Last-Modified,
// Accept-Ranges, Content-Length) and status, without its parsing of the
// request, its copy through io.CopyN and its header look-ups: the tarball
// from memory leaves in one Write, headers and all.
func writeWhole(w http.ResponseWriter, r *http.Request, modified time.Time, body []byte, validators []string) {
	h := w.Header()
	if !modified.IsZero() && !modified.Equal(time.Unix(0, 0)) {
		if validators != nil {
			h["Last-Modified"] = validators[1:2:2]
		} else {
			var buf [len(http.TimeFormat)]byte
			h["Last-Modified"] = []string{string(modified.UTC().AppendFormat(buf[:0], http.TimeFormat))}
		}
	}
	h["Accept-Ranges"] = acceptRanges
	if validators != nil {
		h["Content-Length"] = validators[2:3:3]
	} else {
		h["Content-Length"] = []string{strconv.Itoa(len(body))}
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// streamTarball sends a proxied tarball as it is fetched from its uplink
// and verified. When the fetch fails after the first byte went out (the
// bytes do not match the integrity the uplink's packument gives, or the
// uplink broke off), the response is aborted, so the client sees a broken
// download instead of bytes it might use.
func (a *API) streamTarball(w http.ResponseWriter, r *http.Request, t registry.Tarball) {
	started := false
	err := t.Stream(r.Context(), func(size int64) io.Writer {
		started = true
		h := w.Header()
		h["Cache-Control"] = cacheTarball
		if size >= 0 {
			h["Content-Length"] = []string{strconv.FormatInt(size, 10)}
		}
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodHead {
			return io.Discard
		}
		return w
	})
	switch {
	case err == nil:
	case !started:
		a.writeError(w, r, err)
	default:
		a.log.WarnContext(r.Context(), "proxied tarball aborted", slog.String("route", a.routeName(r)), slog.Any("error", err))
		panic(http.ErrAbortHandler)
	}
}

// putPackage serves PUT /:pkg, a publish or (without an attachment) a
// deprecation, and PUT /:pkg/-rev/:rev, which unpublishes versions or
// changes owners. The registry authorises the request before it reads the
// body, and reads a publish's tarball as a stream (registry.Service.Put).
func (a *API) putPackage(w http.ResponseWriter, r *http.Request) {
	published, err := a.registry.Put(r.Context(), principalOf(r), r.PathValue("pkg"), r.PathValue("rev"), r.Body)
	switch {
	case err != nil:
		a.writeError(w, r, err)
	case published:
		writeJSON(w, http.StatusCreated, map[string]any{"ok": true, "success": true})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
	}
}

// unpublishPackage serves DELETE /:pkg/-rev/:rev: unpublish the whole package.
func (a *API) unpublishPackage(w http.ResponseWriter, r *http.Request) {
	a.respond(w, r, a.registry.UnpublishPackage(r.Context(), principalOf(r), r.PathValue("pkg"), r.PathValue("rev")))
}

// deleteTarball serves DELETE /:pkg/-/:file/-rev/:rev, the end of a version's unpublish.
func (a *API) deleteTarball(w http.ResponseWriter, r *http.Request) {
	a.respond(w, r, a.registry.DeleteTarball(r.Context(), principalOf(r), r.PathValue("pkg"), r.PathValue("file")))
}

// distTags serves GET /-/package/:pkg/dist-tags.
func (a *API) distTags(w http.ResponseWriter, r *http.Request) {
	tags, err := a.registry.DistTags(r.Context(), principalOf(r), r.PathValue("pkg"))
	a.answer(w, r, tags, err)
}

// setDistTag serves PUT (and POST) /-/package/:pkg/dist-tags/:tag, whose
// body is the version as a JSON string.
func (a *API) setDistTag(w http.ResponseWriter, r *http.Request) {
	var version string
	body, err := io.ReadAll(r.Body)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if json.Unmarshal(body, &version) != nil || version == "" {
		a.writeError(w, r, fault.Invalidf("the body must be a JSON string naming a version"))
		return
	}
	a.respond(w, r, a.registry.SetDistTag(r.Context(), principalOf(r), r.PathValue("pkg"), r.PathValue("tag"), version))
}

// deleteDistTag serves DELETE /-/package/:pkg/dist-tags/:tag.
func (a *API) deleteDistTag(w http.ResponseWriter, r *http.Request) {
	a.respond(w, r, a.registry.DeleteDistTag(r.Context(), principalOf(r), r.PathValue("pkg"), r.PathValue("tag")))
}
