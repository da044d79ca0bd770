package server

import (
	"bytes"
	"compress/gzip"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/registry"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

// gunzip returns the bytes gz decompresses to, failing the test when gz is
// not one whole gzip stream.
func gunzip(t *testing.T, gz []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	zr.Multistream(false)
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	return out
}

// TestPackumentGzip: a client that accepts gzip (npm, pnpm, yarn and bun
// all do) gets the packument gzipped, with validators of its own, the same
// JSON as a client that does not, and a fresh one after each change; one
// that does not accept it gets the JSON. A restricted package is as hidden
// gzipped as not.
func TestPackumentGzip(t *testing.T) {
	tr := newTestRegistry(t)
	alice, bob := tr.user("alice"), tr.user("bob")
	if res := tr.do("PUT", "/demo", alice, publishBody(t, "demo", "1.0.0", withDevDependencies(300))); res.status != 201 {
		t.Fatalf("publish: %d %s", res.status, res.body)
	}
	const abbrType = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"
	kinds := []struct {
		name   string
		accept string
	}{{"abbreviated", abbrType}, {"full", "application/json"}}

	hits := cacheHits(t, tr, "packument")
	check := func(version string) {
		t.Helper()
		for _, k := range kinds {
			for round := range 2 { // the second round is served from the cache
				before := hits()
				plain := assertGzipMatchesPlain(t, tr, "/demo", bob, k.accept, round == 0)
				if !strings.Contains(string(plain), `"`+version+`"`) {
					t.Fatalf("%s: document lacks version %s: %s", k.name, version, plain)
				}
				if got := hits() - before; round == 1 && got != gzipCheckRequests {
					t.Fatalf("%s, second round: %v of %d reads served from the cache", k.name, got, gzipCheckRequests)
				}
			}
		}
	}
	check("1.0.0")
	var old []string // the ETags of 1.0.0's documents, both forms
	for _, k := range kinds {
		for _, enc := range []string{"gzip", "identity"} {
			old = append(old, tr.do("GET", "/demo", bob, nil, "Accept", k.accept, "Accept-Encoding", enc).header.Get("ETag"))
		}
	}
	// A new version reaches the gzipped documents at once, as the plain ones.
	if res := tr.do("PUT", "/demo", alice, publishBody(t, "demo", "1.1.0", withDevDependencies(300))); res.status != 201 {
		t.Fatalf("publish 1.1.0: %d %s", res.status, res.body)
	}
	check("1.1.0")
	// A client holding a document from before the change, in either form,
	// gets the new one.
	for _, etag := range old {
		for _, k := range kinds {
			if res := tr.do("GET", "/demo", bob, nil, "Accept", k.accept, "Accept-Encoding", "gzip", "If-None-Match", etag); res.status != 200 {
				t.Fatalf("%s with 1.0.0's ETag %s: %d, want 200", k.name, etag, res.status)
			}
		}
	}

	// A document under registry.GzipMinBytes goes as JSON, however often
	// it is read.
	if res := tr.do("PUT", "/tiny", alice, publishBody(t, "tiny", "1.0.0")); res.status != 201 {
		t.Fatalf("publish tiny: %d %s", res.status, res.body)
	}
	for range 3 {
		for _, k := range kinds {
			res := tr.do("GET", "/tiny", bob, nil, "Accept", k.accept, "Accept-Encoding", "gzip")
			if res.status != 200 || res.header.Get("Content-Encoding") != "" || len(res.body) >= registry.GzipMinBytes ||
				res.json(t)["name"] != "tiny" {
				t.Fatalf("tiny, %s: %d, Content-Encoding %q, %d bytes", k.name, res.status, res.header.Get("Content-Encoding"), len(res.body))
			}
		}
	}

	// What does not accept gzip gets JSON.
	for _, enc := range []string{"identity", "deflate", "gzip;q=0", "*, gzip;q=0", "br"} {
		res := tr.do("GET", "/demo", bob, nil, "Accept", abbrType, "Accept-Encoding", enc)
		if res.status != 200 || res.header.Get("Content-Encoding") != "" || res.json(t)["name"] != "demo" {
			t.Fatalf("Accept-Encoding %q: %d, Content-Encoding %q", enc, res.status, res.header.Get("Content-Encoding"))
		}
	}

	// A restricted package answers a reader who may not see it as a name
	// that does not exist answers, gzip or not.
	if res := tr.do("PUT", "/@alice%2fhidden", alice, publishBody(t, "@alice/hidden", "1.0.0")); res.status != 201 {
		t.Fatalf("publish @alice/hidden: %d %s", res.status, res.body)
	}
	for _, enc := range []string{"gzip", "identity"} {
		for _, k := range kinds {
			hidden := tr.do("GET", "/@alice%2fhidden", bob, nil, "Accept", k.accept, "Accept-Encoding", enc)
			missing := tr.do("GET", "/@alice%2fnothing", bob, nil, "Accept", k.accept, "Accept-Encoding", enc)
			if hidden.status != 404 || missing.status != 404 || !bytes.Equal(hidden.body, missing.body) ||
				hidden.header.Get("Content-Encoding") != missing.header.Get("Content-Encoding") {
				t.Fatalf("%s, %s: hidden %d %q, missing %d %q", enc, k.name, hidden.status, hidden.body, missing.status, missing.body)
			}
			owner := tr.do("GET", "/@alice%2fhidden", alice, nil, "Accept", k.accept, "Accept-Encoding", enc)
			if owner.status != 200 {
				t.Fatalf("%s, %s: owner reads %d", enc, k.name, owner.status)
			}
		}
	}
}

// gzipCheckRequests is how many requests assertGzipMatchesPlain sends.
const gzipCheckRequests = 7

// cacheHits returns a function that reads the hits of cache (a label of
// gatehouse_cache_requests_total) from tr's metrics.
func cacheHits(t *testing.T, tr *testRegistry, cache string) func() float64 {
	return cacheRequests(t, tr, cache, "hit")
}

// cacheRequests returns a function that reads the lookups of cache with
// result (hit or miss) from tr's metrics.
func cacheRequests(t *testing.T, tr *testRegistry, cache, result string) func() float64 {
	metricsURL := testkit.Serve(t, tr.srv.metricsHandler())
	return func() float64 {
		t.Helper()
		return testkit.Scrape(t, metricsURL+"/metrics").Sum("gatehouse_cache_requests_total", "cache", cache, "result", result)
	}
}

// assertGzipMatchesPlain gets path as tok with accept twice, once accepting
// gzip and once not, and checks the two answers: the first gzipped, the
// second JSON, the same document, each with its length, a Vary that names
// Accept-Encoding and an ETag of its own, and each ETag answering a
// conditional request; a HEAD as the gzipped GET. With firstJSON, the
// first gzip read must bring JSON (a local document's first read) and the
// next the gzip form. It returns the JSON.
func assertGzipMatchesPlain(t *testing.T, tr *testRegistry, path, tok, accept string, firstJSON bool) []byte {
	t.Helper()
	gz := tr.do("GET", path, tok, nil, "Accept", accept, "Accept-Encoding", "gzip,deflate")
	if firstJSON {
		// A local document not read since it changed goes out as JSON,
		// and gzipped from its next read on.
		if gz.status != 200 || gz.header.Get("Content-Encoding") != "" || gz.header.Get("ETag") == "" {
			t.Fatalf("GET %s as %s, first read: %d, Content-Encoding %q, ETag %q", path, accept, gz.status,
				gz.header.Get("Content-Encoding"), gz.header.Get("ETag"))
		}
		first := gz
		gz = tr.do("GET", path, tok, nil, "Accept", accept, "Accept-Encoding", "gzip,deflate")
		if gz.status != 200 || !bytes.Equal(gunzip(t, gz.body), first.body) || gz.header.Get("ETag") == first.header.Get("ETag") {
			t.Fatalf("GET %s as %s, second read: %d, ETag %q after %q", path, accept, gz.status,
				gz.header.Get("ETag"), first.header.Get("ETag"))
		}
	}
	plain := tr.do("GET", path, tok, nil, "Accept", accept, "Accept-Encoding", "identity")
	if plain.status != 200 || gz.status != 200 {
		t.Fatalf("GET %s as %s: status %d plain, %d gzip", path, accept, plain.status, gz.status)
	}
	if enc := plain.header.Get("Content-Encoding"); enc != "" {
		t.Fatalf("GET %s as %s: plain answer has Content-Encoding %q", path, accept, enc)
	}
	if enc := gz.header.Get("Content-Encoding"); enc != "gzip" {
		t.Fatalf("GET %s as %s: gzip answer has Content-Encoding %q, want gzip", path, accept, enc)
	}
	for _, res := range []response{plain, gz} {
		if vary := res.header.Get("Vary"); !strings.Contains(vary, "Accept-Encoding") {
			t.Fatalf("GET %s as %s: Vary %q does not name Accept-Encoding", path, accept, vary)
		}
		if cl := res.header.Get("Content-Length"); cl != strconv.Itoa(len(res.body)) {
			t.Fatalf("GET %s as %s: Content-Length %s for %d bytes", path, accept, cl, len(res.body))
		}
	}
	if got := gunzip(t, gz.body); !bytes.Equal(got, plain.body) {
		t.Fatalf("GET %s as %s: gzipped answer decompresses to\n%s\nwant\n%s", path, accept, got, plain.body)
	}
	if len(gz.body) >= len(plain.body) {
		t.Fatalf("GET %s as %s: gzipped %d bytes, plain %d", path, accept, len(gz.body), len(plain.body))
	}
	pe, ge := plain.header.Get("ETag"), gz.header.Get("ETag")
	if pe == "" || ge == "" || pe == ge {
		t.Fatalf("GET %s as %s: ETags %q (plain) and %q (gzip): the two bodies differ, so must they", path, accept, pe, ge)
	}
	// A client holding either form of the current document is answered
	// 304 naming the form it holds; one holding the gzip form but no longer
	// accepting gzip gets the JSON.
	for _, c := range []struct {
		enc, etag string
		want      int
	}{{"gzip", ge, 304}, {"gzip", pe, 304}, {"identity", pe, 304}, {"identity", ge, 200}} {
		res := tr.do("GET", path, tok, nil, "Accept", accept, "Accept-Encoding", c.enc, "If-None-Match", c.etag)
		if res.status != c.want {
			t.Fatalf("GET %s as %s, %s, If-None-Match %s: %d, want %d", path, accept, c.enc, c.etag, res.status, c.want)
		}
		// A 304 names the representation the client holds and what it
		// varies by, and describes no body.
		if res.status == 304 && (res.header.Get("ETag") != c.etag || !strings.Contains(res.header.Get("Vary"), "Accept-Encoding") ||
			res.header.Get("Content-Encoding") != "" || len(res.body) != 0) {
			t.Fatalf("GET %s as %s, %s: 304 with headers %v and %d bytes", path, accept, c.enc, res.header, len(res.body))
		}
	}
	head := tr.do("HEAD", path, tok, nil, "Accept", accept, "Accept-Encoding", "gzip")
	if head.status != 200 || len(head.body) != 0 || head.header.Get("Content-Length") != strconv.Itoa(len(gz.body)) ||
		head.header.Get("Content-Encoding") != "gzip" || head.header.Get("ETag") != ge {
		t.Fatalf("HEAD %s as %s, gzip: %d, %d bytes, headers %v", path, accept, head.status, len(head.body), head.header)
	}
	return plain.body
}

// TestUplinkPackumentGzip: a proxied packument goes out gzipped to a
// client that accepts gzip, as a local one does, from the proxy's cache
// too.
func TestUplinkPackumentGzip(t *testing.T) {
	up := startUpstream(t)
	up.publish("left-pad", "1.0.0", withDevDependencies(300))
	up.publish("@types/node", "20.1.0", withDevDependencies(300))
	up.publish("tiny", "1.0.0")
	proxy := proxyTo(t, up.url)
	hits := cacheHits(t, proxy, "uplink_packument")
	for _, accept := range []string{abbreviatedAccept, "application/json"} {
		if res := proxy.do("GET", "/tiny", "", nil, "Accept", accept, "Accept-Encoding", "gzip"); res.status != 200 ||
			res.header.Get("Content-Encoding") != "" {
			t.Fatalf("tiny through the proxy as %s: %d, Content-Encoding %q", accept, res.status, res.header.Get("Content-Encoding"))
		}
	}
	for _, name := range []string{"left-pad", "@types/node"} {
		for _, accept := range []string{abbreviatedAccept, "application/json"} {
			for round := range 2 { // the second round is served from the proxy's memory
				before := hits()
				plain := assertGzipMatchesPlain(t, proxy, "/"+escape(name), "", accept, false)
				if !bytes.Contains(plain, []byte(proxy.url+"/"+name+"/-/")) {
					t.Fatalf("%s as %s: no tarball link to the proxy in %s", name, accept, plain)
				}
				if got := hits() - before; round == 1 && got != gzipCheckRequests {
					t.Fatalf("%s as %s, second round: %v of %d reads served from memory", name, accept, got, gzipCheckRequests)
				}
			}
		}
	}
}

// withDevDependencies is a publishBody option that gives the version n
// development dependencies (about 45 bytes each in both packuments, which
// list them, and never installed with the package): n = 300 makes its
// documents larger than registry.GzipMinBytes.
func withDevDependencies(n int) func(m map[string]any, _ *[]byte) {
	return func(m map[string]any, _ *[]byte) {
		deps := testkit.Dependencies(n)
		for _, v := range m["versions"].(map[string]any) {
			v.(map[string]any)["devDependencies"] = deps
		}
	}
}
