package server

import (
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/npmapi"
	"github.com/gatehouse-registry/gatehouse/internal/route"
	"github.com/gatehouse-registry/gatehouse/internal/web"
)

// secretMark stands for the secret in the sample path of a secret route.
const secretMark = "npm_SECRETsecretSECRETsecretSECRET123456"

// samples are requests a route should answer: its method (for a route of
// every method, each method a browser or npm sends) and its path with each
// wildcard filled in, {pkg} in each of its spellings, as a browser sends them
// for a page.
func samples(rt route.Route) []*http.Request {
	var paths []string
	for _, pkg := range []string{"demo", "@acme%2fdemo", "@acme/demo"} {
		var segs []string
		for _, s := range strings.Split(rt.Path, "/") {
			switch {
			case s == "{pkg}":
				s = pkg
			case s == "{token}" || s == "{secret}":
				s = secretMark
			case s == "{$}":
				s = ""
			case strings.HasSuffix(s, "...}"):
				s = "a/b"
			case strings.HasPrefix(s, "{"):
				s = "x1"
			}
			segs = append(segs, s)
		}
		p := strings.Join(segs, "/")
		if strings.HasSuffix(rt.Path, "/") {
			p += "anything"
		}
		if !slices.Contains(paths, p) {
			paths = append(paths, p)
		}
	}
	methods := []string{rt.Method}
	if rt.Method == "" {
		methods = []string{"GET", "POST", "PUT", "DELETE", "PATCH"}
	}
	var out []*http.Request
	for _, m := range methods {
		for _, p := range paths {
			r := httptest.NewRequest(m, p, nil)
			if rt.Page {
				r.Header.Set("Accept", "text/html")
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			out = append(out, r)
		}
	}
	return out
}

// TestRouteTable walks the registry's route table: every route has a name
// and is what answers a request for it, with the name it gives the request
// (so that no request is labelled other by accident); every route whose path
// carries a token or secret has it redacted in the log; and docs/operations.md
// lists exactly the route names there are.
func TestRouteTable(t *testing.T) {
	table, err := routeTable(new(npmapi.API), new(web.Site), func(http.ResponseWriter, *http.Request) {})
	if err != nil {
		t.Fatal(err)
	}
	// A copy of the table whose handlers record which route ran, to check
	// that what answers is what Match (and so the metrics and the log) names.
	var ran string
	rows := table.Routes()
	for i := range rows {
		pattern := rows[i].Pattern()
		rows[i].Handler = func(http.ResponseWriter, *http.Request) { ran = pattern }
	}
	recording, err := route.New(rows, func(http.ResponseWriter, *http.Request) { ran = "notFound" })
	if err != nil {
		t.Fatal(err)
	}

	names := map[string]bool{route.Other: true}
	for _, rt := range table.Routes() {
		if rt.Name == "" || rt.Name == route.Other {
			t.Errorf("%s: name %q", rt.Pattern(), rt.Name)
		}
		names[rt.Name] = true
		reached := false
		for _, r := range samples(rt) {
			m := table.Match(r)
			if m == nil || m.Pattern() != rt.Pattern() {
				continue
			}
			reached = true
			if got := table.Name(r); got != rt.Name {
				t.Errorf("%s %s: named %q, want %q", r.Method, r.URL, got, rt.Name)
			}
			ran = ""
			recording.ServeHTTP(httptest.NewRecorder(), r)
			if ran != rt.Pattern() {
				t.Errorf("%s %s: matches %s, but %q answers", r.Method, r.URL, rt.Pattern(), ran)
			}
			if logged := table.Redact(r.URL.Path); strings.Contains(logged, secretMark) {
				t.Errorf("%s: the path %s is logged as %s", rt.Pattern(), r.URL.Path, logged)
			}
		}
		if !reached {
			t.Errorf("%s: no request reaches the route", rt.Pattern())
		}
	}

	// The paths the npm protocol and the website put a secret in.
	for _, p := range []string{"DELETE /-/user/token/{token}", "DELETE /-/npm/v1/tokens/token/{token}",
		"GET /-/v1/login/done/{secret}", "GET /-/web/login/{secret}", "POST /-/web/login/{secret}"} {
		found := false
		for _, rt := range table.Routes() {
			if rt.Pattern() == p {
				found = true
				if !rt.Secret {
					t.Errorf("%s carries a secret but is not marked Secret", p)
				}
			}
		}
		if !found {
			t.Errorf("no route %s", p)
		}
	}

	// docs/operations.md lists the route label's values in the first table
	// after "`route` names the endpoint", one or more names a row.
	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), "`route` names the endpoint")
	if !ok {
		t.Fatal("docs/operations.md has no list of route names")
	}
	documented := map[string]bool{}
	inTable := false
	for _, line := range strings.Split(after, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			if inTable {
				break
			}
			continue
		}
		inTable = true
		first := strings.Split(line, "|")[1]
		for _, m := range regexp.MustCompile("`([a-z_]+)`").FindAllStringSubmatch(first, -1) {
			documented[m[1]] = true
		}
	}
	for n := range names {
		if !documented[n] {
			t.Errorf("route name %q is not in docs/operations.md", n)
		}
	}
	for n := range documented {
		if !names[n] {
			t.Errorf("docs/operations.md lists route name %q, which no route has", n)
		}
	}
}

// BenchmarkRouteTable measures what the route table costs a request: naming
// it (for the metrics and the log line) and dispatching it, with handlers
// that do nothing.
func BenchmarkRouteTable(b *testing.B) {
	table, err := routeTable(new(npmapi.API), new(web.Site), func(http.ResponseWriter, *http.Request) {})
	if err != nil {
		b.Fatal(err)
	}
	rows := table.Routes()
	for i := range rows {
		rows[i].Handler = func(http.ResponseWriter, *http.Request) {}
	}
	table, err = route.New(rows, func(http.ResponseWriter, *http.Request) {})
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct{ name, method, target, accept string }{
		{"packument", "GET", "/left-pad", "application/vnd.npm.install-v1+json"},
		{"scoped", "GET", "/@acme%2fdemo", "application/vnd.npm.install-v1+json"},
		{"tarball", "GET", "/left-pad/-/left-pad-1.3.0.tgz", ""},
		{"whoami", "GET", "/-/whoami", ""},
		{"dist_tags", "GET", "/-/package/@acme%2fdemo/dist-tags", ""},
		{"page", "GET", "/settings/alice/tokens", "text/html"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			r := httptest.NewRequest(c.method, c.target, nil)
			if c.accept != "" {
				r.Header.Set("Accept", c.accept)
			}
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				if table.Name(r) == route.Other {
					b.Fatal("no route")
				}
				table.ServeHTTP(w, r)
			}
		})
	}
}
