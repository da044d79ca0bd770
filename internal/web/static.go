package web

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
)

// staticPrefix is where the website's assets are served.
const staticPrefix = "/-/web/static/"

// staticAssets are the stylesheet, script and icon embedded in the binary,
// each known by a hash of its bytes. Pages link an asset with its hash in
// the query (asset "site.css" gives /-/web/static/site.css?v=HASH), so a
// browser may keep it for a year: a new build with a changed file links a
// new address.
type staticAssets struct {
	files fs.FS
	hash  map[string]string // file name → the first 16 hex digits of its SHA-256
}

// loadStaticAssets hashes every embedded asset.
func loadStaticAssets() (staticAssets, error) {
	files, err := fs.Sub(staticFiles, "static")
	if err != nil {
		return staticAssets{}, fmt.Errorf("static assets: %w", err)
	}
	a := staticAssets{files: files, hash: map[string]string{}}
	err = fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(files, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		a.hash[name] = hex.EncodeToString(sum[:8])
		return nil
	})
	if err != nil {
		return staticAssets{}, fmt.Errorf("hash static assets: %w", err)
	}
	return a, nil
}

// url is the address pages link the asset name with. An unknown name is a
// mistake in a template, caught when the page is first rendered in tests.
func (a staticAssets) url(name string) (string, error) {
	h, ok := a.hash[name]
	if !ok {
		return "", fmt.Errorf("no static asset %q", name)
	}
	return staticPrefix + name + "?v=" + h, nil
}

// serve answers a request for an asset. Asked for with its current hash,
// the answer may be kept for a year; without it (an old link, a typed
// address), it must be revalidated, which its ETag makes cheap.
func (a staticAssets) serve(w http.ResponseWriter, r *http.Request) {
	name := path.Clean("/" + r.URL.Path)[1:]
	h, ok := a.hash[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	hdr := w.Header()
	hdr.Set("ETag", `"`+h+`"`)
	if r.URL.Query().Get("v") == h {
		hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hdr.Set("Cache-Control", "no-cache")
	}
	http.ServeFileFS(w, r, a.files, name)
}
