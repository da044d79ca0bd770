package server

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

// TestPackumentCacheAcrossProcesses opens two servers on one data folder, as
// two processes would: a change through one reaches the other's in-memory
// packuments within the poll interval, and its own at once. A new package
// is a change too: the other process's filter of known names hears of it
// from the feed (docs/cluster.md, "What is promised").
func TestPackumentCacheAcrossProcesses(t *testing.T) {
	a := newTestRegistry(t)
	cfg := config.Default()
	cfg.DataDir = a.dir
	b := openRegistry(t, cfg, quietLogger())

	alice := a.user("alice")
	if res := a.do("PUT", "/demo", alice, publishBody(t, "demo", "1.0.0")); res.status != 201 {
		t.Fatal(res.status)
	}
	latest := func(tr *testRegistry) any {
		res := tr.do("GET", "/demo", "", nil, "Accept", "application/vnd.npm.install-v1+json")
		if res.status == 404 {
			return nil // not heard of yet
		}
		tags, _ := res.json(t)["dist-tags"].(map[string]any)
		return tags["latest"]
	}
	if got := latest(a); got != "1.0.0" {
		t.Fatalf("the publishing process serves latest %v", got)
	}
	waitLatest := func(want string) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for latest(b) != want {
			if time.Now().After(deadline) {
				t.Fatalf("the other process never noticed the publish of %s", want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitLatest("1.0.0")
	if res := a.do("PUT", "/demo", alice, publishBody(t, "demo", "1.1.0")); res.status != 201 {
		t.Fatal(res.status)
	}
	if got := latest(a); got != "1.1.0" {
		t.Fatalf("the publishing process still serves latest %v", got)
	}
	waitLatest("1.1.0")
}

// TestReadCachesFollowChanges reads through the in-memory caches (names that
// do not exist, package rows, versions' blobs, tarball bytes) and checks
// that every change is seen by the very next read: a publish of a name that
// was 404, an unpublished version's tarball, a package made private.
func TestReadCachesFollowChanges(t *testing.T) {
	tr := newTestRegistry(t)
	alice := tr.user("alice")
	bob := tr.user("bob")
	abbr := []string{"Accept", "application/vnd.npm.install-v1+json"}

	// A name that does not exist is remembered as such only until it is published.
	for range 3 {
		if res := tr.do("GET", "/later", alice, nil, abbr...); res.status != 404 {
			t.Fatalf("unknown package: %d", res.status)
		}
		if res := tr.do("GET", "/later/-/later-1.0.0.tgz", alice, nil); res.status != 404 {
			t.Fatalf("unknown package's tarball: %d", res.status)
		}
	}
	body := publishBody(t, "later", "1.0.0")
	if res := tr.do("PUT", "/later", alice, body); res.status != 201 {
		t.Fatalf("publish: %d %s", res.status, res.body)
	}
	if res := tr.do("GET", "/later", alice, nil, abbr...); res.status != 200 {
		t.Fatalf("packument right after the publish: %d", res.status)
	}
	res := tr.do("GET", "/later/-/later-1.0.0.tgz", bob, nil)
	if res.status != 200 {
		t.Fatalf("tarball right after the publish: %d", res.status)
	}
	sent := body["_attachments"].(map[string]any)["later-1.0.0.tgz"].(map[string]any)["data"].(string)
	if base64.StdEncoding.EncodeToString(res.body) != sent {
		t.Fatal("the tarball served is not the one published")
	}
	etag := res.header.Get("ETag")
	if !strings.HasPrefix(etag, `"sha512`) {
		t.Fatalf("tarball ETag %q is not its content address", etag)
	}
	if res := tr.do("GET", "/later/-/later-1.0.0.tgz", bob, nil, "If-None-Match", etag); res.status != 304 {
		t.Fatalf("tarball with a matching If-None-Match: %d", res.status)
	}
	if res := tr.do("GET", "/later/-/later-1.0.0.tgz", bob, nil, "Range", "bytes=0-9"); res.status != 206 || len(res.body) != 10 {
		t.Fatalf("tarball range: %d, %d bytes", res.status, len(res.body))
	}
	if res := tr.do("GET", "/later/-/later-9.9.9.tgz", bob, nil); res.status != 404 {
		t.Fatalf("a version never published: %d", res.status)
	}

	// Two versions; unpublishing one makes its tarball 404 at once, the other stays.
	if res := tr.do("PUT", "/later", alice, publishBody(t, "later", "1.1.0")); res.status != 201 {
		t.Fatalf("publish 1.1.0: %d %s", res.status, res.body)
	}
	if res := tr.do("GET", "/later/-/later-1.1.0.tgz", bob, nil); res.status != 200 {
		t.Fatalf("tarball 1.1.0: %d", res.status)
	}
	doc := tr.do("GET", "/later?write=true", alice, nil).json(t)
	delete(doc["versions"].(map[string]any), "1.1.0")
	delete(doc["time"].(map[string]any), "1.1.0")
	doc["dist-tags"] = map[string]any{"latest": "1.0.0"}
	if res := tr.do("PUT", "/later/-rev/"+doc["_rev"].(string), alice, doc); res.status != 200 && res.status != 201 {
		t.Fatalf("unpublish 1.1.0: %d %s", res.status, res.body)
	}
	if res := tr.do("GET", "/later/-/later-1.1.0.tgz", bob, nil); res.status != 404 {
		t.Fatalf("unpublished version's tarball: %d", res.status)
	}
	if res := tr.do("GET", "/later/-/later-1.0.0.tgz", bob, nil); res.status != 200 {
		t.Fatalf("the remaining version's tarball: %d", res.status)
	}

	// A scoped package made private disappears for others at once, packument and tarball.
	if res := tr.do("PUT", "/@alice%2fsecret", alice, publishBody(t, "@alice/secret", "1.0.0", func(m map[string]any, _ *[]byte) {
		m["access"] = "public"
	})); res.status != 201 {
		t.Fatalf("publish @alice/secret: %d %s", res.status, res.body)
	}
	for _, path := range []string{"/@alice%2fsecret", "/@alice%2fsecret/-/secret-1.0.0.tgz"} {
		if res := tr.do("GET", path, bob, nil, abbr...); res.status != 200 {
			t.Fatalf("public %s for bob: %d", path, res.status)
		}
	}
	if res := tr.do("POST", "/-/package/@alice%2fsecret/access", alice, map[string]string{"access": "restricted"}); res.status != 200 {
		t.Fatalf("make private: %d %s", res.status, res.body)
	}
	for _, path := range []string{"/@alice%2fsecret", "/@alice%2fsecret/-/secret-1.0.0.tgz"} {
		if res := tr.do("GET", path, bob, nil, abbr...); res.status != 404 {
			t.Fatalf("private %s for bob: %d", path, res.status)
		}
		if res := tr.do("GET", path, alice, nil, abbr...); res.status != 200 {
			t.Fatalf("private %s for its owner: %d", path, res.status)
		}
	}
}

// serveOnHost sends method path to h in process, as a client on loopback
// naming host in its Host header, with header's name and value pairs (a
// pair whose value is empty is left out).
func serveOnHost(h http.Handler, method, path, host string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	req.Host, req.RemoteAddr = host, "127.0.0.1:40000"
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] != "" {
			req.Header.Set(header[i], header[i+1])
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// TestCachedDocumentsPerBaseURL: without --url the base URL comes from each
// request, and the cached document of one base is never served under another.
func TestCachedDocumentsPerBaseURL(t *testing.T) {
	tr := newTestRegistry(t)
	alice := tr.user("alice")
	if res := tr.do("PUT", "/demo", alice, publishBody(t, "demo", "1.0.0")); res.status != 201 {
		t.Fatal(res.status)
	}
	h := tr.srv.Handler()
	get := func(host string) (string, string) {
		w := serveOnHost(h, "GET", "/demo", host, "Accept", "application/vnd.npm.install-v1+json")
		if w.Code != 200 {
			t.Fatalf("GET /demo on %s: %d %s", host, w.Code, w.Body)
		}
		return w.Body.String(), w.Header().Get("ETag")
	}
	for round := 0; round < 2; round++ { // the second round reads from the cache
		bodyA, etagA := get("a.example:4873")
		bodyB, etagB := get("b.example:4873")
		if !strings.Contains(bodyA, "http://a.example:4873/demo/-/demo-1.0.0.tgz") || strings.Contains(bodyA, "b.example") {
			t.Fatalf("round %d: document under a.example: %s", round, bodyA)
		}
		if !strings.Contains(bodyB, "http://b.example:4873/demo/-/demo-1.0.0.tgz") || strings.Contains(bodyB, "a.example") {
			t.Fatalf("round %d: document under b.example: %s", round, bodyB)
		}
		if etagA == "" || etagA == etagB {
			t.Fatalf("round %d: ETags %q and %q: the two documents differ, so must their ETags", round, etagA, etagB)
		}
	}
}

// TestManyHostsDoNotFillTheCache: without --url, packuments are cached for
// the first few base URLs requests make (maxCachedBases in npmapi); a
// client that sends a new Host header with every request gets documents
// with its own links, the same bytes and ETag as a cached base would get,
// while the cache gains one entry (the document without a base) and the
// store is read once, not once a host.
func TestManyHostsDoNotFillTheCache(t *testing.T) {
	tr := newTestRegistry(t)
	alice := tr.user("alice")
	if res := tr.do("PUT", "/demo", alice, publishBody(t, "demo", "1.0.0")); res.status != 201 {
		t.Fatal(res.status)
	}
	misses := cacheRequests(t, tr, "packument", "miss")
	h := tr.srv.Handler()
	get := func(host, ifNoneMatch string) *httptest.ResponseRecorder {
		return serveOnHost(h, "GET", "/demo", host, "Accept", "application/vnd.npm.install-v1+json",
			"Accept-Encoding", "gzip", "If-None-Match", ifNoneMatch)
	}
	// The first four hosts are cached: a second round reads no store.
	for round := range 2 {
		for i := range 4 {
			if w := get(fmt.Sprintf("cached%d.example", i), ""); w.Code != 200 {
				t.Fatalf("round %d, host %d: %d %s", round, i, w.Code, w.Body)
			}
		}
	}
	entries, _, _ := tr.srv.Registry.CacheUse()
	before := misses()
	served := map[string]*httptest.ResponseRecorder{}
	for i := range 200 {
		host := fmt.Sprintf("h%d.example:%d", i, 1000+i)
		w := get(host, "")
		if w.Code != 200 || w.Header().Get("Content-Encoding") != "" || w.Header().Get("Content-Length") != strconv.Itoa(w.Body.Len()) ||
			!strings.Contains(w.Body.String(), `"http://`+host+`/demo/-/demo-1.0.0.tgz"`) {
			t.Fatalf("host %s: %d, Content-Encoding %q, Content-Length %q, body %s", host, w.Code,
				w.Header().Get("Content-Encoding"), w.Header().Get("Content-Length"), w.Body)
		}
		if c := get(host, w.Header().Get("ETag")); c.Code != 304 {
			t.Fatalf("host %s, If-None-Match its ETag: %d", host, c.Code)
		}
		served[host] = w
	}
	// 400 requests for 200 hosts: one store read and one cache entry, the
	// document without a base.
	if grown, _, _ := tr.srv.Registry.CacheUse(); grown-entries > 1 {
		t.Fatalf("the cache grew by %d entries for 200 hosts", grown-entries)
	}
	if got := misses() - before; got > 1 {
		t.Fatalf("%v cache misses for 400 requests", got)
	}
	// Refusals on a host past the bound are what they are elsewhere: a
	// missing package and a restricted one a 404 with npm's body, a HEAD
	// the GET's headers without a body.
	if res := tr.do("PUT", "/@alice%2fsecret", alice, publishBody(t, "@alice/secret", "1.0.0",
		func(m map[string]any, _ *[]byte) { m["access"] = "restricted" })); res.status != 201 {
		t.Fatalf("publish a restricted package: %d %s", res.status, res.body)
	}
	for _, path := range []string{"/nothing-here", "/@alice%2fsecret"} {
		w := serveOnHost(h, "GET", path, "late.example")
		if w.Code != 404 || !strings.Contains(w.Body.String(), `"error":"Not found"`) {
			t.Fatalf("GET %s on a host past the bound: %d %s", path, w.Code, w.Body)
		}
	}
	hw := serveOnHost(h, "HEAD", "/demo", "h7.example:1007", "Accept", "application/vnd.npm.install-v1+json")
	if g := served["h7.example:1007"]; hw.Code != 200 || hw.Body.Len() != 0 || hw.Header().Get("ETag") != g.Header().Get("ETag") ||
		hw.Header().Get("Content-Length") != g.Header().Get("Content-Length") {
		t.Fatalf("HEAD on a host past the bound: %d, ETag %q, Content-Length %q, %d bytes", hw.Code,
			hw.Header().Get("ETag"), hw.Header().Get("Content-Length"), hw.Body.Len())
	}

	// What each host got is what a cached base gets: the same bytes and
	// ETag as the registry's own read with that base.
	for host, w := range served {
		want, err := tr.srv.Registry.Packument(t.Context(), nil, "demo", true, "http://"+host)
		if err != nil {
			t.Fatal(err)
		}
		if w.Body.String() != string(want.Body) || w.Header().Get("ETag") != want.ETag {
			t.Fatalf("host %s: ETag %q, want %q; body\n%s\nwant\n%s", host, w.Header().Get("ETag"), want.ETag, w.Body, want.Body)
		}
	}
}

// TestCacheSizeSetting: --cache-size bounds the document cache, which keeps
// to it however many packages are read.
func TestCacheSizeSetting(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.CacheSize = 1 << 20
	tr := openRegistry(t, cfg, quietLogger())
	srv := tr.srv
	if _, _, limit := srv.Registry.CacheUse(); limit != 1<<20 {
		t.Fatalf("cache bound %d, want %d", limit, 1<<20)
	}
	alice := tr.user("alice")
	for i := 0; i < 40; i++ {
		name := fmt.Sprintf("big-%02d", i)
		if res := tr.do("PUT", "/"+name, alice, publishBody(t, name, "1.0.0", func(m map[string]any, _ *[]byte) {
			v := m["versions"].(map[string]any)["1.0.0"].(map[string]any)
			// About 56 KB in the full packument, gzipped to about 42 KB.
			v["readme"] = base64.StdEncoding.EncodeToString(testkit.RandomBytes(t, 42_000))
		})); res.status != 201 {
			t.Fatalf("publish %s: %d %s", name, res.status, res.body)
		}
	}
	// Read after every publish, so all 80 entries (40 as JSON, 40
	// gzipped) are current: only the bound can keep them out.
	for i := 0; i < 40; i++ {
		for _, enc := range []string{"identity", "gzip", "gzip"} { // the second gzip read compresses
			if res := tr.do("GET", fmt.Sprintf("/big-%02d", i), "", nil, "Accept", "application/json",
				"Accept-Encoding", enc); res.status != 200 || len(res.body) < 40_000 {
				t.Fatalf("read big-%02d, %s: %d, %d bytes", i, enc, res.status, len(res.body))
			}
		}
	}
	entries, bytes, _ := srv.Registry.CacheUse()
	if bytes > 1<<20 || entries == 0 || entries >= 80 {
		t.Fatalf("the cache holds %d entries, %d bytes: want some but not all 80 documents, within 1 MiB", entries, bytes)
	}
}
