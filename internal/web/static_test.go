package web_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestStaticAssets: every page links the stylesheet, the script and the
// favicon with a hash of their bytes; asked for with that hash, an asset may
// be kept for a year; without it, it must be revalidated, cheaply.
func TestStaticAssets(t *testing.T) {
	s := newSite(t)
	home := s.browser().get("/")
	links := regexp.MustCompile(`(?:href|src)="(/-/web/static/([a-z]+\.(?:css|js|svg))\?v=([0-9a-f]{16}))"`).
		FindAllStringSubmatch(home.body, -1)
	want := map[string]string{"site.css": "text/css; charset=utf-8", "site.js": "text/javascript; charset=utf-8",
		"favicon.svg": "image/svg+xml"}
	if len(links) != len(want) {
		t.Fatalf("the home page links %d assets, want %d: %v", len(links), len(want), links)
	}
	if !strings.Contains(home.body, `<link rel="icon" href="/-/web/static/favicon.svg?v=`) {
		t.Fatal("no favicon link")
	}
	get := func(path string, header ...string) *http.Response {
		t.Helper()
		req, err := http.NewRequest("GET", s.url+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	for _, l := range links {
		path, name, hash := l[1], l[2], l[3]
		res := get(path)
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != want[name] ||
			res.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Errorf("%s: %d, type %q, cache %q", path, res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"))
		}
		plain := strings.TrimSuffix(path, "?v="+hash)
		for _, p := range []string{plain, plain + "?v=0000000000000000"} {
			res = get(p)
			if res.StatusCode != http.StatusOK || res.Header.Get("Cache-Control") != "no-cache" || res.Header.Get("ETag") != `"`+hash+`"` {
				t.Errorf("%s: %d, cache %q, etag %q", p, res.StatusCode, res.Header.Get("Cache-Control"), res.Header.Get("ETag"))
			}
		}
		if res := get(plain, "If-None-Match", `"`+hash+`"`); res.StatusCode != http.StatusNotModified {
			t.Errorf("%s revalidated: %d, want 304", plain, res.StatusCode)
		}
	}
	for _, p := range []string{"/-/web/static/nothing.css", "/-/web/static/", "/-/web/static/../web.go"} {
		if res := get(p); res.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, res.StatusCode)
		}
	}
}
