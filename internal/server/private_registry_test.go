package server

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/uplink"
)

// privateRegistry is a gatehouse with read_access authenticated, proxying
// an upstream that has the public package upthing, with alice's lib
// (public) and @alice/app (public too: on a private registry only a
// credential sees either).
func privateRegistry(t *testing.T) (tr *testRegistry, alice string) {
	t.Helper()
	up := startUpstream(t)
	up.publish("upthing", "1.0.0")
	tr = proxyTo(t, up.url, func(_ *uplink.Spec, c *config.Config) { c.ReadAccess = "authenticated" })
	alice = tr.user("alice")
	for _, name := range []string{"lib", "@alice/app"} {
		body := publishBody(t, name, "1.0.0", func(m map[string]any, _ *[]byte) { m["access"] = "public" })
		if res := tr.do("PUT", "/"+escape(name), alice, body); res.status != http.StatusCreated {
			t.Fatalf("publish %s: %d %s", name, res.status, res.body)
		}
	}
	return tr, alice
}

// privateReads are a request of every kind of read of the npm API.
var privateReads = []struct {
	method, path string
	header       []string
}{
	{"GET", "/lib", nil},
	{"GET", "/lib", []string{"Accept", "application/vnd.npm.install-v1+json"}},
	{"GET", "/lib/1.0.0", nil},
	{"GET", "/lib/latest", nil},
	{"GET", "/lib/-/lib-1.0.0.tgz", nil},
	{"HEAD", "/lib/-/lib-1.0.0.tgz", nil},
	{"GET", "/@alice%2fapp", nil},
	{"GET", "/@alice/app", []string{"Accept", "application/vnd.npm.install-v1+json"}},
	{"GET", "/@alice/app/1.0.0", nil},
	{"GET", "/@alice/app/-/app-1.0.0.tgz", nil},
	{"GET", "/@alice%2fapp/-/app-1.0.0.tgz", nil},
	{"GET", "/-/package/lib/dist-tags", nil},
	{"GET", "/-/package/@alice%2fapp/dist-tags", nil},
	{"GET", "/-/package/lib/access", nil},
	{"GET", "/-/package/lib/collaborators", nil},
	{"GET", "/-/package/lib/visibility", nil},
	{"GET", "/-/npm/v1/attestations/lib@1.0.0", nil},
	{"GET", "/-/v1/search?text=lib", nil},
	{"POST", "/-/npm/v1/security/advisories/bulk", nil},
	{"POST", "/-/npm/v1/security/audits/quick", nil},
	{"GET", "/-/npm/v1/keys", nil},
	{"GET", "/-/user/org.couchdb.user:alice", nil},
	// A name that does not exist, and the uplink's package.
	{"GET", "/never-published", nil},
	{"GET", "/never-published/-/never-published-1.0.0.tgz", nil},
	{"GET", "/upthing", nil},
	{"GET", "/upthing/1.0.0", nil},
	{"GET", "/upthing/-/upthing-1.0.0.tgz", nil},
}

// TestPrivateRegistryRefusesAnonymousReads: on a private registry every
// kind of read, of a local, missing or proxied name, is a 401 with the
// challenge that makes npm say "npm login", to no credential and to a bad
// one alike; a login and the probes stay open.
func TestPrivateRegistryRefusesAnonymousReads(t *testing.T) {
	tr, alice := privateRegistry(t)
	for _, rd := range privateReads {
		var body any
		if rd.method == "POST" {
			body = map[string]any{"lib": []string{"1.0.0"}}
		}
		for who, tok := range map[string]string{"anonymous": "", "bad token": "npm_notatoken"} {
			res := tr.do(rd.method, rd.path, tok, body, rd.header...)
			if res.status != http.StatusUnauthorized || !strings.HasPrefix(res.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s %s %s %v: %d %q %s, want 401 with a Bearer challenge", who, rd.method, rd.path, rd.header,
					res.status, res.header.Get("WWW-Authenticate"), res.body)
			}
			if strings.Contains(string(res.body), "1.0.0") || strings.Contains(string(res.body), "upthing") {
				t.Errorf("%s %s %s: the 401 tells something: %s", who, rd.method, rd.path, res.body)
			}
		}
		// With a login: the answer of a public registry (no attestations
		// for a version published without provenance).
		want := http.StatusOK
		if strings.HasPrefix(rd.path, "/never-published") || strings.Contains(rd.path, "attestations") {
			want = http.StatusNotFound
		}
		if res := tr.do(rd.method, rd.path, alice, body, rd.header...); res.status != want {
			t.Errorf("alice %s %s: %d %s, want %d", rd.method, rd.path, res.status, res.body, want)
		}
	}
	for _, open := range []struct{ method, path string }{{"GET", "/-/ping"}, {"GET", "/-/ready"}, {"POST", "/-/v1/login"}} {
		if res := tr.do(open.method, open.path, "", map[string]any{}); res.status != http.StatusOK {
			t.Errorf("anonymous %s %s: %d %s, want it open", open.method, open.path, res.status, res.body)
		}
	}
	// The couch login (npm login --auth-type=legacy) and sign-up stay open.
	if res := tr.do("PUT", "/-/user/org.couchdb.user:alice", "", map[string]string{"name": "alice", "password": "password-alice"}); res.status != http.StatusCreated {
		t.Errorf("couch login: %d %s", res.status, res.body)
	}
	tr.user("bob")
}

// TestPrivateRegistryCredentials: a credential reads what it reaches and
// nothing else, answered as a name that does not exist (404, never 401): a
// granular token for @alice/* does not read lib nor the uplink's packages,
// an organization-only token reads no package, and search shows each only
// what it reads.
func TestPrivateRegistryCredentials(t *testing.T) {
	tr, alice := privateRegistry(t)
	pw := "password-alice"
	scoped := tr.mustToken(alice, map[string]any{"password": pw, "name": "scoped", "scopes": []string{"alice"}})
	named := tr.mustToken(alice, map[string]any{"password": pw, "name": "named", "packages": []string{"lib"}})
	all := tr.mustToken(alice, map[string]any{"password": pw, "name": "all", "packages_all": true})
	orgOnly := tr.mustToken(alice, map[string]any{"password": pw, "name": "org", "orgs": []string{"alice"},
		"orgs_permission": "read-only"})
	bob := tr.user("bob")
	paths := []string{"/lib", "/lib/1.0.0", "/lib/-/lib-1.0.0.tgz", "/-/package/lib/dist-tags",
		"/@alice%2fapp", "/@alice/app/-/app-1.0.0.tgz", "/upthing", "/upthing/-/upthing-1.0.0.tgz"}
	reads := map[string]map[string]bool{
		"session":       {"lib": true, "@alice": true, "upthing": true},
		"another user":  {"lib": true, "@alice": true, "upthing": true},
		"all packages":  {"lib": true, "@alice": true, "upthing": true},
		"@alice/*":      {"@alice": true},
		"lib alone":     {"lib": true},
		"organizations": {},
	}
	tokens := map[string]string{"session": alice, "another user": bob, "all packages": all, "@alice/*": scoped,
		"lib alone": named, "organizations": orgOnly}
	for who, tok := range tokens {
		for _, p := range paths {
			name := strings.Split(strings.TrimPrefix(p, "/-/package"), "/")[1]
			name, _, _ = strings.Cut(name, "%2f")
			want := http.StatusNotFound
			if reads[who][name] {
				want = http.StatusOK
			}
			if res := tr.do("GET", p, tok, nil); res.status != want {
				t.Errorf("%s GET %s: %d %s, want %d", who, p, res.status, res.body, want)
			}
		}
	}
	// The uplink's search answers upthing, shown to those who may read it.
	// Package lists name only what the credential reads: alice's own list
	// to her @alice/* token, and nothing to her organization token.
	for who, want := range map[string]string{"session": "@alice/app lib", "@alice/*": "@alice/app", "lib alone": "lib",
		"organizations": ""} {
		res := tr.do("GET", "/-/user/alice/package", tokens[who], nil)
		var names []string
		for name := range res.json(t) {
			names = append(names, name)
		}
		slices.Sort(names)
		if res.status != http.StatusOK || strings.Join(names, " ") != want {
			t.Errorf("%s listing alice's packages: %d %s, want %q", who, res.status, res.body, want)
		}
	}
	search := map[string]int{"session": 3, "all packages": 3, "@alice/*": 1, "lib alone": 1, "organizations": 0}
	for who, want := range search {
		res := tr.do("GET", "/-/v1/search?text=the", tokens[who], nil)
		objects, _ := res.json(t)["objects"].([]any)
		if res.status != http.StatusOK || len(objects) != want {
			t.Errorf("%s searching: %d, %d results, want %d: %s", who, res.status, len(objects), want, res.body)
		}
	}
}

// TestPrivateRegistryWebsite: every page but sign-in, sign-up and their
// assets sends an anonymous visitor to sign in, and comes back after it;
// the session cookie is Secure when the site is served over HTTPS.
func TestPrivateRegistryWebsite(t *testing.T) {
	tr, _ := privateRegistry(t)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", tr.url+path, nil)
		req.Header.Set("Accept", "text/html")
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	for _, p := range []string{"/", "/search?q=lib", "/package/lib", "/package/@alice/app", "/package/upthing",
		"/package/never-published", "/orgs", "/org/acme", "/settings", "/settings/alice/tokens", "/settings/no/such/page"} {
		res := get(p)
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login?next=") {
			t.Errorf("anonymous GET %s: %d to %q, want a redirect to sign in", p, res.StatusCode, res.Header.Get("Location"))
		}
	}
	// npm login --auth-type=web: the login starts anonymously, and the
	// page it sends the person to is open (it signs them in).
	start := tr.do("POST", "/-/v1/login", "", map[string]any{})
	loginURL, _ := start.json(t)["loginUrl"].(string)
	confirm, ok := strings.CutPrefix(loginURL, tr.url)
	if start.status != http.StatusOK || !ok {
		t.Fatalf("web login start: %d %s", start.status, start.body)
	}
	for _, p := range []string{"/login", "/signup", "/-/web/static/favicon.svg", confirm} {
		if res := get(p); res.StatusCode != http.StatusOK {
			t.Errorf("anonymous GET %s: %d, want it open", p, res.StatusCode)
		}
	}
	// Signed in, the pages are there.
	session := tr.user("carol")
	for _, p := range []string{"/", "/package/lib", "/package/upthing", "/search?q=lib"} {
		req, _ := http.NewRequest("GET", tr.url+p, nil)
		req.Header.Set("Accept", "text/html")
		req.AddCookie(&http.Cookie{Name: "gatehouse_session", Value: session})
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("signed in GET %s: %d", p, res.StatusCode)
		}
	}
	status, page := signInOnWebsite(t, tr.url, "alice", "password-alice")
	if status != http.StatusSeeOther {
		t.Fatalf("sign in: %d %s", status, page)
	}
}
