package web_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestSearchBox: every page has one search box; on the search page it is
// the page's own, holding the query, which the result links keep too.
func TestSearchBox(t *testing.T) {
	s := newSite(t)
	tok := s.apiUser("alice")
	for _, n := range []string{"demo-a", "demo-b"} {
		s.publish(tok, n, "1.0.0", "")
	}
	b := s.browser()
	for _, path := range []string{"/", "/login", "/package/demo-a", "/search", "/search?q=demo", `/search?q=%22%3E%3Cb%3Ex`} {
		p := b.get(path)
		if n := strings.Count(p.body, `type="search"`); n != 1 {
			t.Errorf("%s: %d search boxes, want 1", path, n)
		}
	}
	p := b.get("/search?q=demo")
	wantIn(t, "search", p, http.StatusOK, `<input id="search-q" name="q" type="search" value="demo"`, `href="/package/demo-a"`)
	wantNotIn(t, "search", p, `id="q"`)
	p = b.get(`/search?q=%22%3E%3Cb%3Ex`)
	wantIn(t, "a query with markup", p, http.StatusOK, `value="&#34;&gt;&lt;b&gt;x"`)
	wantNotIn(t, "a query with markup", p, `"><b>x`)
}
