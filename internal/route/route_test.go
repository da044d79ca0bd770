package route

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// recorder builds a table whose handlers record which route answered and
// the path values they saw.
type recorder struct {
	route  string // the answering route's pattern, or "notFound"
	values map[string]string
}

func (rec *recorder) handler(pattern string, wildcards ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rec.route = pattern
		if r.Pattern != pattern {
			rec.route = "r.Pattern " + r.Pattern + " for " + pattern
		}
		rec.values = map[string]string{}
		for _, name := range wildcards {
			rec.values[name] = r.PathValue(name)
		}
	}
}

// testTable is a small table of the shapes gatehouse's has: API routes under
// /-/, package routes at / and under /-/package/, pages (some under /-/), a
// route of every method, and secret routes.
func testTable(t *testing.T, rec *recorder) *Table {
	t.Helper()
	rows := []Route{
		{Method: "GET", Path: "/-/ping", Name: "ping"},
		{Method: "DELETE", Path: "/-/user/token/{token}", Name: "logout", Secret: true},
		{Method: "GET", Path: "/-/user/{id}", Name: "user"},
		{Path: "/-/ready", Name: "ready"},
		{Method: "GET", Path: "/-/package/{pkg}/dist-tags", Name: "dist_tags"},
		{Method: "PUT", Path: "/-/package/{pkg}/dist-tags/{tag}", Name: "dist_tags"},
		{Method: "GET", Path: "/{pkg}", Name: "packument"},
		{Method: "PUT", Path: "/{pkg}", Name: "publish"},
		{Method: "GET", Path: "/{pkg}/{version}", Name: "manifest"},
		{Method: "GET", Path: "/{pkg}/-/{file}", Name: "tarball"},
		{Method: "GET", Path: "/{pkg}/-/readme", Name: "readme"}, // more specific than the tarball's
		{Method: "DELETE", Path: "/{pkg}/-/{file}/-rev/{rev}", Name: "package_change"},
		// Shapes the endpoints still to come have (staging, trusted publishing, attestations).
		{Method: "POST", Path: "/-/stage/package/{pkg}", Name: "stage"},
		{Method: "GET", Path: "/-/stage/{id}", Name: "stage"},
		{Method: "GET", Path: "/-/stage/{id}/tarball", Name: "stage"},
		{Method: "POST", Path: "/-/npm/v1/oidc/token/exchange/package/{pkg}", Name: "oidc"},
		{Method: "GET", Path: "/-/npm/v1/attestations/{spec}", Name: "attestations"},
		{Method: "GET", Path: "/-/web/login/{secret}", Name: "web", Secret: true, Page: true},
		{Method: "GET", Path: "/-/web/static/", Name: "web", Page: true},
		{Method: "GET", Path: "/{$}", Name: "web", Page: true},
		{Method: "GET", Path: "/login", Name: "web", Page: true},
		{Method: "POST", Path: "/login", Name: "web", Page: true},
		{Method: "GET", Path: "/org/{org}", Name: "web", Page: true},
		{Method: "GET", Path: "/package/{name...}", Name: "web", Page: true},
		{Path: "/org/", Name: "web", Page: true},
		{Path: "/-/web/", Name: "web", Page: true},
	}
	for i := range rows {
		var wildcards []string
		for _, seg := range strings.Split(rows[i].Path, "/") {
			if name, ok := strings.CutPrefix(seg, "{"); ok && seg != "{$}" {
				wildcards = append(wildcards, strings.TrimSuffix(strings.TrimSuffix(name, "}"), "..."))
			}
		}
		rows[i].Handler = rec.handler(rows[i].Pattern(), wildcards...)
	}
	table, err := New(rows, func(w http.ResponseWriter, r *http.Request) { rec.route = "notFound" })
	if err != nil {
		t.Fatal(err)
	}
	return table
}

const (
	html = "text/html,application/xhtml+xml"
	form = "application/x-www-form-urlencoded"
)

// TestDispatch checks, request by request, which route answers, with which
// path values, and that Match and Name agree with what ServeHTTP does.
func TestDispatch(t *testing.T) {
	rec := &recorder{}
	table := testTable(t, rec)
	tests := []struct {
		method, target, accept, contentType string
		want                                string // the route's pattern, notFound, or an HTTP status
		values                              map[string]string
	}{
		{"GET", "/-/ping", "", "", "GET /-/ping", nil},
		{"HEAD", "/-/ping", "", "", "GET /-/ping", nil},
		{"POST", "/-/ping", "", "", "notFound", nil}, // under /-/, an unknown method is an unknown path
		{"GET", "/-/nothing", "", "", "notFound", nil},
		{"DELETE", "/-/user/token/npm_abc", "", "", "DELETE /-/user/token/{token}", map[string]string{"token": "npm_abc"}},
		{"GET", "/-/user/org.couchdb.user:alice", "", "", "GET /-/user/{id}", map[string]string{"id": "org.couchdb.user:alice"}},
		{"POST", "/-/ready", "", "", "/-/ready", nil},
		{"GET", "/-/ready", html, "", "/-/ready", nil},

		// Package names, in each spelling.
		{"GET", "/demo", "", "", "GET /{pkg}", map[string]string{"pkg": "demo"}},
		{"HEAD", "/demo", "", "", "GET /{pkg}", map[string]string{"pkg": "demo"}},
		{"GET", "/@acme%2fdemo", "", "", "GET /{pkg}", map[string]string{"pkg": "@acme/demo"}},
		{"GET", "/@acme%2Fdemo", "", "", "GET /{pkg}", map[string]string{"pkg": "@acme/demo"}},
		{"GET", "/@acme/demo", "", "", "GET /{pkg}", map[string]string{"pkg": "@acme/demo"}},
		{"PUT", "/@acme%2fdemo", "", "", "PUT /{pkg}", map[string]string{"pkg": "@acme/demo"}},
		{"GET", "/demo/1.0.0", "", "", "GET /{pkg}/{version}", map[string]string{"pkg": "demo", "version": "1.0.0"}},
		{"GET", "/@acme/demo/latest", "", "", "GET /{pkg}/{version}", map[string]string{"pkg": "@acme/demo", "version": "latest"}},
		{"GET", "/demo/", "", "", "GET /{pkg}/{version}", map[string]string{"pkg": "demo", "version": ""}},
		{"GET", "/demo/-/demo-1.0.0.tgz", "", "", "GET /{pkg}/-/{file}", map[string]string{"pkg": "demo", "file": "demo-1.0.0.tgz"}},
		{"GET", "/@acme/demo/-/demo-1.0.0.tgz", "", "", "GET /{pkg}/-/{file}", map[string]string{"pkg": "@acme/demo", "file": "demo-1.0.0.tgz"}},
		{"GET", "/demo/%2d/demo-1.0.0.tgz", "", "", "GET /{pkg}/-/{file}", map[string]string{"pkg": "demo", "file": "demo-1.0.0.tgz"}},
		{"GET", "/demo/-/readme", "", "", "GET /{pkg}/-/readme", map[string]string{"pkg": "demo"}},
		{"DELETE", "/demo/-/demo-1.0.0.tgz/-rev/3-abc", "", "", "DELETE /{pkg}/-/{file}/-rev/{rev}",
			map[string]string{"pkg": "demo", "file": "demo-1.0.0.tgz", "rev": "3-abc"}},
		{"GET", "/-demo", "", "", "GET /{pkg}", map[string]string{"pkg": "-demo"}}, // a name may start with -
		{"POST", "/demo", "", "", "notFound", nil},
		{"BREW", "/demo", "", "", "notFound", nil},
		{"GET", "/demo/a/b/c/d/e/f/g/h/i/j/k/l", "", "", "notFound", nil},
		{"GET", "/@acme", "", "", "notFound", nil},
		{"GET", "/@acme/", "", "", "notFound", nil},
		{"GET", "/", "", "", "notFound", nil},
		{"GET", "/-/package/@acme%2fdemo/dist-tags", "", "", "GET /-/package/{pkg}/dist-tags", map[string]string{"pkg": "@acme/demo"}},
		{"PUT", "/-/package/@acme/demo/dist-tags/beta", "", "", "PUT /-/package/{pkg}/dist-tags/{tag}",
			map[string]string{"pkg": "@acme/demo", "tag": "beta"}},
		{"DELETE", "/-/package/demo/dist-tags/beta", "", "", "notFound", nil},
		{"GET", "/-/package/demo/access", "", "", "notFound", nil},
		{"GET", "/-/%70ackage/demo/dist-tags", "", "", "notFound", nil}, // a prefix is matched as written

		{"POST", "/-/stage/package/@acme%2fdemo", "", "", "POST /-/stage/package/{pkg}", map[string]string{"pkg": "@acme/demo"}},
		{"POST", "/-/stage/package/demo", "", "", "POST /-/stage/package/{pkg}", map[string]string{"pkg": "demo"}},
		{"GET", "/-/stage/package", "", "", "GET /-/stage/{id}", map[string]string{"id": "package"}},
		{"GET", "/-/stage/package/tarball", "", "", "GET /-/stage/{id}/tarball", map[string]string{"id": "package"}},
		{"GET", "/-/stage/0b5e6b1c/tarball", "", "", "GET /-/stage/{id}/tarball", map[string]string{"id": "0b5e6b1c"}},
		{"POST", "/-/npm/v1/oidc/token/exchange/package/@acme/demo", "", "", "POST /-/npm/v1/oidc/token/exchange/package/{pkg}",
			map[string]string{"pkg": "@acme/demo"}},
		{"GET", "/-/npm/v1/attestations/@acme%2fdemo@1.0.0", "", "", "GET /-/npm/v1/attestations/{spec}", map[string]string{"spec": "@acme/demo@1.0.0"}},

		// Pages: for a browser, or under /-/ for anyone.
		{"GET", "/", html, "", "GET /{$}", nil},
		{"GET", "/login", html, "", "GET /login", nil},
		{"GET", "/login", "application/json", "", "GET /{pkg}", map[string]string{"pkg": "login"}},
		{"POST", "/login", "", form, "POST /login", nil},
		{"POST", "/login", "", "application/json", "notFound", nil}, // a POST of JSON is npm's: no package route
		{"PUT", "/login", "", form, "PUT /{pkg}", map[string]string{"pkg": "login"}},
		{"GET", "/org/acme", html, "", "GET /org/{org}", map[string]string{"org": "acme"}},
		{"GET", "/org/acme/nothing", html, "", "/org/", nil},
		{"POST", "/org/acme", "", form, "/org/", nil},
		{"GET", "/org", html, "", "GET /{pkg}", map[string]string{"pkg": "org"}}, // /org/ is a subtree, /org a package
		{"GET", "/org/acme", "", "", "GET /{pkg}/{version}", map[string]string{"pkg": "org", "version": "acme"}},
		{"GET", "/-/web/login/abc123", "", "", "GET /-/web/login/{secret}", map[string]string{"secret": "abc123"}},
		{"DELETE", "/-/web/login/abc123", "", "", "/-/web/", nil},
		{"GET", "/-/web", "", "", "notFound", nil},
		{"GET", "/-/web/static", "", "", "307", nil}, // under /-/web/, a page's subtree
		{"GET", "/package/@acme/demo", html, "", "GET /package/{name...}", map[string]string{"name": "@acme/demo"}},
		{"GET", "/package", html, "", "GET /{pkg}", map[string]string{"pkg": "package"}},
		{"GET", "/left-pad", html, "", "GET /{pkg}", map[string]string{"pkg": "left-pad"}},

		// Paths that are not clean get http.ServeMux's redirect.
		{"GET", "/demo/../other", "", "", "307", nil},
		{"GET", "//demo", "", "", "307", nil},
		{"GET", "/login/../settings", html, "", "307", nil},
		{"GET", "/-/package", "", "", "notFound", nil},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target+" "+tt.accept+tt.contentType, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.target, nil)
			if tt.accept != "" {
				r.Header.Set("Accept", tt.accept)
			}
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			matched, name := table.Match(r), table.Name(r)
			*rec = recorder{}
			w := httptest.NewRecorder()
			told := &toldWriter{ResponseWriter: w}
			table.ServeHTTP(&wrapped{told}, r)
			got := rec.route
			if got == "" {
				got = strconv.Itoa(w.Code)
			}
			if got != tt.want {
				t.Fatalf("answered by %q, want %q", got, tt.want)
			}
			for k, v := range tt.values {
				if rec.values[k] != v {
					t.Errorf("PathValue(%q) = %q, want %q", k, rec.values[k], v)
				}
			}
			// A Recorder under the writers is told the route whose
			// handler answered, and only then.
			answered := rec.route != "" && rec.route != "notFound"
			switch {
			case !answered && told.route != nil:
				t.Errorf("the recorder was told %q, but no route answered", told.route.Pattern())
			case answered && (told.route == nil || told.route.Pattern() != rec.route):
				t.Errorf("the recorder was told %v; %q answered", told.route, rec.route)
			case told.calls > 1:
				t.Errorf("the recorder was told %d times", told.calls)
			}
			// Match names what answered: the route, or nothing for notFound and redirects.
			switch {
			case got == "307" && tt.target == "/-/web/static":
				if matched == nil || name != "web" {
					t.Errorf("a redirect within the website's paths is named %q, want web", name)
				}
			case matched == nil && (got == "notFound" || got == "307"):
				if name != Other {
					t.Errorf("Name = %q, want %q", name, Other)
				}
			case matched == nil:
				t.Errorf("Match found nothing; %q answered", got)
			case matched.Pattern() != got:
				t.Errorf("Match found %q; %q answered", matched.Pattern(), got)
			case name != matched.Name || name == Other:
				t.Errorf("Name = %q, want %q", name, matched.Name)
			}
		})
	}
}

// toldWriter is a Recorder: it keeps the route the table told it of.
type toldWriter struct {
	http.ResponseWriter
	route *Route
	calls int
}

func (w *toldWriter) RouteMatched(rt *Route) { w.route, w.calls = rt, w.calls+1 }

// wrapped is a middleware's writer around another, reached with Unwrap.
type wrapped struct{ http.ResponseWriter }

func (w *wrapped) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// TestNoPackageRoutes checks a table without routes for {pkg}: every other
// path is unknown.
func TestNoPackageRoutes(t *testing.T) {
	answered := ""
	table, err := New([]Route{{Method: "GET", Path: "/-/ping", Name: "ping", Handler: func(http.ResponseWriter, *http.Request) { answered = "ping" }}},
		func(http.ResponseWriter, *http.Request) { answered = "notFound" })
	if err != nil {
		t.Fatal(err)
	}
	for target, want := range map[string]string{"/-/ping": "ping", "/demo": "notFound", "/-demo": "notFound", "/-/x": "notFound"} {
		answered = ""
		table.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", target, nil))
		if answered != want {
			t.Errorf("GET %s answered by %q, want %q", target, answered, want)
		}
	}
}

func TestNewRejects(t *testing.T) {
	ok := func(http.ResponseWriter, *http.Request) {}
	tests := []struct {
		name string
		rows []Route
		want string
	}{
		{"no name", []Route{{Method: "GET", Path: "/-/a", Handler: ok}}, "name"},
		{"the name other", []Route{{Method: "GET", Path: "/-/a", Name: Other, Handler: ok}}, "name"},
		{"a name with capitals", []Route{{Method: "GET", Path: "/-/a", Name: "Ping", Handler: ok}}, "name"},
		{"no handler", []Route{{Method: "GET", Path: "/-/a", Name: "a"}}, "no handler"},
		{"a lower-case method", []Route{{Method: "get", Path: "/-/a", Name: "a", Handler: ok}}, "upper case"},
		{"a relative path", []Route{{Method: "GET", Path: "-/a", Name: "a", Handler: ok}}, "start with /"},
		{"a token not marked secret", []Route{{Method: "DELETE", Path: "/-/t/{token}", Name: "a", Handler: ok}}, "secret"},
		{"a secret route without its secret", []Route{{Method: "GET", Path: "/-/t/{id}", Name: "a", Secret: true, Handler: ok}}, "secret"},
		{"a secret after a wildcard", []Route{{Method: "GET", Path: "/-/t/{id}/{secret}", Name: "a", Secret: true, Handler: ok}}, "secret"},
		{"an API route outside /-/", []Route{{Method: "GET", Path: "/about", Name: "a", Handler: ok}}, "{pkg}"},
		{"an API subtree", []Route{{Method: "GET", Path: "/-/a/", Name: "a", Handler: ok}}, "subtree"},
		{"an API route with {$}", []Route{{Method: "GET", Path: "/-/a/{$}", Name: "a", Handler: ok}}, "exact"},
		{"an API route with {name...}", []Route{{Method: "GET", Path: "/-/a/{b...}", Name: "a", Handler: ok}}, "exact"},
		{"a page with {pkg}", []Route{{Method: "GET", Path: "/package/{pkg}", Name: "a", Page: true, Handler: ok}}, "{pkg}"},
		{"{pkg} of every method", []Route{{Path: "/{pkg}", Name: "a", Handler: ok}}, "{pkg}"},
		{"{pkg} twice", []Route{{Method: "GET", Path: "/{pkg}/{pkg}", Name: "a", Handler: ok}}, "{pkg}"},
		{"{pkg} after a wildcard", []Route{{Method: "GET", Path: "/-/{org}/{pkg}", Name: "a", Handler: ok}}, "{pkg}"},
		{"{pkg} not first outside /-/", []Route{{Method: "GET", Path: "/about/{pkg}", Name: "a", Handler: ok}}, "{pkg}"},
		{"{pkg} and {x...}", []Route{{Method: "GET", Path: "/{pkg}/{x...}", Name: "a", Handler: ok}}, "{pkg}"},
		{"half a wildcard", []Route{{Method: "GET", Path: "/-/a{b}", Name: "a", Handler: ok}}, "whole segment"},
		{"the same route twice", []Route{
			{Method: "GET", Path: "/-/a", Name: "a", Handler: ok}, {Method: "GET", Path: "/-/a", Name: "a", Handler: ok}}, "conflicts"},
		{"package routes neither more specific", []Route{
			{Method: "GET", Path: "/{pkg}/{a}/x", Name: "a", Handler: ok}, {Method: "GET", Path: "/{pkg}/x/{b}", Name: "b", Handler: ok}}, "neither"},
		{"too long after {pkg}", []Route{{Method: "GET", Path: "/{pkg}/a/b/c/d/e/f/g/h/i", Name: "a", Handler: ok}}, "segments"},
		{"a negative body bound", []Route{{Method: "POST", Path: "/-/a", Name: "a", MaxBody: -1, Handler: ok}}, "MaxBody"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.rows, ok)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error about %q", err, tt.want)
			}
		})
	}
}

// TestMaxBody: a route with MaxBody reads no more of a body than that,
// whichever way it is matched; a route without reads what the server allows.
func TestMaxBody(t *testing.T) {
	read := func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			return
		}
		w.Header().Set("Read", strconv.FormatInt(n, 10))
	}
	table, err := New([]Route{
		{Method: "POST", Path: "/-/small", Name: "small", MaxBody: 10, Handler: read},
		{Method: "PUT", Path: "/-/package/{pkg}/tag", Name: "small", MaxBody: 10, Handler: read},
		{Method: "POST", Path: "/-/large", Name: "large", Handler: read},
	}, func(http.ResponseWriter, *http.Request) {})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, path string
		size         int
		want         int
	}{
		{"POST", "/-/small", 10, http.StatusOK},
		{"POST", "/-/small", 11, http.StatusRequestEntityTooLarge},
		{"PUT", "/-/package/@a%2fb/tag", 11, http.StatusRequestEntityTooLarge},
		{"PUT", "/-/package/@a/b/tag", 10, http.StatusOK},
		{"POST", "/-/large", 100_000, http.StatusOK},
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		table.ServeHTTP(w, httptest.NewRequest(tt.method, tt.path, strings.NewReader(strings.Repeat("x", tt.size))))
		if w.Code != tt.want || tt.want == http.StatusOK && w.Header().Get("Read") != strconv.Itoa(tt.size) {
			t.Errorf("%s %s with %d bytes: %d (read %s), want %d", tt.method, tt.path, tt.size, w.Code, w.Header().Get("Read"), tt.want)
		}
	}
}

func TestRedact(t *testing.T) {
	table := testTable(t, &recorder{})
	tests := []struct{ path, want string }{
		{"/-/user/token/npm_abcdef", "/-/user/token/[redacted]"},
		{"/-/user/token/npm_abcdef/more", "/-/user/token/[redacted]"},
		{"/-/web/login/0123abcd", "/-/web/login/[redacted]"},
		{"/-/user/token/", "/-/user/token/"},
		{"/-/user/org.couchdb.user:alice", "/-/user/org.couchdb.user:alice"},
		{"/demo/-/demo-1.0.0.tgz", "/demo/-/demo-1.0.0.tgz"},
	}
	for _, tt := range tests {
		if got := table.Redact(tt.path); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

func TestPackagePath(t *testing.T) {
	tests := []struct {
		path string
		name string
		rest []string
		ok   bool
	}{
		{"/demo", "demo", []string{}, true},
		{"/@acme%2fdemo/1.0.0", "@acme/demo", []string{"1.0.0"}, true},
		{"/@acme/demo/-/demo-1.0.0.tgz", "@acme/demo", []string{"-", "demo-1.0.0.tgz"}, true},
		{"/demo/", "demo", []string{""}, true},
		{"/", "", nil, false},
		{"/@acme", "", nil, false},
		{"/@acme/", "", nil, false},
		{"/demo/%zz", "", nil, false},
	}
	for _, tt := range tests {
		name, rest, ok := PackagePath(tt.path)
		if name != tt.name || ok != tt.ok || !slices.Equal(rest, tt.rest) {
			t.Errorf("PackagePath(%q) = %q %q %v, want %q %q %v", tt.path, name, rest, ok, tt.name, tt.rest, tt.ok)
		}
	}
}
