package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/blob"
	"github.com/gatehouse-registry/gatehouse/internal/blob/blobtest"
	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
	"github.com/gatehouse-registry/gatehouse/internal/uplink"
)

// fakeUpstream is a small registry written for the tests: it answers what
// they tell it, however wrong, and logs what it was asked.
type fakeUpstream struct {
	url string
	log *requestLog
	mu  sync.Mutex
	// routes maps an escaped path to its handler.
	routes map[string]http.HandlerFunc
}

func startFake(t *testing.T) *fakeUpstream {
	t.Helper()
	f := &fakeUpstream{log: &requestLog{}, routes: map[string]http.HandlerFunc{}}
	hs := httptest.NewServer(f.log.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		h := f.routes[strings.ReplaceAll(r.URL.EscapedPath(), "%2F", "%2f")]
		f.mu.Unlock()
		if h == nil {
			http.Error(w, `{"error":"Not found"}`, http.StatusNotFound)
			return
		}
		h(w, r)
	})))
	t.Cleanup(hs.Close)
	f.url = hs.URL
	return f
}

// handle answers path with h.
func (f *fakeUpstream) handle(path string, h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[path] = h
}

// serve answers path with body, as JSON or as a tarball.
func (f *fakeUpstream) serve(path string, body []byte) {
	f.handle(path, func(w http.ResponseWriter, _ *http.Request) {
		if strings.HasSuffix(path, ".tgz") {
			w.Header().Set("Content-Type", "application/octet-stream")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		_, _ = w.Write(body)
	})
}

// fakeVersion is one version of a packument the fake upstream serves.
type fakeVersion struct {
	version string
	// tgz is the tarball whose digests the packument gives.
	tgz []byte
	// link is dist.tarball; "" for the fake's own canonical URL.
	link string
	// published is the version's time; zero for now.
	published time.Time
	// dist holds more fields of dist (signatures, attestations).
	dist map[string]any
}

// packument builds name's packument as a registry would, with latest at
// the last version given.
func (f *fakeUpstream) packument(t *testing.T, name string, versions ...fakeVersion) []byte {
	t.Helper()
	vs := map[string]any{}
	times := map[string]any{}
	latest := ""
	for _, v := range versions {
		link := v.link
		if link == "" {
			link = f.url + "/" + name + "/-/" + tarballFile(name, v.version)
		}
		dist := map[string]any{"tarball": link, "integrity": testkit.Integrity(v.tgz), "shasum": testkit.Shasum(v.tgz)}
		for k, x := range v.dist {
			dist[k] = x
		}
		vs[v.version] = map[string]any{"name": name, "version": v.version, "dist": dist, "_npmUser": map[string]any{"name": "x"}}
		published := v.published
		if published.IsZero() {
			published = time.Now()
		}
		times[v.version] = published.UTC().Format(time.RFC3339Nano)
		latest = v.version
	}
	body, err := json.Marshal(map[string]any{"name": name, "dist-tags": map[string]any{"latest": latest}, "versions": vs, "time": times})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// smallTarball is a package's tarball whose bytes depend on name@version.
func smallTarball(t *testing.T, name, version string) []byte {
	return testkit.PackageTarball(t, `{"name":"`+name+`","version":"`+version+`"}`)
}

// cachedNothing fails t when the proxy keeps a packument of name, or a
// tarball of name@version, or any blob.
func cachedNothing(t *testing.T, tr *testRegistry, name, version string) {
	t.Helper()
	q := tr.srv.store.Q()
	for _, kind := range []string{store.DocumentFull, store.DocumentAbbreviated} {
		if _, err := q.UplinkDocument(t.Context(), name, kind); !fault.Is(err, fault.NotFound) {
			t.Errorf("a %s packument of %s is cached (%v)", kind, name, err)
		}
	}
	if version != "" {
		if _, err := q.UplinkTarball(t.Context(), name, version); !fault.Is(err, fault.NotFound) {
			t.Errorf("a tarball of %s@%s is recorded (%v)", name, version, err)
		}
	}
	_ = filepath.WalkDir(filepath.Join(tr.dir, "tarballs"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			t.Errorf("the blob store holds %s", path)
		}
		return nil
	})
}

// getTarball fetches url, reporting the status and whether the whole body
// arrived.
func getTarball(t *testing.T, url string) (int, []byte, error) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res.StatusCode, body, err
}

// TestUplinkTarballMismatch: a tarball whose bytes do not match the
// integrity the packument gives is refused, the client's download is
// broken off before it is whole, and nothing is kept: the next request
// fetches it again.
func TestUplinkTarballMismatch(t *testing.T) {
	up := startFake(t)
	claimed := smallTarball(t, "evil", "1.0.0")
	sent := smallTarball(t, "evil", "6.6.6")
	up.serve("/evil", up.packument(t, "evil", fakeVersion{version: "1.0.0", tgz: claimed}))
	up.serve("/evil/-/evil-1.0.0.tgz", sent)
	proxy := proxyTo(t, up.url)

	for i := range 2 {
		status, body, err := getTarball(t, proxy.url+"/evil/-/evil-1.0.0.tgz")
		if err == nil && status == http.StatusOK && len(body) == len(sent) {
			t.Fatalf("request %d: the mismatching tarball was served whole", i+1)
		}
		if err == nil && status == http.StatusOK {
			t.Errorf("request %d: a 200 with %d of %d bytes and no error", i+1, len(body), len(sent))
		}
	}
	if n := up.log.count("/evil/-/"); n != 2 {
		t.Errorf("the upstream was asked for the tarball %d times, want 2 (nothing kept after the first)", n)
	}
	q := proxy.srv.store.Q()
	if _, err := q.UplinkTarball(t.Context(), "evil", "1.0.0"); !fault.Is(err, fault.NotFound) {
		t.Errorf("the refused tarball is recorded (%v)", err)
	}
	_ = filepath.WalkDir(filepath.Join(proxy.dir, "tarballs"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			t.Errorf("the blob store holds %s", path)
		}
		return nil
	})

	// The same tarball with matching bytes is served and kept.
	up.serve("/evil/-/evil-1.0.0.tgz", claimed)
	if status, body, err := getTarball(t, proxy.url+"/evil/-/evil-1.0.0.tgz"); err != nil || status != 200 || string(body) != string(claimed) {
		t.Fatalf("the matching tarball: %d, %d bytes, %v", status, len(body), err)
	}
	if _, err := q.UplinkTarball(t.Context(), "evil", "1.0.0"); err != nil {
		t.Errorf("the verified tarball is not recorded: %v", err)
	}
}

// TestUplinkLinksElsewhere: a packument whose tarball links point at
// another host is served with links to gatehouse, and the tarballs are
// fetched from the uplink's own canonical location, never from that host.
// Upstream's signatures and attestations are kept as written.
func TestUplinkLinksElsewhere(t *testing.T) {
	up := startFake(t)
	elsewhere := startFake(t)
	tgz := smallTarball(t, "@scope/lured", "1.0.0")
	signatures := []any{map[string]any{"keyid": "SHA256:abc", "sig": "MEUCIQDx"}}
	attestations := map[string]any{"url": up.url + "/-/npm/v1/attestations/@scope/lured@1.0.0", "provenance": map[string]any{"predicateType": "https://slsa.dev/provenance/v1"}}
	up.serve("/@scope%2flured", up.packument(t, "@scope/lured", fakeVersion{version: "1.0.0", tgz: tgz,
		link: elsewhere.url + "/steal/lured-1.0.0.tgz", dist: map[string]any{"signatures": signatures, "attestations": attestations}}))
	up.serve("/@scope/lured/-/lured-1.0.0.tgz", tgz)
	elsewhere.serve("/steal/lured-1.0.0.tgz", tgz)
	proxy := proxyTo(t, up.url)

	for _, accept := range []string{abbreviatedAccept, "application/json"} {
		res := proxy.do("GET", "/@scope%2flured", "", nil, "Accept", accept)
		if res.status != 200 {
			t.Fatalf("packument: %d %s", res.status, res.body)
		}
		if got := tarballLinks(t, res.body)["1.0.0"]; got != proxy.url+"/@scope/lured/-/lured-1.0.0.tgz" {
			t.Errorf("%s: tarball link %s", accept, got)
		}
		var doc struct {
			Versions map[string]struct {
				Dist map[string]json.RawMessage `json:"dist"`
			} `json:"versions"`
		}
		testkit.DecodeJSON(t, res.body, &doc)
		dist := doc.Versions["1.0.0"].Dist
		for key, want := range map[string]any{"signatures": signatures, "attestations": attestations} {
			wantJSON, _ := json.Marshal(want)
			var got, wanted any
			_ = json.Unmarshal(dist[key], &got)
			_ = json.Unmarshal(wantJSON, &wanted)
			if gotJSON, _ := json.Marshal(got); string(gotJSON) != string(wantJSON) || got == nil {
				t.Errorf("%s: dist.%s = %s, want %s", accept, key, dist[key], wantJSON)
			}
		}
	}
	if status, body, err := getTarball(t, proxy.url+"/@scope/lured/-/lured-1.0.0.tgz"); err != nil || status != 200 || string(body) != string(tgz) {
		t.Fatalf("tarball: %d, %v", status, err)
	}
	if n := len(elsewhere.log.all()); n != 0 {
		t.Errorf("the host the packument pointed at got %d requests", n)
	}
	if n := up.log.count("/@scope/lured/-/lured-1.0.0.tgz"); n != 1 {
		t.Errorf("the uplink's canonical tarball URL was asked %d times, want 1", n)
	}
}

// TestUplinkBadPackuments: garbage JSON, a packument over the size limit
// (sent whole, or announced at 2 GiB), one nested too deeply, one naming
// another package: each is a 502 that says what was wrong, and nothing is
// cached.
func TestUplinkBadPackuments(t *testing.T) {
	up := startFake(t)
	up.serve("/garbage", []byte(`{"name":"garbage","versions":{"1.0.0":{`))
	up.serve("/notjson", []byte(`<html>Service Unavailable</html>`))
	up.serve("/huge", []byte(`{"name":"huge","readme":"`+strings.Repeat("x", 4<<10)+`"}`))
	up.handle("/announced", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", strconv.FormatInt(2<<30, 10))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"name":"announced",`))
	})
	up.serve("/deep", []byte(`{"name":"deep","x":`+strings.Repeat("[", 100)+strings.Repeat("]", 100)+`}`))
	up.serve("/impostor", []byte(`{"name":"someone-else","versions":{}}`))
	proxy := proxyTo(t, up.url, func(s *uplink.Spec, _ *config.Config) { s.MaxPackumentSize = 2 << 10 })

	tests := []struct{ name, want string }{
		{"garbage", "uplink up sent an unusable packument for garbage (it is not valid JSON): refused, nothing cached"},
		{"notjson", "uplink up sent an unusable packument for notjson"},
		{"huge", "uplink up sent the packument of huge larger than the 2KiB limit: refused"},
		{"announced", "uplink up sent the packument of announced larger than the 2KiB limit (2GiB): refused"},
		{"deep", "it nests deeper than 64 levels"},
		{"impostor", `it names the package "someone-else", not impostor`},
	}
	for _, tt := range tests {
		res := proxy.do("GET", "/"+tt.name, "", nil)
		if res.status != http.StatusBadGateway || !strings.Contains(res.errorText(t), tt.want) {
			t.Errorf("%s: %d %s, want 502 with %q", tt.name, res.status, res.body, tt.want)
		}
		cachedNothing(t, proxy, tt.name, "")
	}
}

// TestUplinkGates: with a minimum release age, a version younger than it
// is neither in the packument (latest moves to the newest older one) nor
// downloadable; a denied version likewise, with the reason, even when its
// tarball was cached before the rule.
func TestUplinkGates(t *testing.T) {
	up := startFake(t)
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	var versions []fakeVersion
	for _, v := range []string{"1.0.0", "1.1.0", "2.0.0"} {
		published := old
		if v == "2.0.0" {
			published = time.Now().Add(-time.Hour)
		}
		tgz := smallTarball(t, "gated", v)
		versions = append(versions, fakeVersion{version: v, tgz: tgz, published: published})
		up.serve("/gated/-/gated-"+v+".tgz", tgz)
	}
	up.serve("/gated", up.packument(t, "gated", versions...))

	open := newTestRegistry(t, func(c *config.Config) { c.Uplinks = []uplink.Spec{uplink.NewSpec("up", up.url)} })
	if v, _ := latestOf(t, open, "gated"); v != "2.0.0" {
		t.Fatalf("without gates, latest %s", v)
	}
	if res := open.do("GET", "/gated/-/gated-1.1.0.tgz", "", nil); res.status != 200 {
		t.Fatalf("1.1.0 cached before the rule: %d", res.status)
	}

	gated := newTestRegistry(t, func(c *config.Config) {
		c.DataDir = open.dir
		spec := uplink.NewSpec("up", up.url)
		spec.MinReleaseAgeDays = 7
		spec.Deny = []uplink.Deny{{Package: "gated@~1.1.0", Reason: "CVE-2099-0001"}}
		c.Uplinks = []uplink.Spec{spec}
	})
	for _, accept := range []string{abbreviatedAccept, "application/json"} {
		res := gated.do("GET", "/gated", "", nil, "Accept", accept)
		doc := res.json(t)
		versions := doc["versions"].(map[string]any)
		if len(versions) != 1 || versions["1.0.0"] == nil {
			t.Errorf("%s: versions %v, want 1.0.0 alone", accept, keys(versions))
		}
		if latest := doc["dist-tags"].(map[string]any)["latest"]; latest != "1.0.0" {
			t.Errorf("%s: latest %v, want 1.0.0", accept, latest)
		}
		if times, ok := doc["time"].(map[string]any); ok && (times["2.0.0"] != nil || times["1.1.0"] != nil) {
			t.Errorf("%s: the hidden versions' times are listed: %v", accept, times)
		}
	}
	for _, tt := range []struct{ path, want string }{
		{"/gated/-/gated-2.0.0.tgz", "gated@2.0.0 is held back by uplink up until"},
		{"/gated/2.0.0", "gated@2.0.0 is held back by uplink up until"},
		{"/gated/-/gated-1.1.0.tgz", "gated@1.1.0 is denied by uplink up: CVE-2099-0001"},
		{"/gated/1.1.0", "gated@1.1.0 is denied by uplink up: CVE-2099-0001"},
	} {
		res := gated.do("GET", tt.path, "", nil)
		if res.status != http.StatusForbidden || !strings.Contains(res.errorText(t), tt.want) {
			t.Errorf("GET %s: %d %s, want 403 with %q", tt.path, res.status, res.body, tt.want)
		}
	}
	if res := gated.do("GET", "/gated/-/gated-1.0.0.tgz", "", nil); res.status != 200 {
		t.Errorf("the allowed version's tarball: %d", res.status)
	}
	if n := up.log.count("/gated/-/gated-2.0.0.tgz"); n != 0 {
		t.Errorf("the held-back tarball was fetched %d times", n)
	}
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestUplinkOnEachBlobStore streams proxied tarballs into a folder and an
// S3-compatible bucket: a verified one is kept under its content address
// and then served locally (ranges, ETag); a mismatching one leaves no blob.
func TestUplinkOnEachBlobStore(t *testing.T) {
	blobtest.Each(t, func(t *testing.T, b blobtest.Backend) {
		up := startFake(t)
		good := smallTarball(t, "kept", "1.0.0")
		claimed, sent := smallTarball(t, "evil", "1.0.0"), smallTarball(t, "evil", "6.6.6")
		up.serve("/kept", up.packument(t, "kept", fakeVersion{version: "1.0.0", tgz: good}))
		up.serve("/kept/-/kept-1.0.0.tgz", good)
		up.serve("/evil", up.packument(t, "evil", fakeVersion{version: "1.0.0", tgz: claimed}))
		up.serve("/evil/-/evil-1.0.0.tgz", sent)
		proxy := proxyTo(t, up.url, func(_ *uplink.Spec, c *config.Config) { c.Blobs = b.URL(t) })

		if status, body, err := getTarball(t, proxy.url+"/kept/-/kept-1.0.0.tgz"); err != nil || status != 200 || !bytes.Equal(body, good) {
			t.Fatalf("first fetch: %d, %d bytes, %v", status, len(body), err)
		}
		if ok, err := proxy.srv.blobs.Exists(t.Context(), blob.KeyOf(good)); err != nil || !ok {
			t.Fatalf("the verified tarball is not in the blob store: %v, %v", ok, err)
		}
		res := proxy.do("GET", "/kept/-/kept-1.0.0.tgz", "", nil, "Range", "bytes=0-9")
		if res.status != http.StatusPartialContent || !bytes.Equal(res.body, good[:10]) || res.header.Get("ETag") == "" {
			t.Errorf("a range of the cached tarball: %d %q, ETag %q", res.status, res.body, res.header.Get("ETag"))
		}

		if status, body, err := getTarball(t, proxy.url+"/evil/-/evil-1.0.0.tgz"); err == nil && status == 200 && len(body) == len(sent) {
			t.Fatal("the mismatching tarball was served whole")
		}
		for _, tgz := range [][]byte{claimed, sent} {
			if ok, err := proxy.srv.blobs.Exists(t.Context(), blob.KeyOf(tgz)); err != nil || ok {
				t.Errorf("after the refused tarball, the blob store holds %s: %v, %v", blob.KeyOf(tgz), ok, err)
			}
		}
		if n := up.log.count("/kept/-/"); n != 1 {
			t.Errorf("the kept tarball was fetched %d times, want 1", n)
		}
	})
}
