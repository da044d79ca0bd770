package route

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// maxSegments bounds the segments after {pkg} in a pattern, so that matching
// splits a path into an array on the stack.
const maxSegments = 8

// group is the routes with {pkg} after one literal prefix: "/" for the
// package paths themselves (/:pkg, /:pkg/-/:file...), "/-/package/" for
// /-/package/:pkg/dist-tags and its kin.
type group struct {
	// prefix is the path of the literal segments before {pkg}.
	prefix string
	// routes, most literal segments first: a more specific route is tried
	// before one it overlaps.
	routes []packageRoute
	// longest is the most segments a route has after {pkg}.
	longest int
}

// packageRoute is a route with {pkg} and the segments that follow {pkg}.
type packageRoute struct {
	route   *Route
	rest    []string
	pattern string
}

// literals counts the literal segments of rest.
func (pr packageRoute) literals() int {
	n := 0
	for _, s := range pr.rest {
		if !strings.HasPrefix(s, "{") {
			n++
		}
	}
	return n
}

// sort orders the routes and reports two routes that would answer the same
// request with neither more specific than the other.
func (g *group) sort() error {
	slices.SortStableFunc(g.routes, func(a, b packageRoute) int { return cmp.Compare(b.literals(), a.literals()) })
	for i, a := range g.routes {
		g.longest = max(g.longest, len(a.rest))
		if len(a.rest) > maxSegments {
			return fmt.Errorf("route %q: more than %d segments after {pkg}", a.pattern, maxSegments)
		}
		for _, b := range g.routes[i+1:] {
			if a.route.Method == b.route.Method && overlap(a.rest, b.rest) && !covers(a.rest, b.rest) {
				return fmt.Errorf("routes %q and %q both match some requests, neither more specifically", a.pattern, b.pattern)
			}
		}
	}
	return nil
}

// overlap reports whether some path matches both a and b.
func overlap(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !strings.HasPrefix(a[i], "{") && !strings.HasPrefix(b[i], "{") && a[i] != b[i] {
			return false
		}
	}
	return true
}

// covers reports whether a is at least as specific as b at every segment:
// wherever a has a wildcard, so has b.
func covers(a, b []string) bool {
	for i := range a {
		if strings.HasPrefix(a[i], "{") && !strings.HasPrefix(b[i], "{") {
			return false
		}
	}
	return true
}

// serveGroup answers a request for a path of group g: with the matching
// route's handler, r.Pattern and the path values set, or with notFound.
func (t *Table) serveGroup(g *group, w http.ResponseWriter, r *http.Request) {
	if rt := g.lookup(r, escapedPath(r.URL), true); rt != nil {
		rt.Handler(w, r)
		return
	}
	t.notFound(w, r)
}

// lookup returns the group's route for r, whose escaped path p starts with
// the group's prefix. With set, it also records the route's pattern in
// r.Pattern and the wildcards' values for r.PathValue, as http.ServeMux does.
// A wildcard after {pkg} matches any segment, even an empty one.
func (g *group) lookup(r *http.Request, p string, set bool) *Route {
	if g == nil {
		return nil
	}
	var buf [maxSegments + 3]string
	segs, nameSegs, ok := splitPackage(p[len(g.prefix):], buf[:0])
	if !ok {
		return nil
	}
	after := segs[nameSegs:]
	if len(after) > g.longest {
		return nil
	}
	for i := range g.routes {
		pr := &g.routes[i]
		if !methodMatches(pr.route.Method, r.Method) || !segmentsMatch(pr.rest, after) {
			continue
		}
		if set {
			r.Pattern = pr.pattern
			r.SetPathValue("pkg", packageName(segs, nameSegs))
			for j, s := range pr.rest {
				if v, ok := strings.CutPrefix(s, "{"); ok {
					r.SetPathValue(strings.TrimSuffix(v, "}"), after[j])
				}
			}
		}
		return pr.route
	}
	return nil
}

// PackagePath splits the escaped path of a package and what follows it,
// "/@scope%2fname/-/name-1.0.0.tgz", into the package name and the unescaped
// segments after it. The name is one segment ("name", or "@scope%2fname"
// unescaped), or two when the first is a scope ("@scope" then "name"). It
// is not ok for an empty name, a scope without a name, or a malformed escape.
func PackagePath(escaped string) (name string, rest []string, ok bool) {
	segs, nameSegs, ok := splitPackage(escaped, nil)
	if !ok {
		return "", nil, false
	}
	return packageName(segs, nameSegs), segs[nameSegs:], true
}

// splitPackage appends to buf the unescaped segments of the escaped path p,
// as many as fit when buf has a capacity (a longer path matches no route),
// and tells how many of them make the package name.
func splitPackage(p string, buf []string) (segs []string, nameSegs int, ok bool) {
	segs = buf
	rest := strings.TrimPrefix(p, "/")
	for buf == nil || len(segs) < cap(segs) {
		seg, more, found := strings.Cut(rest, "/")
		if strings.IndexByte(seg, '%') >= 0 {
			u, err := url.PathUnescape(seg)
			if err != nil {
				return nil, 0, false
			}
			seg = u
		}
		segs = append(segs, seg)
		if !found {
			break
		}
		rest = more
	}
	switch {
	case len(segs) == 0 || segs[0] == "":
		return nil, 0, false
	case !strings.HasPrefix(segs[0], "@"):
		return segs, 1, true
	case strings.Contains(segs[0], "/"):
		// "@scope%2fname": a scope without a name ("@scope%2f") or a name
		// without a scope ("@%2fname") is no package.
		scope, bare, _ := strings.Cut(segs[0], "/")
		if scope == "@" || bare == "" {
			return nil, 0, false
		}
		return segs, 1, true
	case segs[0] == "@" || len(segs) < 2 || segs[1] == "":
		return nil, 0, false
	}
	return segs, 2, true
}

// packageName joins the segments of a package name.
func packageName(segs []string, nameSegs int) string {
	if nameSegs == 2 {
		return segs[0] + "/" + segs[1]
	}
	return segs[0]
}

// methodMatches reports whether a route of method answers a request of
// method got: GET also answers HEAD, as in http.ServeMux.
func methodMatches(method, got string) bool {
	return method == got || method == http.MethodGet && got == http.MethodHead
}

// segmentsMatch reports whether the segments of a path match a pattern's.
func segmentsMatch(pattern, segs []string) bool {
	if len(pattern) != len(segs) {
		return false
	}
	for i, s := range pattern {
		if !strings.HasPrefix(s, "{") && s != segs[i] {
			return false
		}
	}
	return true
}
