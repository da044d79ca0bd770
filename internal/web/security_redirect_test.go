package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// TestSecurityNoOpenRedirectAfterSignIn: the page to return to after
// sign-in (next) is kept only when it is a path of this site. Before,
// "/\evil.example/" and "/\t/evil.example/" passed, and browsers (which read
// "\" as "/" and drop tabs and newlines) followed them to another site.
// Each hostile value sends the person home; each path of the site is kept;
// and whatever is kept, redirected as the sign-in redirects and resolved as
// a browser would (with "\" read as "/" and tabs and newlines dropped),
// stays on this host.
func TestSecurityNoOpenRedirectAfterSignIn(t *testing.T) {
	tests := []struct {
		next string
		keep bool
	}{
		// Paths of the site.
		{"/", true},
		{"/settings/alice/tokens", true},
		{"/package/@acme/web?tab=versions#readme", true},
		{"/search?q=a%2Fb&page=2", true},
		{"/%2F%2Fevil.example", true}, // an escaped slash is part of a path segment
		{"/javascript:alert(1)", true},
		{"/a/b/../c", true},

		// Other sites.
		{"", false},
		{"evil.example", false},
		{"evil.example/path", false},
		{"//evil.example", false},
		{"//evil.example/path", false},
		{"///evil.example", false},
		{"////evil.example", false},
		{`/\evil.example/`, false},
		{`/\/evil.example/`, false},
		{`\\evil.example`, false},
		{`\/evil.example`, false},
		{`/\\evil.example`, false},
		{"/\t/evil.example/", false},
		{"/\n/evil.example/", false},
		{"/\r/evil.example/", false},
		{"/\r\n/evil.example/", false},
		{"/\x00/evil.example/", false},
		{"/\x0b/evil.example/", false},
		{"/\x0c/evil.example/", false},
		{"/\x7f/evil.example/", false},
		{"/ /evil.example/", false},
		{" //evil.example", false},
		{"\t//evil.example", false},
		{"/\u00a0/evil.example", false},
		{"/\u2028/evil.example", false},
		{"/\ufeff/evil.example", false},
		{"/\uff0fevil.example", false}, // a fullwidth solidus
		{"http://evil.example", false},
		{"https://evil.example/", false},
		{"http:evil.example", false},
		{"https:/evil.example", false},
		{"HTTPS://evil.example", false},
		{"javascript:alert(1)", false},
		{"JaVaScRiPt:alert(1)", false},
		{"data:text/html,<script>alert(1)</script>", false},
		{"/%09/evil.example/", true}, // still escaped: a path on this site
		{"//user@evil.example", false},
		{"/@evil.example", true}, // a path: "@" only means a user after "//"
		{"//evil.example%2F", false},
		{"//%65vil.example", false},
	}
	base, _ := url.Parse("https://registry.example/login")
	for _, tt := range tests {
		got := safeNext(tt.next)
		want := "/"
		if tt.keep {
			want = tt.next
		}
		if got != want {
			t.Errorf("safeNext(%q) = %q, want %q", tt.next, got, want)
			continue
		}
		// Redirect as the sign-in does, and resolve the Location as a browser
		// does: it stays on this host.
		rec := httptest.NewRecorder()
		http.Redirect(rec, httptest.NewRequest("POST", "/login", nil), got, http.StatusSeeOther)
		loc := asBrowserReads(rec.Header().Get("Location"))
		u, err := url.Parse(loc)
		if err != nil {
			t.Errorf("safeNext(%q): Location %q does not parse: %v", tt.next, loc, err)
			continue
		}
		if to := base.ResolveReference(u); to.Host != base.Host || to.Scheme != base.Scheme {
			t.Errorf("safeNext(%q) = %q leads to %s", tt.next, got, to)
		}
	}
}

// asBrowserReads applies what browsers do to a URL before resolving it: drop
// tabs and newlines, and read "\" as "/" in http(s) URLs.
func asBrowserReads(loc string) string {
	out := make([]rune, 0, len(loc))
	for _, r := range loc {
		switch r {
		case '\t', '\n', '\r':
			continue
		case '\\':
			r = '/'
		}
		out = append(out, r)
	}
	return string(out)
}
