package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

// upstreamRequest is one request an upstream registry was sent, as the
// recorder in front of it saw it.
type upstreamRequest struct {
	method, path, ifNoneMatch string
	status                    int
}

// upstreamLog is the request log of an upstream registry: a recording
// reverse proxy on loopback in front of it, which gatehouse is given as
// its uplink.
type upstreamLog struct {
	mu      sync.Mutex
	entries []upstreamRequest
	hs      *httptest.Server
}

// recordUpstream starts a recorder in front of the registry at target.
// It keeps the Host the client sent, so the registry links its tarballs to
// the recorder.
func recordUpstream(t *testing.T, target string) *upstreamLog {
	t.Helper()
	to, err := url.Parse(strings.TrimRight(target, "/"))
	if err != nil {
		t.Fatal(err)
	}
	l := &upstreamLog{}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(to)
		r.Out.Host = r.In.Host
	}}
	l.hs = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recordingWriter{ResponseWriter: w, status: http.StatusOK}
		proxy.ServeHTTP(rec, r)
		l.mu.Lock()
		l.entries = append(l.entries, upstreamRequest{r.Method, r.URL.EscapedPath(), r.Header.Get("If-None-Match"), rec.status})
		l.mu.Unlock()
	}))
	t.Cleanup(l.hs.Close)
	return l
}

type recordingWriter struct {
	http.ResponseWriter
	status int
}

func (w *recordingWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// URL is where the upstream is reached through the recorder.
func (l *upstreamLog) URL() string { return l.hs.URL }

// Close stops the recorder: the upstream's address refuses connections.
func (l *upstreamLog) Close() {
	l.hs.CloseClientConnections()
	l.hs.Close()
}

func (l *upstreamLog) all() []upstreamRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]upstreamRequest(nil), l.entries...)
}

// about returns the requests since mark whose unescaped path mentions
// name.
func (l *upstreamLog) about(mark int, name string) []upstreamRequest {
	var out []upstreamRequest
	for _, e := range l.all()[mark:] {
		if p, err := url.PathUnescape(e.path); err == nil && strings.Contains(p, name) {
			out = append(out, e)
		}
	}
	return out
}

// publishHTTP publishes spec to the registry at base with token, as npm
// publish would send it (public, so scoped packages too are readable
// anonymously), and fails the test unless it answers 2xx.
func publishHTTP(t *testing.T, base, token string, spec pkgSpec) {
	t.Helper()
	manifest := map[string]any{"name": spec.Name, "version": spec.Version, "main": "index.js", "license": "MIT"}
	if len(spec.Deps) > 0 {
		manifest["dependencies"] = spec.Deps
	}
	pkgJSON, err := json.Marshal(manifest)
	if err != nil {
		t.Fatal(err)
	}
	tgz, err := testkit.Tarball(testkit.File{Name: "package/package.json", Data: pkgJSON},
		testkit.File{Name: "package/index.js", Data: []byte(indexJS(spec))})
	if err != nil {
		t.Fatal(err)
	}
	version := map[string]any{}
	for k, v := range manifest {
		version[k] = v
	}
	body := testkit.PublishBody(map[string]any{"access": "public", "versions": map[string]any{spec.Version: version}},
		spec.Name, spec.Version, tgz)
	res := testkit.Do(t, "PUT", strings.TrimRight(base, "/")+"/"+strings.Replace(spec.Name, "/", "%2f", 1), token, body)
	if res.Status/100 != 2 {
		t.Fatalf("publish %s@%s to %s: %s", spec.Name, spec.Version, base, res)
	}
}

// copyProject copies a project's package.json and lockfile into a new
// folder, for `npm ci` from the lockfile alone.
func copyProject(t *testing.T, from string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"package.json", "package-lock.json"} {
		testkit.WriteFile(t, filepath.Join(dir, f), string(readFile(t, from, f)))
	}
	return dir
}

// writeUplinkConfig writes a TOML config file holding body and returns the
// flag that loads it.
func writeUplinkConfig(t *testing.T, body string) []string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gatehouse.toml")
	testkit.WriteFile(t, path, body)
	return []string{"--config", path}
}

// TestUplinkInstall is a team's registry proxying another gatehouse, with
// the real npm 11 and pnpm: a dependency tree of proxied packages installs
// from ranges and again from the lockfile; local names (@acme/x, and
// internal-tool, which the upstream later gets with a higher version) are
// installed from here without the upstream ever being asked of them;
// publishing a name the upstream has is refused; a stale packument is
// revalidated (304 upstream) and a new upstream version appears after the
// max age; a denied version is neither listed nor downloadable and latest
// moves below it; and with the upstream stopped, `npm ci` into an empty
// cache still installs.
func TestUplinkInstall(t *testing.T) {
	npm := npm11(t)
	pnpm := pnpmTool(t)
	up := startServer(t)
	rec := recordUpstream(t, up.URL())
	types := up.createUser(t, "types")
	for _, spec := range []pkgSpec{
		{Name: "uplink-leaf", Version: "1.0.0"},
		{Name: "uplink-leaf", Version: "1.1.0"},
		{Name: "uplink-app", Version: "1.0.0", Deps: map[string]string{"uplink-leaf": "^1.0.0", "@types/uplink-typed": "^2.0.0"}},
		{Name: "@types/uplink-typed", Version: "2.0.0"},
		{Name: "@types/uplink-typed", Version: "2.1.0"},
		{Name: "express", Version: "4.18.2"},
	} {
		publishHTTP(t, up.URL(), types, spec)
	}

	proxy := startServer(t, writeUplinkConfig(t, fmt.Sprintf(`
[[uplinks]]
name = "up"
url = %q
max_age = "1s"
deny = [{ package = "uplink-leaf@1.2.0", reason = "a broken build, see ticket 42" }]
`, rec.URL()))...)
	// Local packages: @acme/x in the scope of the local user acme, and the
	// unscoped internal-tool, created while the upstream has no such name.
	acme := proxy.createUser(t, "acme")
	publishHTTP(t, proxy.URL(), acme, pkgSpec{Name: "@acme/x", Version: "1.0.0"})
	publishHTTP(t, proxy.URL(), acme, pkgSpec{Name: "internal-tool", Version: "1.0.0"})
	// Then an attacker publishes the same names upstream, with higher versions.
	publishHTTP(t, up.URL(), types, pkgSpec{Name: "internal-tool", Version: "9.0.0"})
	publishHTTP(t, up.URL(), up.createUser(t, "acme"), pkgSpec{Name: "@acme/x", Version: "9.0.0"})
	mark := len(rec.all())

	c := newClient(t, proxy, npm)
	project := makeProject(t, map[string]string{"uplink-app": "^1.0.0", "internal-tool": "*", "@acme/x": "*"})
	c.mustRun(project, "install")
	assertInstalled(t, project, "uplink-app", "1.0.0")
	assertInstalled(t, project, "uplink-leaf", "1.1.0")
	assertInstalled(t, project, "@types/uplink-typed", "2.1.0")
	assertInstalled(t, project, "internal-tool", "1.0.0")
	assertInstalled(t, project, "@acme/x", "1.0.0")
	if got := requireIn(t, project, "uplink-app"); got.Deps["uplink-leaf"] != "1.1.0" {
		t.Errorf("uplink-app resolved uplink-leaf %q", got.Deps["uplink-leaf"])
	}
	lock := string(readFile(t, project, "package-lock.json"))
	if !strings.Contains(lock, strings.TrimRight(proxy.URL(), "/")+"/uplink-leaf/-/uplink-leaf-1.1.0.tgz") || strings.Contains(lock, rec.URL()) {
		t.Errorf("the lockfile should resolve proxied packages to gatehouse, never to the upstream:\n%s", lock)
	}
	for _, name := range []string{"internal-tool", "@acme/x", "acme"} {
		for _, e := range rec.about(mark, name) {
			t.Errorf("the upstream was asked about the local name %s: %s %s", name, e.method, e.path)
		}
	}
	if n := len(rec.about(mark, "uplink-leaf-1.1.0.tgz")); n != 1 {
		t.Errorf("the upstream was asked for uplink-leaf's tarball %d times, want 1", n)
	}

	// The lockfile installs again with npm ci, and pnpm installs the tree.
	c.mustRun(copyProject(t, project), "ci")
	pnpmProject := makeProject(t, map[string]string{"uplink-app": "^1.0.0"})
	newClient(t, proxy, pnpm).mustRun(pnpmProject, "install")
	assertInstalled(t, pnpmProject, "uplink-app", "1.0.0")
	if got := requireIn(t, pnpmProject, "uplink-app"); got.Deps["uplink-leaf"] != "1.1.0" || got.Deps["@types/uplink-typed"] != "2.1.0" {
		t.Errorf("pnpm: uplink-app resolved %v", got.Deps)
	}

	// A name the upstream has cannot be published here.
	owner := newClient(t, proxy, npm).login(acme)
	res := owner.mustFail(makePackage(t, pkgSpec{Name: "express", Version: "5.0.0"}), []string{"E403"}, "publish")
	if !strings.Contains(res.Output(), "express exists on uplink up") {
		t.Errorf("publishing express: %s", res)
	}

	// Past the max age, a read is answered from the cache and revalidated
	// upstream: 304 while nothing changed.
	time.Sleep(1100 * time.Millisecond)
	mark = len(rec.all())
	c.mustRun("", "view", "uplink-leaf", "versions", "--prefer-online")
	waitUntil(t, time.Minute, "a 304 from the upstream for uplink-leaf", func() bool {
		for _, e := range rec.about(mark, "uplink-leaf") {
			if e.path == "/uplink-leaf" && e.ifNoneMatch != "" && e.status == http.StatusNotModified {
				return true
			}
		}
		return false
	})
	// New versions upstream: 1.2.0 is denied here, 1.0.1 of uplink-app
	// appears once the max age has passed.
	publishHTTP(t, up.URL(), types, pkgSpec{Name: "uplink-leaf", Version: "1.2.0"})
	publishHTTP(t, up.URL(), types, pkgSpec{Name: "uplink-app", Version: "1.0.1", Deps: map[string]string{"uplink-leaf": "^1.0.0"}})
	published := len(rec.all())
	waitUntil(t, time.Minute, "uplink-app 1.0.1 through the proxy", func() bool {
		return strings.Contains(c.mustRun("", "view", "uplink-app", "versions", "--json", "--prefer-online").Stdout, "1.0.1")
	})
	// uplink-leaf changed upstream too: once a read past its max age has
	// had it revalidated (200, a new document), it is served as changed.
	waitUntil(t, time.Minute, "the upstream's 200 for the changed uplink-leaf", func() bool {
		c.mustRun("", "view", "uplink-leaf", "versions", "--prefer-online")
		for _, e := range rec.about(published, "uplink-leaf") {
			if e.path == "/uplink-leaf" && e.status == http.StatusOK {
				return true
			}
		}
		return false
	})
	for _, v := range c.viewList("uplink-leaf", "versions", "--prefer-online") {
		if v == "1.2.0" {
			t.Errorf("the denied uplink-leaf@1.2.0 is listed")
		}
	}
	latest := makeProject(t, nil)
	c.mustRun(latest, "install", "uplink-leaf@latest")
	assertInstalled(t, latest, "uplink-leaf", "1.1.0")
	denied := testkit.Do(t, "GET", proxy.URL()+"uplink-leaf/-/uplink-leaf-1.2.0.tgz", "", nil)
	if denied.Status != http.StatusForbidden || !strings.Contains(string(denied.Body), "a broken build, see ticket 42") {
		t.Errorf("the denied version's tarball: %s", denied)
	}

	// The upstream stops; the lockfile installs into an empty cache.
	rec.Close()
	up.Stop(t)
	offline := copyProject(t, project)
	newClient(t, proxy, npm).mustRun(offline, "ci")
	assertInstalled(t, offline, "uplink-app", "1.0.0")
	assertInstalled(t, offline, "uplink-leaf", "1.1.0")
	assertInstalled(t, offline, "internal-tool", "1.0.0")
}

// waitUntil polls done until it holds, failing the test after within.
func waitUntil(t *testing.T, within time.Duration, what string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestUplinkBadSettings: an uplink URL that is not http(s) stops gatehouse
// with a clear error; an unreachable one does not, and is logged.
func TestUplinkBadSettings(t *testing.T) {
	out, code := runGatehouse(t, "", "serve", "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--uplink", "up=ftp://127.0.0.1/npm")
	if code == 0 || !strings.Contains(out, `"ftp://127.0.0.1/npm": must be an http:// or https:// URL`) {
		t.Errorf("an ftp uplink: exit %d\n%s", code, out)
	}
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, "--uplink", "up=http://"+addr)
	waitUntil(t, 30*time.Second, "log line about the unreachable uplink", func() bool {
		return strings.Contains(srv.Logs(), "uplink unreachable")
	})
	res := srv.do(t, "GET", "left-pad", "", nil)
	if res.Status != http.StatusBadGateway || !strings.Contains(string(res.Body), "uplink up could not be reached") {
		t.Errorf("a package from the unreachable uplink: %s", res)
	}
}

// verdaccio is Verdaccio 6, as bench/run.sh installs it, run by Node 24.
var verdaccioCLI = cliPackage{pkg: "verdaccio", version: "6.10.4", entry: "bin/verdaccio", node24: true}

// TestUplinkVerdaccio proxies a foreign registry, Verdaccio, which lets
// only its users read: gatehouse reads with a token from an environment
// variable, and npm installs a package published there.
func TestUplinkVerdaccio(t *testing.T) {
	npm := npm11(t)
	argv := cachedTool(t, verdaccioCLI)
	dir := t.TempDir()
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	testkit.WriteFile(t, filepath.Join(dir, "config.yaml"), fmt.Sprintf(`storage: %s/storage
web:
  enable: false
auth:
  htpasswd:
    file: %s/htpasswd
uplinks: {}
packages:
  '@*/*':
    access: $authenticated
    publish: $authenticated
  '**':
    access: $authenticated
    publish: $authenticated
log:
  type: stdout
  format: json
  level: warn
`, dir, dir))
	vd := startProcess(t, "verdaccio", append(argv, "--config", filepath.Join(dir, "config.yaml"), "--listen", addr))
	base := "http://" + addr
	waitUntil(t, 60*time.Second, "Verdaccio answering", func() bool {
		res, err := http.Get(base + "/-/ping")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	login := testkit.Do(t, "PUT", base+"/-/user/org.couchdb.user:bob", "",
		map[string]any{"name": "bob", "password": "verdaccio-secret-1", "type": "user", "roles": []any{}})
	var session struct {
		Token string `json:"token"`
	}
	if login.Status != http.StatusCreated || json.Unmarshal(login.Body, &session) != nil || session.Token == "" {
		t.Fatalf("add a Verdaccio user: %s\n%s", login, vd.String())
	}
	publishHTTP(t, base, session.Token, pkgSpec{Name: "vd-dep", Version: "1.0.0"})
	publishHTTP(t, base, session.Token, pkgSpec{Name: "@vd/tool", Version: "2.0.0", Deps: map[string]string{"vd-dep": "^1.0.0"}})

	rec := recordUpstream(t, base)
	proxy := startServerWith(t, serverSetup{
		env: []string{"VERDACCIO_TOKEN=" + session.Token},
		args: writeUplinkConfig(t, fmt.Sprintf(`
[[uplinks]]
name = "verdaccio"
url = %q
token_env = "VERDACCIO_TOKEN"
`, rec.URL())),
	})
	project := makeProject(t, map[string]string{"@vd/tool": "^2.0.0"})
	newClient(t, proxy, npm).mustRun(project, "install")
	assertInstalled(t, project, "@vd/tool", "2.0.0")
	assertInstalled(t, project, "vd-dep", "1.0.0")
	if strings.Contains(proxy.Logs(), session.Token) {
		t.Error("gatehouse logged the uplink's token")
	}
	if len(rec.about(0, "vd-dep-1.0.0.tgz")) != 1 {
		t.Errorf("want one upstream request for vd-dep's tarball: %v", rec.all())
	}
}

// process is a program other than gatehouse that a test runs, stopped when
// the test ends.
type process struct {
	logs *testkit.SyncBuffer
}

func (p *process) String() string { return tail(p.logs.String(), 4000) }

// startProcess starts argv, its output kept, and kills it when the test ends.
func startProcess(t *testing.T, name string, argv []string) *process {
	t.Helper()
	p := &process{logs: &testkit.SyncBuffer{}}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	cmd.Env = append(os.Environ(), "NO_UPDATE_NOTIFIER=1")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return p
}
