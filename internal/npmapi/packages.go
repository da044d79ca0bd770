package npmapi

import (
	"bytes"
	"encoding/json"
	"io"
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

// packageRoute serves every path under a package name:
//
//	GET    /:pkg                          packument (full, or abbreviated by Accept)
//	GET    /:pkg/:version-or-tag          one version's document
//	GET    /:pkg/-/:file.tgz              tarball
//	PUT    /:pkg                          publish, or deprecate (no attachment)
//	PUT    /:pkg/-rev/:rev                unpublish versions, change owners
//	DELETE /:pkg/-rev/:rev                unpublish the whole package
//	DELETE /:pkg/-/:file.tgz/-rev/:rev    remove a tarball (end of a version unpublish)
func (a *API) packageRoute(w http.ResponseWriter, r *http.Request) {
	name, rest, ok := splitPackagePath(r.URL.EscapedPath())
	if !ok {
		a.writeError(w, r, fault.NotFoundf("Not found"))
		return
	}
	p := auth.FromContext(r.Context())
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch {
	case len(rest) == 0 && get:
		a.getPackument(w, r, p, name)
	case len(rest) == 0 && r.Method == http.MethodPut:
		a.putPackage(w, r, p, name, "")
	case len(rest) == 1 && get:
		a.getManifest(w, r, p, name, rest[0])
	case len(rest) == 2 && rest[0] == "-" && get:
		a.getTarball(w, r, p, name, rest[1])
	case len(rest) == 2 && rest[0] == "-rev" && r.Method == http.MethodPut:
		a.putPackage(w, r, p, name, rest[1])
	case len(rest) == 2 && rest[0] == "-rev" && r.Method == http.MethodDelete:
		a.respond(w, r, a.registry.UnpublishPackage(r.Context(), p, name, rest[1]))
	case len(rest) == 4 && rest[0] == "-" && rest[2] == "-rev" && r.Method == http.MethodDelete:
		a.respond(w, r, a.registry.DeleteTarball(r.Context(), p, name, rest[1]))
	default:
		if len(rest) <= 4 && (get || r.Method == http.MethodPut || r.Method == http.MethodDelete) {
			a.writeError(w, r, fault.NotFoundf("Not found"))
			return
		}
		w.Header().Set("Allow", "GET, HEAD, PUT, DELETE")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
	}
}

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

func (a *API) getPackument(w http.ResponseWriter, r *http.Request, p *auth.Principal, name string) {
	abbreviated := acceptsAbbreviated(r) && r.URL.Query().Get("write") != "true"
	doc, err := a.registry.Packument(r.Context(), p, name, abbreviated, a.baseURL(r))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	h := w.Header()
	h["Etag"] = []string{doc.ETag}
	h["Last-Modified"] = []string{doc.LastModified}
	h["Vary"] = varyPackument
	h["Cache-Control"] = cachePackument
	if abbreviated {
		h["Content-Type"] = typeAbbreviated
	} else {
		h["Content-Type"] = typeJSON
	}
	if match := r.Header.Get("If-None-Match"); match != "" && etagMatches(match, doc.ETag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h["Content-Length"] = []string{strconv.Itoa(len(doc.Body))}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(doc.Body)
	}
}

// Header values of the hot answers, shared (net/http only reads them).
var (
	varyPackument   = []string{"Accept, Authorization"}
	cachePackument  = []string{"private, max-age=0, must-revalidate"}
	cacheTarball    = []string{"private, max-age=31536000, immutable"}
	typeAbbreviated = []string{abbreviatedType}
	typeJSON        = []string{"application/json"}
	typeOctets      = []string{"application/octet-stream"}
)

func etagMatches(header, etag string) bool {
	for _, part := range strings.Split(header, ",") {
		part = strings.TrimSpace(part)
		if part == "*" || part == etag || strings.TrimPrefix(part, "W/") == etag {
			return true
		}
	}
	return false
}

func (a *API) getManifest(w http.ResponseWriter, r *http.Request, p *auth.Principal, name, versionOrTag string) {
	body, err := a.registry.Manifest(r.Context(), p, name, versionOrTag)
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

func (a *API) getTarball(w http.ResponseWriter, r *http.Request, p *auth.Principal, name, file string) {
	t, err := a.registry.Tarball(r.Context(), p, name, file)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	h := w.Header()
	h["Content-Type"] = typeOctets
	h["Cache-Control"] = cacheTarball
	// The content address is a strong validator: the bytes never change.
	h["Etag"] = []string{`"` + strings.ReplaceAll(t.Key, "/", "") + `"`}
	// ServeContent sets Content-Length and answers Range and conditional requests.
	if t.Data != nil {
		http.ServeContent(w, r, "", t.Published, bytes.NewReader(t.Data))
		return
	}
	defer t.Reader.Close()
	http.ServeContent(w, r, "", t.Published, t.Reader)
}

func (a *API) putPackage(w http.ResponseWriter, r *http.Request, p *auth.Principal, name, rev string) {
	var doc registry.PublishDocument
	if err := decodeJSON(r, &doc); err != nil {
		a.writeError(w, r, err)
		return
	}
	// A present "versions" object (even empty) is a statement of which versions remain.
	hasVersions := doc.Versions != nil
	if len(doc.Attachments) > 0 {
		if rev != "" {
			a.writeError(w, r, fault.Invalidf("attachments are not accepted on a revision update"))
			return
		}
		err := a.registry.Publish(r.Context(), p, name, doc)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusCreated, map[string]any{"ok": true, "success": true})
		return
	}
	a.respond(w, r, a.registry.Update(r.Context(), p, name, rev, doc, hasVersions))
}

// packageSubresource serves /-/package/:pkg/dist-tags[/:tag], /access and /visibility.
func (a *API) packageSubresource(w http.ResponseWriter, r *http.Request) {
	name, rest, ok := splitPackagePath(strings.TrimPrefix(r.URL.EscapedPath(), "/-/package"))
	if ok && len(rest) == 1 && rest[0] == "access" {
		a.packageAccess(w, r, name)
		return
	}
	if ok && len(rest) == 1 && rest[0] == "collaborators" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		a.collaborators(w, r, name)
		return
	}
	if ok && len(rest) == 1 && rest[0] == "visibility" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		a.packageVisibility(w, r, name)
		return
	}
	if !ok || len(rest) == 0 || rest[0] != "dist-tags" || len(rest) > 2 {
		a.writeError(w, r, fault.NotFoundf("Not found"))
		return
	}
	p := auth.FromContext(r.Context())
	ctx := r.Context()
	switch {
	case len(rest) == 1 && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		tags, err := a.registry.DistTags(ctx, p, name)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, tags)
	case len(rest) == 2 && (r.Method == http.MethodPut || r.Method == http.MethodPost):
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
		a.respond(w, r, a.registry.SetDistTag(ctx, p, name, rest[1], version))
	case len(rest) == 2 && r.Method == http.MethodDelete:
		a.respond(w, r, a.registry.DeleteDistTag(ctx, p, name, rest[1]))
	default:
		w.Header().Set("Allow", "GET, PUT, DELETE")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
	}
}
