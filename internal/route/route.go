// Package route is the route table of gatehouse's address: every endpoint of
// the npm API and every page of the website is one Route, a row of method,
// path pattern, name, handler, whether the path carries a secret, and page or
// API. From the rows the Table derives how a request is dispatched, the name
// that labels it in metrics and logs, and which paths are logged redacted.
//
// Path patterns are http.ServeMux's ({name}, {name...}, {$}, a trailing slash
// for a subtree), plus {pkg}: an npm package name, which arrives as one
// segment (name, @scope%2fname) or as two (@scope/name). A ServeMux cannot
// tell a scope segment from a package segment, so rows with {pkg} are matched
// by the table's own matcher, and the others by a ServeMux.
//
// A request goes to a page when a page route matches and the request is a
// browser's (see Route.Page); else, under /-/, to the route with {pkg} whose
// literal start is the longest that matches, or to the ServeMux's API
// routes; outside /-/ to a route with {pkg}; and when none answers, to the
// table's notFound.
package route

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
)

// Route is one row of the table.
type Route struct {
	// Method is the HTTP method the route answers: GET also answers HEAD;
	// empty answers every method (the handler then tells them apart).
	Method string
	// Path is the path pattern: a ServeMux pattern, or one holding {pkg}.
	// Outside /-/ the npm API's paths are package paths, so an API route
	// there holds {pkg}; only literal segments may come before it.
	Path string
	// Name labels the requests the route answers in metrics and logs: a
	// word from a small fixed set, never anything taken from the path
	// (package names would make metrics unbounded and could reveal private
	// names). Other is kept for requests no route answers.
	Name string
	// Secret says the path carries a secret (a token, the id of a browser
	// confirmation) in a wildcard named {token} or {secret}; logs show the
	// path from that wildcard on as [redacted].
	Secret bool
	// Page marks a website page. A page answers what a browser sends (a GET
	// or HEAD accepting text/html, or a posted form), and under /-/, where no
	// package name can be, any request; every other request for its path
	// goes to the npm API (a page path such as /login is also the path of a
	// package named login).
	Page bool
	// MaxBody, when above 0, bounds the request body the route reads,
	// below the server's own bound: the handler reads an
	// *http.MaxBytesError past it (413). Endpoints that need kilobytes
	// (logins, tokens, profiles, organizations) say so here, so that no
	// caller, signed in or not, makes them read more.
	MaxBody int64
	// Handler answers the request; r.PathValue gives the wildcards' values,
	// {pkg} included, and r.Pattern the route's Pattern.
	Handler http.HandlerFunc
}

// Other names every request no route answers: unknown paths and methods,
// and paths answered with a redirect to their clean form.
const Other = "other"

// Pattern is the route's method and path as http.ServeMux writes them,
// "GET /-/ping", or the path alone for a route of every method.
func (rt Route) Pattern() string {
	if rt.Method == "" {
		return rt.Path
	}
	return rt.Method + " " + rt.Path
}

// Table dispatches requests by its routes. It is an http.Handler.
type Table struct {
	routes []Route
	// pages holds the page routes (and / for no page); api the API routes without {pkg}, /-/
	// (to notFound) and / (to the top group, for package names starting
	// with -).
	pages, api *http.ServeMux
	// pageRoutes and apiRoutes find a route by the pattern its ServeMux matched.
	pageRoutes map[string]pageRoute
	apiRoutes  map[string]*Route
	// dashPages are the literal starts of the page routes under /-/: a
	// path under /-/ that starts with none of them is no page.
	dashPages []string
	// groups holds the routes with {pkg} under /-/, by the literal path
	// before {pkg} ("/-/package/"), the longest first; top those at "/",
	// which every path outside /- is for.
	groups   []*group
	top      *group
	notFound http.HandlerFunc
	// secrets are the literal prefixes of secret routes' paths, before their secret.
	secrets []string
}

// New builds the table of routes; notFound answers the requests no route
// answers. It reports a malformed route, two routes that would answer the
// same request, a route without a name, and a secret route whose secret
// cannot be redacted (or a {token} or {secret} wildcard in a route not
// marked Secret).
func New(routes []Route, notFound http.HandlerFunc) (*Table, error) {
	t := &Table{
		routes: slices.Clone(routes), pages: http.NewServeMux(), api: http.NewServeMux(),
		pageRoutes: map[string]pageRoute{}, apiRoutes: map[string]*Route{}, notFound: notFound,
	}
	var errs []error
	for i := range t.routes {
		if err := t.add(&t.routes[i]); err != nil {
			errs = append(errs, fmt.Errorf("route %q: %w", t.routes[i].Pattern(), err))
		}
	}
	slices.SortStableFunc(t.groups, func(a, b *group) int { return cmp.Compare(len(b.prefix), len(a.prefix)) })
	for _, g := range append(slices.Clone(t.groups), t.top) {
		if g == nil {
			continue
		}
		if err := g.sort(); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, register(t.api, "/-/", notFound), register(t.api, "/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.serveGroup(t.top, w, r)
	})))
	// Every path matches some pattern of pages, so that asking it about a
	// path no page has is quick (ServeMux otherwise looks for the methods
	// other patterns would allow); "/" is never a page route's pattern.
	errs = append(errs, register(t.pages, "/", notFound))
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("route table: %w", err)
	}
	slices.Sort(t.secrets)
	t.secrets = slices.Compact(t.secrets)
	return t, nil
}

// add checks one route and files it where it will be matched.
func (t *Table) add(rt *Route) error {
	p, err := parse(rt.Path)
	if err != nil {
		return err
	}
	switch {
	case rt.Name == "" || rt.Name == Other || strings.Trim(rt.Name, "abcdefghijklmnopqrstuvwxyz_") != "":
		return fmt.Errorf("name %q: want lower-case letters and _, and not %q", rt.Name, Other)
	case rt.Handler == nil:
		return errors.New("no handler")
	case rt.Method != strings.ToUpper(rt.Method):
		return errors.New("the method must be upper case")
	case rt.Secret != (p.secret >= 0):
		return errors.New("a secret route names its secret wildcard {token} or {secret}, and only a secret route does")
	case rt.MaxBody < 0:
		return errors.New("MaxBody is a number of bytes, 0 for the server's bound")
	}
	if rt.MaxBody > 0 {
		rt.Handler = limitBody(rt.MaxBody, rt.Handler)
	}
	rt.Handler = tell(rt, rt.Handler)
	if rt.Secret {
		t.secrets = append(t.secrets, p.prefix(p.secret))
	}
	switch {
	case p.pkg < 0 && rt.Page:
		t.pageRoutes[rt.Pattern()] = pageRoute{route: rt, literal: p.literal()}
		if strings.HasPrefix(rt.Path, "/-/") && !slices.Contains(t.dashPages, p.literal()) {
			t.dashPages = append(t.dashPages, p.literal())
		}
		return register(t.pages, rt.Pattern(), rt.Handler)
	case p.pkg < 0:
		if !strings.HasPrefix(rt.Path, "/-/") || strings.HasSuffix(rt.Path, "/") || p.multi {
			return errors.New("an API route outside /-/ holds {pkg}, and an API route's path is exact (no subtree, {name...} or {$})")
		}
		t.apiRoutes[rt.Pattern()] = rt
		return register(t.api, rt.Pattern(), rt.Handler)
	}
	if rt.Page || rt.Method == "" || rt.Method == http.MethodHead {
		return errors.New("a route with {pkg} is an API route of one method (GET also answers HEAD)")
	}
	if p.pkg > 0 && !strings.HasPrefix(rt.Path, "/-/") {
		return errors.New("outside /-/, {pkg} is the first segment")
	}
	prefix := p.prefix(p.pkg)
	g := t.top
	if prefix != "/" {
		i := slices.IndexFunc(t.groups, func(g *group) bool { return g.prefix == prefix })
		if i < 0 {
			i = len(t.groups)
			t.groups = append(t.groups, &group{prefix: prefix})
		}
		g = t.groups[i]
	} else if g == nil {
		g = &group{prefix: prefix}
		t.top = g
	}
	g.routes = append(g.routes, packageRoute{route: rt, rest: p.segs[p.pkg+1:], pattern: rt.Pattern()})
	return nil
}

// A Recorder is a ResponseWriter that wants to know which route answers
// the request. The table tells it just before the route's handler runs,
// finding it through the writers' Unwrap methods (as
// http.ResponseController finds net/http's writer): a middleware that
// names the request after serving it (metrics, the access log) learns the
// name without matching the request again.
type Recorder interface {
	RouteMatched(*Route)
}

// tell runs next after telling the request's Recorder, if any, that rt
// answers.
func tell(rt *Route, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for u := w; ; {
			if rec, ok := u.(Recorder); ok {
				rec.RouteMatched(rt)
				break
			}
			uw, ok := u.(interface{ Unwrap() http.ResponseWriter })
			if !ok {
				break
			}
			u = uw.Unwrap()
		}
		next(w, r)
	}
}

// limitBody bounds the body next reads to max bytes.
func limitBody(max int64, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, max)
		next(w, r)
	}
}

// register adds a pattern to a ServeMux, turning its panic on a malformed or
// clashing pattern into an error.
func register(mux *http.ServeMux, pattern string, h http.Handler) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%v", v)
		}
	}()
	mux.Handle(pattern, h)
	return nil
}

// pageRoute is a page route and the literal start of its path, which every
// path it matches starts with.
type pageRoute struct {
	route   *Route
	literal string
}

// pattern is a parsed path pattern: its segments, the index of {pkg} and of
// the secret wildcard, or -1, and whether it ends in {name...} or {$}.
type pattern struct {
	segs        []string
	pkg, secret int
	multi       bool
}

// literal is the pattern's path up to its first wildcard: "/org/" for
// /org/{org}, "/" for /{$}, all of /login.
func (p pattern) literal() string {
	for i, s := range p.segs {
		if strings.HasPrefix(s, "{") {
			return p.prefix(i)
		}
	}
	return "/" + strings.Join(p.segs, "/")
}

// prefix is the path of the pattern's first n segments, ending with a slash.
func (p pattern) prefix(n int) string {
	if n == 0 {
		return "/"
	}
	return "/" + strings.Join(p.segs[:n], "/") + "/"
}

func parse(p string) (pattern, error) {
	if !strings.HasPrefix(p, "/") {
		return pattern{}, errors.New("the path must start with /")
	}
	out := pattern{segs: strings.Split(p[1:], "/"), pkg: -1, secret: -1}
	for i, s := range out.segs {
		name, ok := strings.CutPrefix(s, "{")
		if !ok {
			if strings.ContainsAny(s, "{}") {
				return pattern{}, fmt.Errorf("segment %q: a wildcard is a whole segment", s)
			}
			continue
		}
		name, ok = strings.CutSuffix(name, "}")
		if !ok {
			return pattern{}, fmt.Errorf("segment %q: a wildcard is a whole segment", s)
		}
		out.multi = out.multi || name == "$" || strings.HasSuffix(name, "...")
		switch strings.TrimSuffix(name, "...") {
		case "pkg":
			if out.pkg >= 0 || out.secret >= 0 || strings.Contains(strings.Join(out.segs[:i], "/"), "{") {
				return pattern{}, errors.New("{pkg} comes once, after literal segments only")
			}
			out.pkg = i
		case "token", "secret":
			if out.secret >= 0 || strings.Contains(strings.Join(out.segs[:i], "/"), "{") {
				return pattern{}, errors.New("a secret wildcard comes once, after literal segments only")
			}
			out.secret = i
		}
	}
	if out.pkg >= 0 && out.multi {
		return pattern{}, errors.New("a pattern with {pkg} has no {name...} or {$}")
	}
	return out, nil
}

// Routes returns the table's routes, in the order given to New.
func (t *Table) Routes() []Route { return slices.Clone(t.routes) }

// Match returns the route that answers r, or nil when none does.
func (t *Table) Match(r *http.Request) *Route {
	p := escapedPath(r.URL)
	if !isClean(p) {
		return nil
	}
	if rt := t.page(r, p); rt != nil {
		return rt
	}
	if !strings.HasPrefix(p, "/-") {
		return t.top.lookup(r, p, false)
	}
	if rt, _ := t.underDash(r, p, false); rt != nil {
		return rt
	}
	_, pat := t.api.Handler(r)
	if pat == "/" {
		return t.top.lookup(r, p, false)
	}
	return t.apiRoutes[pat]
}

// underDash returns the route with {pkg} under /-/ that answers r, if any,
// trying the group of the longest prefix of p first. With set, it records
// the route's pattern and path values in r.
func (t *Table) underDash(r *http.Request, p string, set bool) (*Route, bool) {
	for _, g := range t.groups {
		if strings.HasPrefix(p, g.prefix) {
			if rt := g.lookup(r, p, set); rt != nil {
				return rt, true
			}
		}
	}
	return nil, false
}

// Name is the name of the route that answers r, or Other.
func (t *Table) Name(r *http.Request) string {
	if rt := t.Match(r); rt != nil {
		return rt.Name
	}
	return Other
}

// ServeHTTP answers r with the route Match finds, or notFound. A path that is
// not clean ("//x", "/a/../b") is answered by http.ServeMux's redirect to
// its clean form.
func (t *Table) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := escapedPath(r.URL)
	switch {
	case !isClean(p):
		t.api.ServeHTTP(w, r)
	case t.page(r, p) != nil:
		t.pages.ServeHTTP(w, r)
	case strings.HasPrefix(p, "/-"):
		// The routes with {pkg} under /-/ first, then the registry's other
		// endpoints, and the package names that start with -.
		if rt, ok := t.underDash(r, p, true); ok {
			rt.Handler(w, r)
			return
		}
		t.api.ServeHTTP(w, r)
	default:
		t.serveGroup(t.top, w, r)
	}
}

// Redact returns p with the secret of a secret route's path replaced by
// [redacted] (and anything after it), whatever the method: a path that
// merely looks like one is redacted too.
func (t *Table) Redact(p string) string {
	for _, prefix := range t.secrets {
		if len(p) > len(prefix) && strings.HasPrefix(p, prefix) {
			return prefix + "[redacted]"
		}
	}
	return p
}

// page returns the page route that answers r, if any.
func (t *Table) page(r *http.Request, p string) *Route {
	dash := strings.HasPrefix(p, "/-/")
	if dash {
		if !slices.ContainsFunc(t.dashPages, func(l string) bool { return strings.HasPrefix(p, l) }) {
			return nil
		}
	} else if len(t.pageRoutes) == 0 || !browser(r) {
		return nil
	}
	_, pat := t.pages.Handler(r)
	pr, ok := t.pageRoutes[pat]
	if !ok || !dash && !strings.HasPrefix(cleanPath(r.URL.Path), pr.literal) {
		// No page, or only the subtree ServeMux would redirect to, which
		// outside /-/ is no page's: /org is a package, /org/ a subtree of
		// pages. (Under a page's path in /-/, the redirect is the
		// website's: /-/web/static to /-/web/static/.)
		return nil
	}
	return pr.route
}

// browser reports whether r is what a browser sends for a page: a GET or
// HEAD accepting HTML, or a posted form. npm clients send neither.
func browser(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return strings.Contains(r.Header.Get("Accept"), "text/html")
	case http.MethodPost:
		ct := r.Header.Get("Content-Type")
		return strings.HasPrefix(ct, "application/x-www-form-urlencoded") || strings.HasPrefix(ct, "multipart/form-data")
	}
	return false
}

// escapedPath is r.URL.EscapedPath() without its allocation: RawPath, when a
// request's path has one, is always valid; without one, Path has no escaped
// slash, so its segments are those of the escaped path.
func escapedPath(u *url.URL) string {
	if u.RawPath != "" {
		return u.RawPath
	}
	return u.Path
}

// cleanPath is the clean form of p, as http.ServeMux computes it before
// matching: rooted, without . and .. segments or doubled slashes, keeping a
// trailing slash.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		if len(p) == len(np)+1 && strings.HasPrefix(p, np) {
			return p
		}
		return np + "/"
	}
	return np
}

func isClean(p string) bool { return cleanPath(p) == p }
