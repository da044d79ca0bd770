package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/store/pgtest"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
	"github.com/gatehouse-registry/gatehouse/internal/uplink"
)

const abbreviatedAccept = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"

// requestLog records what an upstream registry was asked, and how it
// answered: the upstream's request log of the tests.
type requestLog struct {
	mu      sync.Mutex
	entries []loggedRequest
}

type loggedRequest struct {
	method, path string // the escaped path
	ifNoneMatch  string
	status       int
}

// wrap records every request h answers.
func (l *requestLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		l.mu.Lock()
		l.entries = append(l.entries, loggedRequest{r.Method, r.URL.EscapedPath(), r.Header.Get("If-None-Match"), rec.status})
		l.mu.Unlock()
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// count counts the GET requests whose escaped path contains part (the
// tests' own publishes upstream are PUTs).
func (l *requestLog) count(part string) int {
	n := 0
	for _, e := range l.all() {
		if e.method == http.MethodGet && strings.Contains(e.path, part) {
			n++
		}
	}
	return n
}

func (l *requestLog) all() []loggedRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]loggedRequest(nil), l.entries...)
}

// upstreamRegistry is a gatehouse that another uses as its uplink.
type upstreamRegistry struct {
	*testRegistry
	log *requestLog
	pub string // a session of the user "types", who publishes everything upstream
	hs  *httptest.Server
}

// Close stops the upstream answering: its port refuses connections.
func (up *upstreamRegistry) Close() {
	up.hs.CloseClientConnections()
	up.hs.Close()
}

// startUpstream starts a gatehouse to proxy, recording its requests.
func startUpstream(t *testing.T) *upstreamRegistry {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	srv, err := Open(context.Background(), cfg, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	log := &requestLog{}
	hs := httptest.NewServer(log.wrap(srv.Handler()))
	t.Cleanup(hs.Close)
	up := &upstreamRegistry{testRegistry: &testRegistry{t: t, srv: srv, url: hs.URL, dir: cfg.DataDir}, log: log, hs: hs}
	up.pub = up.user("types")
	return up
}

// publish publishes name@version upstream (public, even when scoped: a
// scoped name is in the scope @types).
func (up *upstreamRegistry) publish(name, version string, opts ...func(m map[string]any, tgz *[]byte)) {
	up.t.Helper()
	opts = append(opts, func(m map[string]any, _ *[]byte) { m["access"] = "public" })
	body := publishBody(up.t, name, version, opts...)
	if res := up.do("PUT", "/"+escape(name), up.pub, body); res.status != 201 {
		up.t.Fatalf("publish %s@%s upstream: %d %s", name, version, res.status, res.body)
	}
}

// proxyTo opens a gatehouse whose one uplink, "up", is at url.
func proxyTo(t *testing.T, url string, modify ...func(*uplink.Spec, *config.Config)) *testRegistry {
	t.Helper()
	return newTestRegistry(t, func(c *config.Config) {
		spec := uplink.NewSpec("up", url)
		for _, m := range modify {
			m(&spec, c)
		}
		c.Uplinks = []uplink.Spec{spec}
	})
}

// tarballLinks returns each version's dist.tarball in a packument.
func tarballLinks(t *testing.T, body []byte) map[string]string {
	t.Helper()
	var doc struct {
		Versions map[string]struct {
			Dist struct {
				Tarball string `json:"tarball"`
			} `json:"dist"`
		} `json:"versions"`
	}
	testkit.DecodeJSON(t, body, &doc)
	out := map[string]string{}
	for v, m := range doc.Versions {
		out[v] = m.Dist.Tarball
	}
	return out
}

// TestUplinkReadThrough proxies a package and a scoped package from
// another gatehouse: packuments full and abbreviated as asked, with the
// tarball links rewritten and the integrity kept, tarballs byte for byte,
// scoped names in both spellings; and once cached, none of it asks the
// upstream again.
func TestUplinkReadThrough(t *testing.T) {
	up := startUpstream(t)
	up.publish("left-pad", "1.0.0")
	up.publish("left-pad", "1.1.0")
	up.publish("@types/node", "20.1.0")
	proxy := proxyTo(t, up.url)

	for _, name := range []string{"left-pad", "@types/node"} {
		for _, spelling := range []string{escape(name), name} {
			res := proxy.do("GET", "/"+spelling, "", nil, "Accept", abbreviatedAccept)
			if res.status != 200 || res.header.Get("Content-Type") != "application/vnd.npm.install-v1+json" {
				t.Fatalf("GET /%s abbreviated through the proxy: %d %s", spelling, res.status, res.body)
			}
			direct := up.do("GET", "/"+escape(name), "", nil, "Accept", abbreviatedAccept)
			for v, link := range tarballLinks(t, res.body) {
				want := proxy.url + "/" + name + "/-/" + tarballFile(name, v)
				if link != want {
					t.Errorf("%s@%s links %s, want %s", name, v, link, want)
				}
			}
			if got, want := integrities(t, res.body), integrities(t, direct.body); fmt.Sprint(got) != fmt.Sprint(want) || len(got) == 0 {
				t.Errorf("%s: integrity %v through the proxy, %v upstream", name, got, want)
			}
			full := proxy.do("GET", "/"+spelling, "", nil, "Accept", "application/json")
			if full.status != 200 || !bytes.Contains(full.body, []byte(`"readme"`)) || !bytes.Contains(full.body, []byte(`"time"`)) {
				t.Fatalf("GET /%s full: %d %.200s", spelling, full.status, full.body)
			}
			for v, link := range tarballLinks(t, full.body) {
				tgz := testkit.Do(t, "GET", link, "", nil)
				upstreamTgz := up.do("GET", "/"+name+"/-/"+tarballFile(name, v), "", nil)
				if tgz.Status != 200 || !bytes.Equal(tgz.Body, upstreamTgz.body) {
					t.Fatalf("tarball %s: %d, %d bytes; upstream %d bytes", link, tgz.Status, len(tgz.Body), len(upstreamTgz.body))
				}
			}
		}
	}
	// The scoped tarball in its other spelling, and a version and a tag.
	if res := proxy.do("GET", "/@types%2fnode/-/node-20.1.0.tgz", "", nil); res.status != 200 {
		t.Errorf("scoped tarball, escaped: %d", res.status)
	}
	if res := proxy.do("GET", "/left-pad/latest", "", nil); res.status != 200 || res.json(t)["version"] != "1.1.0" {
		t.Errorf("GET /left-pad/latest: %d %s", res.status, res.body)
	}
	if res := proxy.do("GET", "/-/package/left-pad/dist-tags", "", nil); res.status != 200 || res.json(t)["latest"] != "1.1.0" {
		t.Errorf("dist-tags: %d %s", res.status, res.body)
	}

	before := len(up.log.all())
	for range 3 {
		for _, path := range []string{"/left-pad", "/@types%2fnode", "/left-pad/-/left-pad-1.0.0.tgz", "/@types/node/-/node-20.1.0.tgz"} {
			if res := proxy.do("GET", path, "", nil, "Accept", abbreviatedAccept); res.status != 200 {
				t.Fatalf("GET %s from the cache: %d", path, res.status)
			}
		}
	}
	if after := len(up.log.all()); after != before {
		t.Errorf("reads of cached packages asked the upstream %d more times", after-before)
	}
	// A conditional request gets a 304 from the proxy's own ETag.
	res := proxy.do("GET", "/left-pad", "", nil, "Accept", abbreviatedAccept)
	if again := proxy.do("GET", "/left-pad", "", nil, "Accept", abbreviatedAccept, "If-None-Match", res.header.Get("ETag")); again.status != 304 {
		t.Errorf("If-None-Match with the proxy's ETag: %d", again.status)
	}
	// A name neither here nor upstream is a 404, asked upstream once.
	for range 3 {
		if res := proxy.do("GET", "/no-such-package", "", nil); res.status != 404 {
			t.Fatalf("a name nobody has: %d", res.status)
		}
	}
	if n := up.log.count("/no-such-package"); n != 1 {
		t.Errorf("the upstream's 404 was asked for %d times, want once (remembered for not_found_ttl)", n)
	}
}

func tarballFile(name, version string) string {
	return name[strings.LastIndexByte(name, '/')+1:] + "-" + version + ".tgz"
}

func integrities(t *testing.T, body []byte) map[string]string {
	t.Helper()
	var doc struct {
		Versions map[string]struct {
			Dist struct {
				Integrity string `json:"integrity"`
			} `json:"dist"`
		} `json:"versions"`
	}
	testkit.DecodeJSON(t, body, &doc)
	out := map[string]string{}
	for v, m := range doc.Versions {
		out[v] = m.Dist.Integrity
	}
	return out
}

// latestOf is the latest dist-tag of name's abbreviated packument through tr.
func latestOf(t *testing.T, tr *testRegistry, name string) (string, http.Header) {
	t.Helper()
	res := tr.do("GET", "/"+escape(name), "", nil, "Accept", abbreviatedAccept)
	if res.status != 200 {
		t.Fatalf("GET /%s: %d %s", name, res.status, res.body)
	}
	latest, _ := res.json(t)["dist-tags"].(map[string]any)["latest"].(string)
	return latest, res.header
}

// TestUplinkRevalidation serves a cached packument until its max age, then
// revalidates it in the background: the upstream answers 304 (it is in its
// log) while nothing changed, and a new version appears once published.
func TestUplinkRevalidation(t *testing.T) {
	up := startUpstream(t)
	up.publish("left-pad", "1.0.0")
	proxy := proxyTo(t, up.url, func(s *uplink.Spec, _ *config.Config) { s.MaxAge = 300 * time.Millisecond })

	if v, _ := latestOf(t, proxy, "left-pad"); v != "1.0.0" {
		t.Fatalf("latest %s", v)
	}
	time.Sleep(400 * time.Millisecond)
	if v, _ := latestOf(t, proxy, "left-pad"); v != "1.0.0" { // stale: served at once, revalidated meanwhile
		t.Fatalf("latest %s", v)
	}
	waitFor(t, 5*time.Second, "a conditional request answered 304", func() bool {
		for _, e := range up.log.all() {
			if e.path == "/left-pad" && e.ifNoneMatch != "" && e.status == 304 {
				return true
			}
		}
		return false
	})

	up.publish("left-pad", "1.1.0")
	waitFor(t, 5*time.Second, "the new version through the proxy", func() bool {
		v, _ := latestOf(t, proxy, "left-pad")
		return v == "1.1.0"
	})
	if res := proxy.do("GET", "/left-pad/-/left-pad-1.1.0.tgz", "", nil); res.status != 200 {
		t.Errorf("the new version's tarball: %d", res.status)
	}
}

func waitFor(t *testing.T, within time.Duration, what string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestUplinkShield: a local name, a name once published here and since
// unpublished, and any name of a local user's or organization's scope are
// never fetched from the uplink, even where it has a higher version; and
// local versions never mix with the uplink's.
func TestUplinkShield(t *testing.T) {
	up := startUpstream(t)
	proxy := proxyTo(t, up.url)
	alice := proxy.user("alice")
	if _, err := proxy.srv.Orgs.Create(t.Context(), audit.Operator(), "acme", "alice"); err != nil {
		t.Fatal(err)
	}
	// Local packages first: a new unscoped name is checked upstream once,
	// when it is created, and the uplink has none of them yet.
	for _, name := range []string{"internal-tool", "gone-tool", "@acme/x"} {
		body := publishBody(t, name, "1.0.0")
		if res := proxy.do("PUT", "/"+escape(name), alice, body); res.status != 201 {
			t.Fatalf("publish %s locally: %d %s", name, res.status, res.body)
		}
	}
	if res := proxy.do("DELETE", "/gone-tool/-rev/1", alice, nil); res.status != 200 {
		t.Fatalf("unpublish gone-tool: %d %s", res.status, res.body)
	}

	// Then the same names appear upstream, with higher versions, as an
	// attacker would publish them; and scopes acme and alice are users
	// there.
	up.publish("internal-tool", "9.0.0")
	up.publish("gone-tool", "9.0.0")
	up.publish("@types/node", "9.0.0")
	for name, tok := range map[string]string{"@acme/x": up.user("acme"), "@alice/secret": up.user("alice"), "@bob/tool": up.user("bob")} {
		body := publishBody(t, name, "9.0.0", func(m map[string]any, _ *[]byte) { m["access"] = "public" })
		if res := up.do("PUT", "/"+escape(name), tok, body); res.status != 201 {
			t.Fatalf("publish %s upstream: %d %s", name, res.status, res.body)
		}
	}
	mark := len(up.log.all())

	for _, name := range []string{"internal-tool", "@acme/x"} {
		res := proxy.do("GET", "/"+escape(name), alice, nil)
		if res.status != 200 {
			t.Fatalf("local %s: %d", name, res.status)
		}
		versions := res.json(t)["versions"].(map[string]any)
		if _, ok := versions["9.0.0"]; ok || len(versions) != 1 {
			t.Errorf("%s: versions %v, want the local 1.0.0 alone", name, versions)
		}
		if res := proxy.do("GET", "/"+escape(name)+"/-/"+tarballFile(name, "9.0.0"), alice, nil); res.status != 404 {
			t.Errorf("%s: the upstream's version's tarball: %d", name, res.status)
		}
	}
	for _, name := range []string{"gone-tool", "@alice/secret", "@acme/other"} {
		if res := proxy.do("GET", "/"+escape(name), alice, nil); res.status != 404 {
			t.Errorf("%s: %d, want 404 (a local name)", name, res.status)
		}
		if res := proxy.do("GET", "/"+escape(name)+"/-/"+tarballFile(name, "9.0.0"), alice, nil); res.status != 404 {
			t.Errorf("%s tarball: %d, want 404 (a local name)", name, res.status)
		}
	}
	for _, e := range up.log.all()[mark:] {
		t.Errorf("the upstream was asked %s %s", e.method, e.path)
	}
	// A name of no local scope comes from the uplink.
	if res := proxy.do("GET", "/@types%2fnode", alice, nil); res.status != 200 {
		t.Errorf("@types/node: %d", res.status)
	}

	// A scope that becomes local later stops coming from the uplink: a
	// cached package of it is forgotten when its copy is next loaded.
	if res := proxy.do("GET", "/@types%2fnode/-/node-9.0.0.tgz", alice, nil); res.status != 200 {
		t.Fatalf("@types/node's tarball: %d", res.status)
	}
	fresh := openRegistry(t, configOf(proxy), quietLogger()) // another node, which has it in memory too
	if res := fresh.do("GET", "/@types%2fnode/-/node-9.0.0.tgz", alice, nil); res.status != 200 {
		t.Fatalf("@types/node's tarball on another node: %d", res.status)
	}
	if _, err := proxy.srv.Orgs.Create(t.Context(), audit.Operator(), "types", "alice"); err != nil {
		t.Fatal(err)
	}
	// This node, and the other through the change feed, drop what they
	// kept of the scope at once.
	waitFor(t, 5*time.Second, "@types/node gone on the other node", func() bool {
		return fresh.do("GET", "/@types%2fnode/-/node-9.0.0.tgz", alice, nil).status == 404
	})
	for _, node := range []*testRegistry{proxy, fresh} {
		for _, path := range []string{"/@types%2fnode/-/node-9.0.0.tgz", "/@types%2fnode"} {
			if res := node.do("GET", path, alice, nil); res.status != 404 {
				t.Errorf("%s after @types became a local organization: %d", path, res.status)
			}
		}
	}
	// A new user's name is a scope too.
	if res := proxy.do("GET", "/@bob%2ftool", "", nil); res.status != 200 {
		t.Fatalf("@bob/tool from the uplink: %d", res.status)
	}
	proxy.user("bob")
	waitFor(t, 5*time.Second, "@bob/tool gone once bob is a local user", func() bool {
		return proxy.do("GET", "/@bob%2ftool", "", nil).status == 404
	})
}

// configOf is the configuration tr was opened with, as far as the tests
// change it: its data folder and uplinks.
func configOf(tr *testRegistry) config.Config {
	cfg := tr.srv.cfg
	return cfg
}

// TestUplinkPublishShadowing: a new unscoped name the uplink has is
// refused by default, naming the attack; one it does not have is
// published; while the uplink cannot be asked, new unscoped names are
// refused; with publish_uplink_names = allow the local package takes the
// name and the proxied copy is gone.
func TestUplinkPublishShadowing(t *testing.T) {
	up := startUpstream(t)
	up.publish("express", "4.18.2")
	proxy := proxyTo(t, up.url)
	alice := proxy.user("alice")

	res := proxy.do("PUT", "/express", alice, publishBody(t, "express", "5.0.0"))
	if res.status != 403 || !strings.Contains(res.errorText(t), "express exists on uplink up") ||
		!strings.Contains(res.errorText(t), "dependency confusion") {
		t.Fatalf("publishing express: %d %s", res.status, res.body)
	}
	if res := proxy.do("PUT", "/my-new-lib", alice, publishBody(t, "my-new-lib", "1.0.0")); res.status != 201 {
		t.Fatalf("publishing a name the uplink lacks: %d %s", res.status, res.body)
	}
	if res := proxy.do("PUT", "/@alice%2fexpress", alice, publishBody(t, "@alice/express", "1.0.0")); res.status != 201 {
		t.Fatalf("publishing in one's own scope: %d %s", res.status, res.body)
	}
	if res := proxy.do("PUT", "/my-new-lib", alice, publishBody(t, "my-new-lib", "1.0.1")); res.status != 201 {
		t.Fatalf("a new version of a local package: %d %s", res.status, res.body)
	}
	// Writes to the proxied express are refused, naming the uplink.
	writes := []struct {
		method, path string
		body         any
	}{
		{"PUT", "/-/package/express/dist-tags/beta", `"4.18.2"`},
		{"DELETE", "/-/package/express/dist-tags/latest", nil},
		{"PUT", "/express", map[string]any{"name": "express", "versions": map[string]any{"4.18.2": map[string]any{"deprecated": "no"}}}},
		{"PUT", "/express/-rev/1", map[string]any{"name": "express", "versions": map[string]any{}, "maintainers": []any{}}},
		{"DELETE", "/express/-rev/1", nil},
		{"POST", "/-/package/express/access", map[string]any{"access": "public"}},
	}
	for _, w := range writes {
		res := proxy.do(w.method, w.path, alice, w.body)
		if res.status != 403 || !strings.Contains(res.errorText(t), "express is served from uplink up, read-only") {
			t.Errorf("%s %s: %d %s", w.method, w.path, res.status, res.body)
		}
	}

	up.Close()
	res = proxy.do("PUT", "/another-lib", alice, publishBody(t, "another-lib", "1.0.0"))
	if res.status != 502 || !strings.Contains(res.errorText(t), "uplink up") {
		t.Fatalf("publishing a new name while the uplink is down: %d %s", res.status, res.body)
	}

	allowing := newTestRegistry(t, func(c *config.Config) {
		c.DataDir = proxy.dir
		c.Uplinks = []uplink.Spec{uplink.NewSpec("up", up.url)}
		c.PublishUplinkNames = "allow"
	})
	if res := allowing.do("PUT", "/express", alice, publishBody(t, "express", "5.0.0")); res.status != 201 {
		t.Fatalf("publishing express with publish_uplink_names = allow: %d %s", res.status, res.body)
	}
	res = allowing.do("GET", "/express", alice, nil)
	if versions := res.json(t)["versions"].(map[string]any); len(versions) != 1 || versions["5.0.0"] == nil {
		t.Errorf("express after the local publish: %v", versions)
	}
	if res := allowing.do("GET", "/express/-/express-4.18.2.tgz", alice, nil); res.status != 404 {
		t.Errorf("the uplink's express tarball after the local publish: %d", res.status)
	}
}

// TestUplinkGrants: proxied packages are read like public ones, within a
// granular token's package grants.
func TestUplinkGrants(t *testing.T) {
	up := startUpstream(t)
	up.publish("express", "4.18.2")
	proxy := proxyTo(t, up.url)
	alice := proxy.user("alice")
	if _, err := proxy.srv.Orgs.Create(t.Context(), audit.Operator(), "acme", "alice"); err != nil {
		t.Fatal(err)
	}
	acmeOnly := proxy.mustToken(alice, map[string]any{"password": "password-alice", "name": "acme", "scopes": []string{"@acme"}})
	all := proxy.mustToken(alice, map[string]any{"password": "password-alice", "name": "all", "packages_all": true})
	named := proxy.mustToken(alice, map[string]any{"password": "password-alice", "name": "named", "packages": []string{"express"}})
	tests := []struct {
		who, token string
		want       int
	}{
		{"anonymous", "", 200},
		{"a session", alice, 200},
		{"packages_all", all, 200},
		{"a grant naming express", named, 200},
		{"a token limited to @acme/*", acmeOnly, 404},
	}
	for _, tt := range tests {
		for _, path := range []string{"/express", "/express/-/express-4.18.2.tgz", "/express/4.18.2"} {
			if res := proxy.do("GET", path, tt.token, nil); res.status != tt.want {
				t.Errorf("%s GET %s: %d, want %d", tt.who, path, res.status, tt.want)
			}
		}
	}
}

// TestUplinkOffline: an offline uplink is never contacted; what was cached
// keeps being served (with a warning once past its max age), and what was
// not is not found.
func TestUplinkOffline(t *testing.T) {
	up := startUpstream(t)
	up.publish("left-pad", "1.0.0")
	up.publish("right-pad", "1.0.0")
	online := proxyTo(t, up.url)
	if res := online.do("GET", "/left-pad/-/left-pad-1.0.0.tgz", "", nil); res.status != 200 {
		t.Fatalf("first fetch: %d", res.status)
	}
	dir := online.dir
	asked := len(up.log.all())

	offline := newTestRegistry(t, func(c *config.Config) {
		c.DataDir = dir
		spec := uplink.NewSpec("up", up.url)
		spec.MaxAge = 0
		c.Uplinks = []uplink.Spec{spec}
		c.Offline = true
	})
	res := offline.do("GET", "/left-pad", "", nil, "Accept", abbreviatedAccept)
	if res.status != 200 || !strings.HasPrefix(res.header.Get("Warning"), `112 gatehouse "Disconnected operation: uplink up is offline`) {
		t.Errorf("cached packument offline: %d, Warning %q", res.status, res.header.Get("Warning"))
	}
	if res := offline.do("GET", "/left-pad/-/left-pad-1.0.0.tgz", "", nil); res.status != 200 {
		t.Errorf("cached tarball offline: %d", res.status)
	}
	res = offline.do("GET", "/right-pad", "", nil)
	if res.status != 404 || !strings.Contains(res.errorText(t), "offline") {
		t.Errorf("a package never cached, offline: %d %s", res.status, res.body)
	}
	time.Sleep(100 * time.Millisecond) // a revalidation, were one started
	if n := len(up.log.all()) - asked; n != 0 {
		t.Errorf("the offline uplink got %d requests", n)
	}
}

// TestUplinkUnreachable: an uplink that stops answering leaves what was
// cached served, with a warning and a log line; what was not cached is a
// 502 naming the uplink.
func TestUplinkUnreachable(t *testing.T) {
	up := startUpstream(t)
	up.publish("left-pad", "1.0.0")
	var logs testkit.SyncBuffer
	proxy := openRegistry(t, func() config.Config {
		cfg := config.Default()
		cfg.DataDir = t.TempDir()
		spec := uplink.NewSpec("up", up.url)
		spec.MaxAge = 0
		cfg.Uplinks = []uplink.Spec{spec}
		return cfg
	}(), NewLogger(&logs, "info", false))
	if res := proxy.do("GET", "/left-pad/-/left-pad-1.0.0.tgz", "", nil); res.status != 200 {
		t.Fatalf("first fetch: %d", res.status)
	}
	up.Close()
	waitFor(t, 5*time.Second, "a warning after a failed revalidation", func() bool {
		res := proxy.do("GET", "/left-pad", "", nil, "Accept", abbreviatedAccept)
		if res.status != 200 {
			t.Fatalf("cached packument with the uplink down: %d %s", res.status, res.body)
		}
		return strings.HasPrefix(res.header.Get("Warning"), `111 gatehouse "Revalidation failed: uplink up could not be reached`)
	})
	if !strings.Contains(logs.String(), "uplink failed: serving the cached copy") {
		t.Errorf("no log line says the cached copy is served:\n%s", logs.String())
	}
	if res := proxy.do("GET", "/left-pad/-/left-pad-1.0.0.tgz", "", nil); res.status != 200 {
		t.Errorf("cached tarball with the uplink down: %d", res.status)
	}
	res := proxy.do("GET", "/right-pad", "", nil)
	if res.status != 502 || !strings.Contains(res.errorText(t), "uplink up could not be reached for the packument of right-pad") {
		t.Errorf("a package never cached, uplink down: %d %s", res.status, res.body)
	}
}

// TestUplinkOneFetchPerNode: 50 concurrent requests for a cold tarball
// make one upstream request, and so do 50 for a cold packument; two nodes
// sharing a database and blob store make at most one each.
func TestUplinkOneFetchPerNode(t *testing.T) {
	up := startUpstream(t)
	up.publish("left-pad", "1.0.0")
	up.publish("right-pad", "1.0.0")
	want := up.do("GET", "/left-pad/-/left-pad-1.0.0.tgz", "", nil).body
	a := proxyTo(t, up.url)
	b := openRegistry(t, configOf(a), quietLogger())
	if res := a.do("GET", "/left-pad", "", nil, "Accept", abbreviatedAccept); res.status != 200 { // the packument first, as npm does
		t.Fatal(res.status)
	}
	before := up.log.count("/left-pad/-/")
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			node := a
			if i%2 == 1 {
				node = b
			}
			res, err := http.Get(node.url + "/left-pad/-/left-pad-1.0.0.tgz")
			if err != nil {
				errs <- err.Error()
				return
			}
			defer res.Body.Close()
			var got bytes.Buffer
			if _, err := got.ReadFrom(res.Body); err != nil || res.StatusCode != 200 || !bytes.Equal(got.Bytes(), want) {
				errs <- fmt.Sprintf("%d, %d bytes, %v", res.StatusCode, got.Len(), err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := up.log.count("/left-pad/-/") - before; n < 1 || n > 2 {
		t.Errorf("50 requests on two nodes made %d upstream tarball requests, want one or two (at most one per node)", n)
	}

	// One node alone: exactly one, for the packument and for the tarball.
	var wg2 sync.WaitGroup
	for range 50 {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			res, err := http.Get(a.url + "/right-pad/-/right-pad-1.0.0.tgz")
			if err == nil {
				res.Body.Close()
			}
		}()
	}
	wg2.Wait()
	if n := up.log.count("/right-pad/-/"); n != 1 {
		t.Errorf("50 requests on one node made %d upstream tarball requests, want 1", n)
	}
	if n := up.log.count("/right-pad"); n != 2 { // its packument, then its tarball
		t.Errorf("the upstream got %d requests about right-pad, want 2 (%v)", n, up.log.all())
	}
}

// TestUplinkAcrossNodes: a packument one node fetches anew reaches another
// node's memory through the change feed.
func TestUplinkAcrossNodes(t *testing.T) {
	up := startUpstream(t)
	up.publish("left-pad", "1.0.0")
	a := proxyTo(t, up.url, func(s *uplink.Spec, _ *config.Config) { s.MaxAge = time.Hour })
	if v, _ := latestOf(t, a, "left-pad"); v != "1.0.0" {
		t.Fatal(v)
	}
	bcfg := configOf(a)
	bcfg.Uplinks[0].MaxAge = 0
	b := openRegistry(t, bcfg, quietLogger())
	if v, _ := latestOf(t, b, "left-pad"); v != "1.0.0" {
		t.Fatal(v)
	}
	up.publish("left-pad", "2.0.0")
	// b revalidates at once (max age 0) and stores the new document; a,
	// whose copy is fresh for an hour, hears of it through the feed.
	waitFor(t, 5*time.Second, "the new version on node b", func() bool { v, _ := latestOf(t, b, "left-pad"); return v == "2.0.0" })
	waitFor(t, 5*time.Second, "the new version on node a", func() bool { v, _ := latestOf(t, a, "left-pad"); return v == "2.0.0" })
}

// TestUplinkRawJSON is the body of a packument served through the proxy as
// the npm CLI reads it: valid JSON whose versions keep upstream's fields.
func TestUplinkRawJSON(t *testing.T) {
	up := startUpstream(t)
	up.publish("left-pad", "1.0.0")
	proxy := proxyTo(t, up.url)
	res := proxy.do("GET", "/left-pad", "", nil, "Accept", abbreviatedAccept)
	var doc map[string]json.RawMessage
	testkit.DecodeJSON(t, res.body, &doc)
	for _, k := range []string{"name", "modified", "dist-tags", "versions"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("the abbreviated packument lacks %s: %s", k, res.body)
		}
	}
}

// TestUplinkNodesOnPostgres: two nodes sharing a PostgreSQL database and a
// blob store: a cold tarball asked of both at once is fetched at most once
// per node, and a packument one node fetches anew reaches the other's
// memory through LISTEN/NOTIFY.
func TestUplinkNodesOnPostgres(t *testing.T) {
	dbURL, _ := pgtest.NewDatabase(t, pgtest.AdminURL(t, "uplinks on PostgreSQL"), "gatehouse_uplinks") // dropped at the end
	up := startUpstream(t)
	up.publish("left-pad", "1.0.0")
	want := up.do("GET", "/left-pad/-/left-pad-1.0.0.tgz", "", nil).body
	a := proxyTo(t, up.url, func(s *uplink.Spec, c *config.Config) { c.Database = dbURL; s.MaxAge = time.Hour })
	bcfg := configOf(a)
	bcfg.Uplinks = []uplink.Spec{uplink.NewSpec("up", up.url)}
	bcfg.Uplinks[0].MaxAge = 0
	b := openRegistry(t, bcfg, quietLogger())

	before := up.log.count("/left-pad/-/") // the test's own request above
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			node := []*testRegistry{a, b}[i%2]
			res := testkit.Do(t, "GET", node.url+"/left-pad/-/left-pad-1.0.0.tgz", "", nil)
			if res.Status != 200 || !bytes.Equal(res.Body, want) {
				t.Errorf("node %d: %d, %d bytes", i%2, res.Status, len(res.Body))
			}
		}()
	}
	wg.Wait()
	if n := up.log.count("/left-pad/-/") - before; n < 1 || n > 2 {
		t.Errorf("two nodes made %d upstream tarball requests, want one or two", n)
	}
	if v, _ := latestOf(t, a, "left-pad"); v != "1.0.0" {
		t.Fatal(v)
	}
	up.publish("left-pad", "2.0.0")
	waitFor(t, 5*time.Second, "the new version on node b", func() bool { v, _ := latestOf(t, b, "left-pad"); return v == "2.0.0" })
	waitFor(t, 5*time.Second, "the new version on node a", func() bool { v, _ := latestOf(t, a, "left-pad"); return v == "2.0.0" })
}
