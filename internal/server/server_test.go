package server

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

// testRegistry is an in-process gatehouse on a temporary data folder.
type testRegistry struct {
	t   testing.TB
	srv *Server
	url string
	dir string
}

func newTestRegistry(t *testing.T, mutate ...func(*config.Config)) *testRegistry {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.MaxBodySize = 1 << 20
	for _, m := range mutate {
		m(&cfg)
	}
	return openRegistry(t, cfg, quietLogger())
}

// openRegistry opens gatehouse on cfg, logging to logger, and serves it on a
// loopback port until t ends.
func openRegistry(t testing.TB, cfg config.Config, logger *slog.Logger) *testRegistry {
	t.Helper()
	srv, err := Open(context.Background(), cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &testRegistry{t: t, srv: srv, url: testkit.Serve(t, srv.Handler()), dir: cfg.DataDir}
}

// quietLogger logs nothing a test would see.
func quietLogger() *slog.Logger { return NewLogger(io.Discard, "error", false) }

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not JSON (%d): %s", r.status, r.body)
	}
	return m
}

func (r response) errorText(t testing.TB) string {
	t.Helper()
	s, _ := r.json(t)["error"].(string)
	return s
}

// do sends one request to the registry; a string body is sent as it is,
// any other as testkit.Do sends it.
func (tr *testRegistry) do(method, path, tok string, body any, headers ...string) response {
	tr.t.Helper()
	if b, ok := body.(string); ok {
		body = []byte(b)
	}
	res := testkit.Do(tr.t, method, tr.url+path, tok, body, headers...)
	return response{res.Status, res.Header, res.Body}
}

func (tr *testRegistry) user(name string) string {
	tr.t.Helper()
	res := tr.do("PUT", "/-/user/org.couchdb.user:"+name, "", map[string]string{
		"name": name, "password": "password-" + name, "email": name + "@example.com"})
	if res.status != http.StatusCreated {
		tr.t.Fatalf("create user %s: %d %s", name, res.status, res.body)
	}
	return res.json(tr.t)["token"].(string)
}

// publishBody is what npm sends to publish name@version, with options to break it.
func publishBody(t testing.TB, name, version string, opts ...func(m map[string]any, tgz *[]byte)) map[string]any {
	t.Helper()
	pj := fmt.Sprintf(`{"name":%q,"version":%q,"description":"the %s package","keywords":["demo"]}`, name, version, name)
	tgz := testkit.PackageTarball(t, pj)
	body := map[string]any{"versions": map[string]any{version: map[string]any{"description": "the " + name + " package",
		"keywords": []string{"demo"}, "readme": "# " + name}}}
	for _, o := range opts {
		o(body, &tgz)
	}
	return testkit.PublishBody(body, name, version, tgz)
}

func escape(name string) string { return strings.Replace(name, "/", "%2f", 1) }

func TestPublishAndInstallDocuments(t *testing.T) {
	tr := newTestRegistry(t)
	alice := tr.user("alice")

	for _, v := range []string{"1.0.0", "1.1.0"} {
		if res := tr.do("PUT", "/demo", alice, publishBody(t, "demo", v)); res.status != http.StatusCreated {
			t.Fatalf("publish %s: %d %s", v, res.status, res.body)
		}
	}
	full := tr.do("GET", "/demo", "", nil)
	if full.status != 200 || full.header.Get("ETag") == "" {
		t.Fatalf("packument: %d %v", full.status, full.header)
	}
	doc := full.json(t)
	if doc["dist-tags"].(map[string]any)["latest"] != "1.1.0" {
		t.Fatalf("latest = %v", doc["dist-tags"])
	}
	v1 := doc["versions"].(map[string]any)["1.0.0"].(map[string]any)
	tarURL := v1["dist"].(map[string]any)["tarball"].(string)
	if tarURL != tr.url+"/demo/-/demo-1.0.0.tgz" {
		t.Fatalf("tarball URL = %q", tarURL)
	}
	if doc["readme"] != "# demo" || doc["maintainers"].([]any)[0].(map[string]any)["name"] != "alice" {
		t.Fatalf("readme/maintainers: %v %v", doc["readme"], doc["maintainers"])
	}
	if _, ok := v1["readme"]; ok {
		t.Fatal("version documents should not repeat the readme")
	}

	abbr := tr.do("GET", "/demo", "", nil, "Accept", "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*")
	if abbr.header.Get("Content-Type") != "application/vnd.npm.install-v1+json" {
		t.Fatalf("abbreviated content type %q", abbr.header.Get("Content-Type"))
	}
	if _, ok := abbr.json(t)["readme"]; ok || abbr.header.Get("ETag") == full.header.Get("ETag") {
		t.Fatal("abbreviated packument must differ from the full one")
	}
	if res := tr.do("GET", "/demo", "", nil, "If-None-Match", full.header.Get("ETag")); res.status != http.StatusNotModified {
		t.Fatalf("conditional GET: %d", res.status)
	}

	tgz := tr.do("GET", "/demo/-/demo-1.0.0.tgz", "", nil)
	if tgz.status != 200 || tgz.header.Get("Content-Length") != fmt.Sprint(len(tgz.body)) {
		t.Fatalf("tarball: %d len %s/%d", tgz.status, tgz.header.Get("Content-Length"), len(tgz.body))
	}
	sum := sha1.Sum(tgz.body)
	if hex.EncodeToString(sum[:]) != v1["dist"].(map[string]any)["shasum"] {
		t.Fatal("served tarball does not match its shasum")
	}
	part := tr.do("GET", "/demo/-/demo-1.0.0.tgz", "", nil, "Range", "bytes=0-9")
	if part.status != http.StatusPartialContent || len(part.body) != 10 || !bytes.Equal(part.body, tgz.body[:10]) {
		t.Fatalf("range: %d %d bytes", part.status, len(part.body))
	}

	if res := tr.do("GET", "/demo/latest", "", nil); res.status != 200 || res.json(t)["version"] != "1.1.0" {
		t.Fatalf("by tag: %d %s", res.status, res.body)
	}
	if res := tr.do("GET", "/demo/1.0.0", "", nil); res.status != 200 || res.json(t)["version"] != "1.0.0" {
		t.Fatalf("by version: %d %s", res.status, res.body)
	}
	if res := tr.do("GET", "/demo/9.9.9", "", nil); res.status != 404 {
		t.Fatalf("missing version: %d", res.status)
	}
}

func TestScopedNamesBothSpellings(t *testing.T) {
	tr := newTestRegistry(t)
	alice := tr.user("alice")
	body := publishBody(t, "@alice/web", "1.0.0")
	body["access"] = "public"
	if res := tr.do("PUT", "/@alice%2fweb", alice, body); res.status != 201 {
		t.Fatalf("publish: %d %s", res.status, res.body)
	}
	for _, path := range []string{"/@alice%2fweb", "/@alice%2Fweb", "/@alice/web"} {
		if res := tr.do("GET", path, "", nil); res.status != 200 || res.json(t)["name"] != "@alice/web" {
			t.Errorf("GET %s: %d %s", path, res.status, res.body)
		}
	}
	if res := tr.do("GET", "/@alice/web/-/web-1.0.0.tgz", "", nil); res.status != 200 {
		t.Fatalf("scoped tarball: %d", res.status)
	}
}

func TestBadPublishesStoreNothing(t *testing.T) {
	tr := newTestRegistry(t)
	alice := tr.user("alice")
	big := strings.Repeat("x", 2<<20)
	tests := []struct {
		name   string
		path   string
		body   any
		status int
		want   string
	}{
		{"malformed JSON", "/demo", `{"name": "demo", "versions": {`, 400, "invalid JSON"},
		{"wrong field type", "/demo", `{"name": "demo", "versions": []}`, 400, "versions"},
		{"invalid name", "/Demo", publishBody(t, "Demo", "1.0.0"), 400, "capital letters"},
		{"version not semver", "/demo", publishBody(t, "demo", "1.0"), 400, "Invalid version"},
		{"shasum mismatch", "/demo", publishBody(t, "demo", "1.0.0", func(m map[string]any, _ *[]byte) {
			m["versions"].(map[string]any)["1.0.0"].(map[string]any)["dist"] = map[string]any{
				"shasum": strings.Repeat("0", 40), "integrity": "sha512-" + base64.StdEncoding.EncodeToString(make([]byte, 64))}
		}), 400, "mismatch"},
		{"not a tarball", "/demo", publishBody(t, "demo", "1.0.0", func(_ map[string]any, tgz *[]byte) {
			*tgz = []byte("this is not a tarball")
		}), 400, "gzip"},
		{"tarball of another package", "/demo", publishBody(t, "demo", "1.0.0", func(_ map[string]any, tgz *[]byte) {
			*tgz = testkit.PackageTarball(t, `{"name":"other","version":"1.0.0"}`)
		}), 400, "does not match"},
		{"body over the limit", "/demo", map[string]string{"name": "demo", "pad": big}, 413, "limit"},
		{"name differs from URL", "/demo", publishBody(t, "other", "1.0.0"), 400, "does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tr.do("PUT", tt.path, alice, tt.body)
			if res.status != tt.status {
				t.Fatalf("status %d, want %d: %s", res.status, tt.status, res.body)
			}
			if msg := res.errorText(t); !strings.Contains(msg, tt.want) {
				t.Fatalf("error %q does not mention %q", msg, tt.want)
			}
			if got := tr.do("GET", tt.path, alice, nil); got.status != 404 {
				t.Fatalf("after a refused publish GET %s = %d", tt.path, got.status)
			}
		})
	}
	// Nothing reached the blob folder either.
	var blobs int
	_ = filepath.Walk(filepath.Join(tr.dir, "tarballs"), func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			blobs++
		}
		return nil
	})
	if blobs != 0 {
		t.Fatalf("%d blobs written by refused publishes", blobs)
	}
}

func TestVersionsAreImmutable(t *testing.T) {
	tr := newTestRegistry(t)
	alice := tr.user("alice")
	if res := tr.do("PUT", "/demo", alice, publishBody(t, "demo", "1.0.0")); res.status != 201 {
		t.Fatal(res.status)
	}
	res := tr.do("PUT", "/demo", alice, publishBody(t, "demo", "1.0.0"))
	if res.status != 403 || res.errorText(t) != "You cannot publish over the previously published versions: 1.0.0." {
		t.Fatalf("republish: %d %s", res.status, res.body)
	}
	pk := tr.do("GET", "/demo", alice, nil, "Accept", "application/json").json(t)
	if res := tr.do("DELETE", "/demo/-rev/"+pk["_rev"].(string), alice, nil); res.status != 200 {
		t.Fatalf("unpublish: %d %s", res.status, res.body)
	}
	res = tr.do("PUT", "/demo", alice, publishBody(t, "demo", "1.0.0"))
	if res.status != 403 || !strings.Contains(res.errorText(t), "previously published") {
		t.Fatalf("republish after unpublish: %d %s", res.status, res.body)
	}
	if res := tr.do("PUT", "/demo", alice, publishBody(t, "demo", "1.0.1")); res.status != 201 {
		t.Fatalf("new version after unpublish: %d %s", res.status, res.body)
	}
}

func TestPrivatePackagesAreInvisible(t *testing.T) {
	tr := newTestRegistry(t)
	alice, bob := tr.user("alice"), tr.user("bob")
	if res := tr.do("PUT", "/@alice%2fsecret", alice, publishBody(t, "@alice/secret", "1.0.0")); res.status != 201 {
		t.Fatalf("publish: %d %s", res.status, res.body)
	}
	paths := []string{"/@alice%2fsecret", "/@alice/secret/1.0.0", "/@alice/secret/-/secret-1.0.0.tgz", "/-/package/@alice%2fsecret/dist-tags"}
	for _, p := range paths {
		if res := tr.do("GET", p, alice, nil); res.status != 200 {
			t.Errorf("owner GET %s: %d", p, res.status)
		}
		for who, tok := range map[string]string{"bob": bob, "anonymous": "", "bad token": "npm_notatoken"} {
			if res := tr.do("GET", p, tok, nil); res.status != 404 || res.errorText(t) != "Not found" {
				t.Errorf("%s GET %s: %d %s", who, p, res.status, res.body)
			}
		}
	}
	// A write by a stranger is a 404 too, never a hint that the package exists;
	// without a login it is a 401 whether the package exists or not.
	for _, name := range []string{"@alice/secret", "@alice/never-published"} {
		if res := tr.do("PUT", "/"+escape(name), "", publishBody(t, name, "1.0.1")); res.status != 401 {
			t.Fatalf("anonymous publish of %s: %d %s", name, res.status, res.body)
		}
	}
	if res := tr.do("PUT", "/@alice%2fsecret", bob, publishBody(t, "@alice/secret", "1.0.1")); res.status != 404 {
		t.Fatalf("bob publishing: %d %s", res.status, res.body)
	}
	if res := tr.do("PUT", "/@alice%2fother", bob, publishBody(t, "@alice/other", "1.0.0")); res.status != 404 {
		t.Fatalf("bob publishing in alice's scope: %d %s", res.status, res.body)
	}
	for _, tok := range []string{bob, ""} {
		res := tr.do("GET", "/-/v1/search?text=secret", tok, nil)
		if res.json(t)["total"].(float64) != 0 {
			t.Fatalf("search shows the private package: %s", res.body)
		}
	}
	if res := tr.do("GET", "/-/v1/search?text=secret", alice, nil); res.json(t)["total"].(float64) != 1 {
		t.Fatalf("owner's search: %s", res.body)
	}
}

func TestConcurrentPublishesOfOnePackage(t *testing.T) {
	tr := newTestRegistry(t)
	alice := tr.user("alice")
	const n = 12
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			statuses[i] = tr.do("PUT", "/many", alice, publishBody(t, "many", fmt.Sprintf("1.0.%d", i))).status
		}(i)
	}
	wg.Wait()
	for i, s := range statuses {
		if s != 201 {
			t.Fatalf("publish %d: status %d", i, s)
		}
	}
	doc := tr.do("GET", "/many", "", nil).json(t)
	if got := len(doc["versions"].(map[string]any)); got != n {
		t.Fatalf("%d versions in the packument, want %d", got, n)
	}
	if got := len(doc["time"].(map[string]any)); got != n+2 {
		t.Fatalf("%d entries in time, want %d", got, n+2)
	}
}

func TestAccountsOverHTTP(t *testing.T) {
	tr := newTestRegistry(t)
	tok := tr.user("alice")
	if res := tr.do("GET", "/-/whoami", tok, nil); res.status != 200 || res.json(t)["username"] != "alice" {
		t.Fatalf("whoami: %d %s", res.status, res.body)
	}
	res := tr.do("PUT", "/-/user/org.couchdb.user:alice", "", map[string]string{"name": "alice", "password": "wrong"})
	if res.status != 401 {
		t.Fatalf("wrong password: %d %s", res.status, res.body)
	}
	res = tr.do("PUT", "/-/user/org.couchdb.user:alice", "", map[string]string{"name": "alice", "password": "password-alice"})
	if res.status != 201 {
		t.Fatalf("login: %d %s", res.status, res.body)
	}
	second := res.json(t)["token"].(string)
	if res := tr.do("PUT", "/-/user/org.couchdb.user:Alice", "", map[string]string{"name": "Alice", "password": "x"}); res.status != 400 || res.errorText(t) != "Name must be lowercase" {
		t.Fatalf("uppercase name: %d %s", res.status, res.body)
	}
	if res := tr.do("DELETE", "/-/user/token/"+tok, tok, nil); res.status != 200 {
		t.Fatalf("logout: %d %s", res.status, res.body)
	}
	res = tr.do("GET", "/-/whoami", tok, nil)
	if res.status != 401 || res.errorText(t) != "Authentication required" || !strings.HasPrefix(res.header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("whoami after logout: %d %v %s", res.status, res.header, res.body)
	}
	if res := tr.do("GET", "/-/whoami", second, nil); res.status != 200 {
		t.Fatalf("the other session must survive: %d", res.status)
	}
	// Tokens are stored only hashed.
	db, _ := os.ReadFile(filepath.Join(tr.dir, "gatehouse.db"))
	wal, _ := os.ReadFile(filepath.Join(tr.dir, "gatehouse.db-wal"))
	for _, secret := range []string{tok, second, "password-alice"} {
		if bytes.Contains(db, []byte(secret)) || bytes.Contains(wal, []byte(secret)) {
			t.Fatalf("a secret is stored in the clear")
		}
	}
}

func TestClosedRegistration(t *testing.T) {
	tr := newTestRegistry(t, func(c *config.Config) { c.Registration = "closed" })
	res := tr.do("PUT", "/-/user/org.couchdb.user:carol", "", map[string]string{"name": "carol", "password": "pw"})
	if res.status != 403 || !strings.Contains(res.errorText(t), "Registration is closed") {
		t.Fatalf("closed registration: %d %s", res.status, res.body)
	}
	if _, err := tr.srv.Accounts.CreateUser(context.Background(), policy.AdminRegistration, "carol", "carol@example.com", "password-carol"); err != nil {
		t.Fatal(err)
	}
	res = tr.do("PUT", "/-/user/org.couchdb.user:carol", "", map[string]string{"name": "carol", "password": "password-carol"})
	if res.status != 201 {
		t.Fatalf("admin-made user logs in: %d %s", res.status, res.body)
	}
}
