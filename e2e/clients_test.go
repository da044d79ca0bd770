package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

// Every client the README names, each at an exact version, as an isolated
// user pointed only at a test server: it logs in where it has a command for
// that, publishes, and installs a public and a restricted package.

// clientKind is a family of package-manager CLIs: how it is configured and
// which commands it has.
type clientKind int

const (
	kindNPM clientKind = iota
	kindPnpm
	kindYarn1
	kindYarn4
	kindBun
)

// clientCase is one client and version under test.
type clientCase struct {
	name string
	kind clientKind
	cli  cliPackage
}

// testedClients are the clients the README says work.
var testedClients = []clientCase{
	{"npm10", kindNPM, npm10CLI},
	{"npm11", kindNPM, npm11CLI},
	{"npm12", kindNPM, npm12CLI},
	{"pnpm10", kindPnpm, pnpmCLI},
	{"pnpm11", kindPnpm, pnpm11CLI},
	{"yarn1", kindYarn1, yarn1CLI},
	{"yarn4", kindYarn4, yarn4CLI},
	{"bun", kindBun, bunCLI},
}

// pmClient is an npmClient of any kind: the same isolated home, with the
// configuration files of its kind.
type pmClient struct {
	*npmClient
	kind clientKind
	// bunfig, when set, is written as bunfig.toml into every project the
	// client makes (bun's project configuration, instead of .npmrc).
	bunfig string
}

// newPMClient makes an anonymous client of cc for srv. Only files in its home
// (or bun's project bunfig.toml, see useTokenFromEnv) tell it where the
// registry is: npm, pnpm and bun read $HOME/.npmrc, yarn 1 $HOME/.yarnrc
// (and its tokens from $HOME/.npmrc), yarn 4 $HOME/.yarnrc.yml.
func newPMClient(t *testing.T, srv *server, cc clientCase) *pmClient {
	t.Helper()
	tl := tool{name: cc.name, argv: cachedTool(t, cc.cli), pnpm: cc.kind == kindPnpm}
	c := &pmClient{npmClient: newClient(t, srv, tl), kind: cc.kind}
	switch cc.kind {
	case kindYarn1:
		// The registry comes from .yarnrc alone; .npmrc holds only tokens.
		c.writeRC("")
		testkit.WriteFile(t, filepath.Join(c.home, ".yarnrc"),
			fmt.Sprintf("registry %q\ndisable-self-update-check true\n", srv.URL()))
		// Run as root, yarn 1 takes /usr/local/share for the home folder
		// (where `yarn login` would write) unless it is told that it runs
		// under fakeroot.
		c.extraEnv = append(c.extraEnv, "YARN_CACHE_FOLDER="+filepath.Join(c.home, "yarn-cache"), "FAKEROOTKEY=1")
	case kindPnpm:
		// pnpm 11 reads only registry and auth settings from .npmrc, the
		// rest from its global config.yaml, and by default installs no
		// version younger than a day (minimumReleaseAge, in minutes), so
		// what was published a moment ago would not install. pnpm 10
		// reads neither.
		testkit.WriteFile(t, filepath.Join(c.home, ".config", "pnpm", "config.yaml"), fmt.Sprintf(
			"minimumReleaseAge: 0\nstoreDir: %s\ncacheDir: %s\n",
			filepath.Join(c.home, "pnpm-store"), filepath.Join(c.home, "pnpm-cache")))
	case kindYarn4:
		c.writeRC("") // yarn 4 never reads .npmrc
		c.writeYarnrc("")
	case kindBun:
		c.extraEnv = append(c.extraEnv, "BUN_INSTALL_CACHE_DIR="+filepath.Join(c.home, "bun-cache"), "DO_NOT_TRACK=1")
	}
	return c
}

// yarnrcYML is yarn 4's configuration for registryURL (with its trailing
// slash): plain HTTP allowed for the loopback address, and the age gate that
// hides versions younger than a day turned off, so what was published a
// moment ago installs.
func yarnrcYML(registryURL string) string {
	return fmt.Sprintf(`npmRegistryServer: %q
unsafeHttpWhitelist:
  - "127.0.0.1"
npmMinimalAgeGate: 0
enableTelemetry: false
nodeLinker: node-modules
`, strings.TrimSuffix(registryURL, "/"))
}

// writeYarnrc writes yarn 4's $HOME/.yarnrc.yml with extra lines.
func (c *pmClient) writeYarnrc(extra string) {
	c.t.Helper()
	testkit.WriteFile(c.t, filepath.Join(c.home, ".yarnrc.yml"), yarnrcYML(c.url)+extra)
}

// useToken makes the client send token, written where its kind keeps a
// token that `login` would have saved.
func (c *pmClient) useToken(token string) *pmClient {
	c.t.Helper()
	if c.kind == kindYarn4 {
		c.writeYarnrc(fmt.Sprintf("npmAuthToken: %q\n", token))
		return c
	}
	c.login(token)
	return c
}

// useTokenFromEnv makes the client send token from the environment variable
// NPM_TOKEN, as CI configurations do: ${NPM_TOKEN} in .npmrc or
// .yarnrc.yml, $NPM_TOKEN in bun's project bunfig.toml.
func (c *pmClient) useTokenFromEnv(token string) *pmClient {
	c.t.Helper()
	c.extraEnv = append(c.extraEnv, "NPM_TOKEN="+token)
	switch c.kind {
	case kindYarn4:
		c.writeYarnrc("npmAuthToken: \"${NPM_TOKEN}\"\n")
	case kindBun:
		c.writeRC("")
		c.bunfig = fmt.Sprintf("[install]\nregistry = { url = %q, token = \"$NPM_TOKEN\" }\n", c.url)
	default:
		c.writeRC(c.readRC() + c.authKey() + "=${NPM_TOKEN}\n")
	}
	return c
}

// project makes a consumer project depending on deps, with what the client
// needs to treat it as one.
func (c *pmClient) project(deps map[string]string) string {
	c.t.Helper()
	dir := makeProject(c.t, deps)
	if c.kind == kindYarn4 {
		// The lockfile marks the project's root, so yarn never looks above it.
		testkit.WriteFile(c.t, filepath.Join(dir, "yarn.lock"), "")
	}
	if c.bunfig != "" {
		testkit.WriteFile(c.t, filepath.Join(dir, "bunfig.toml"), c.bunfig)
	}
	return dir
}

// add installs specs into project and adds them to its package.json.
func (c *pmClient) add(project string, specs ...string) cmdResult {
	c.t.Helper()
	verb := "add"
	if c.kind == kindNPM {
		verb = "install"
	}
	return c.run(project, append([]string{verb}, specs...)...)
}

// mustAdd is add that fails the test unless the client succeeds.
func (c *pmClient) mustAdd(project string, specs ...string) {
	c.t.Helper()
	if res := c.add(project, specs...); res.Code != 0 {
		c.t.Fatalf("unexpected failure:\n%s", res)
	}
}

// publishDir publishes the package folder dir with the client's own
// command, whatever the outcome.
func (c *pmClient) publishDir(dir string) cmdResult {
	c.t.Helper()
	switch c.kind {
	case kindPnpm:
		return c.run(dir, "publish", "--no-git-checks")
	case kindYarn1:
		return c.run(dir, "publish", "--non-interactive")
	case kindBun:
		if c.bunfig != "" {
			testkit.WriteFile(c.t, filepath.Join(dir, "bunfig.toml"), c.bunfig)
		}
	case kindYarn4:
		// yarn 4 publishes a workspace of an installed project.
		testkit.WriteFile(c.t, filepath.Join(dir, "yarn.lock"), "")
		if res := c.run(dir, "install"); res.Code != 0 {
			return res
		}
		return c.run(dir, "npm", "publish")
	}
	return c.run(dir, "publish")
}

// mustPublish writes spec's package and publishes it, failing the test
// unless the client succeeds.
func (c *pmClient) mustPublish(spec pkgSpec) {
	c.t.Helper()
	if res := c.publishDir(makePackage(c.t, spec)); res.Code != 0 {
		c.t.Fatalf("unexpected failure:\n%s", res)
	}
}

// yarnMessage matches the name yarn 4 prints after `yarn npm whoami`.
var yarnMessage = regexp.MustCompile(`(?m)^➤ YN0000: (\S+)\s*$`)

// whoami runs the client's whoami command and returns the name it prints;
// ok is false for a client that has none (yarn 1).
func (c *pmClient) whoami() (name string, ok bool) {
	c.t.Helper()
	switch c.kind {
	case kindYarn1:
		return "", false
	case kindYarn4:
		res := c.mustRun("", "npm", "whoami")
		m := yarnMessage.FindStringSubmatch(res.Stdout)
		if m == nil {
			c.t.Fatalf("yarn npm whoami printed no name:\n%s", res)
		}
		return m[1], true
	case kindBun:
		return strings.TrimSpace(c.mustRun("", "pm", "whoami").Stdout), true
	}
	return strings.TrimSpace(c.mustRun("", "whoami").Stdout), true
}

// webLoginURL matches the line where npm (`Login at:`) and pnpm 11
// (`Authenticate your account at:`) print the page that finishes a login.
const webLoginURL = `(?:Login at|Authenticate your account at):\s*(https?://\S+)\r?\n`

// logIn logs the client in as name with the client's own login command and
// reports whether it has one: npm and pnpm (pnpm 10 hands `login` to npm)
// through the website, yarn 4 with the password on a terminal. yarn 1's
// `yarn login` only stores a name (TestYarn1PublishAsksForPassword), and bun
// has no login command.
func (c *pmClient) logIn(srv *server, name string) bool {
	c.t.Helper()
	t := c.t
	switch c.kind {
	case kindNPM, kindPnpm:
		signedIn := false
		out, code := c.drive("", false, []step{onOutput(webLoginURL, func(m []string) {
			assertConfirmURL(t, srv, m[1])
			assertPage(t, "sign in", browse(t, m[1], url.Values{"username": {name}, "password": {passwordOf(name)}}),
				http.StatusOK, "You are signed in")
			signedIn = true
		})}, "login")
		if code != 0 || !signedIn {
			t.Fatalf("%s login exited %d:\n%s", c.tool.name, code, out)
		}
		return true
	case kindYarn4:
		out, code := c.runInteractive("", loginPrompts(name, passwordOf(name)), "npm", "login")
		if code != 0 || !strings.Contains(out, "Successfully logged in") {
			t.Fatalf("yarn npm login exited %d:\n%s", code, out)
		}
		return true
	}
	return false
}

// yarnToken matches a token in yarn 4's .yarnrc.yml.
var yarnToken = regexp.MustCompile(`(?m)^\s*npmAuthToken: "?([^"\s]+)"?\s*$`)

// savedSession returns the token the client's login saved in its home; ""
// when there is none.
func (c *pmClient) savedSession() string {
	c.t.Helper()
	switch c.kind {
	case kindYarn4:
		m := yarnToken.FindStringSubmatch(string(readFile(c.t, c.home, ".yarnrc.yml")))
		if m == nil {
			return ""
		}
		return m[1]
	case kindPnpm:
		// pnpm 11 keeps it in its global auth.ini, not in .npmrc.
		if b, err := os.ReadFile(filepath.Join(c.home, ".config", "pnpm", "auth.ini")); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(strings.TrimSpace(line), c.authKey()+"="); ok {
					return strings.Trim(v, `"`)
				}
			}
		}
	}
	return c.savedToken()
}

// createReadToken creates a granular token of user that may read the
// packages of scope, and nothing else.
func createReadToken(t *testing.T, srv *server, session, user, scope string) string {
	t.Helper()
	res := srv.do(t, http.MethodPost, "-/npm/v1/tokens", session, map[string]any{
		"password": passwordOf(user), "name": "read " + scope, "scopes": []string{scope},
		"packages_and_scopes_permission": "read-only"})
	if res.Status != http.StatusCreated {
		t.Fatalf("create a read-only token for %s: %s", scope, res)
	}
	var o tokenObj
	decodeJSON(t, res.Body, &o)
	if o.Token == "" {
		t.Fatalf("token create answered no token: %s", res)
	}
	return o.Token
}

// packagePath is the path of a package's document: "@scope%2fname" or
// "name".
func packagePath(name string) string {
	return strings.Replace(name, "/", "%2f", 1)
}

// publishedVersion is what the tests read back from a packument's versions.
type publishedVersion struct {
	Name         string            `json:"name"`
	Version      string            `json:"version"`
	Dependencies map[string]string `json:"dependencies"`
	NpmUser      struct {
		Name string `json:"name"`
	} `json:"_npmUser"`
	Dist struct {
		Tarball   string `json:"tarball"`
		Integrity string `json:"integrity"`
		Shasum    string `json:"shasum"`
	} `json:"dist"`
}

// packument reads name's full document as token's user.
func packument(t *testing.T, srv *server, token, name string) (distTags map[string]string, versions map[string]publishedVersion) {
	t.Helper()
	res := srv.do(t, http.MethodGet, packagePath(name), token, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("GET /%s: got %s, want 200", packagePath(name), res)
	}
	var doc struct {
		DistTags map[string]string           `json:"dist-tags"`
		Versions map[string]publishedVersion `json:"versions"`
	}
	decodeJSON(t, res.Body, &doc)
	return doc.DistTags, doc.Versions
}

// assertPublished checks that the server holds spec as user published it:
// the version document, and a tarball at the advertised URL whose digests
// are the advertised ones and whose files are the ones written.
func assertPublished(t *testing.T, srv *server, token, user string, spec pkgSpec) {
	t.Helper()
	_, versions := packument(t, srv, token, spec.Name)
	v, ok := versions[spec.Version]
	if !ok {
		t.Fatalf("%s has versions %v, want %s", spec.Name, slices.Sorted(maps.Keys(versions)), spec.Version)
	}
	if v.Name != spec.Name || v.Version != spec.Version || v.NpmUser.Name != user {
		t.Errorf("%s@%s is published as %s@%s by %q, want by %s", spec.Name, spec.Version, v.Name, v.Version, v.NpmUser.Name, user)
	}
	if !maps.Equal(v.Dependencies, spec.Deps) {
		t.Errorf("%s@%s has dependencies %v, want %v", spec.Name, spec.Version, v.Dependencies, spec.Deps)
	}
	_, bare := splitScope(spec.Name)
	if want := srv.URL() + spec.Name + "/-/" + bare + "-" + spec.Version + ".tgz"; v.Dist.Tarball != want {
		t.Errorf("%s@%s tarball URL %q, want %q", spec.Name, spec.Version, v.Dist.Tarball, want)
	}
	res := srv.do(t, http.MethodGet, strings.TrimPrefix(v.Dist.Tarball, srv.URL()), token, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("GET %s: %d", v.Dist.Tarball, res.Status)
	}
	if want := testkit.Integrity(res.Body); v.Dist.Integrity != want {
		t.Errorf("%s@%s integrity %q, but the tarball's is %q", spec.Name, spec.Version, v.Dist.Integrity, want)
	}
	if want := testkit.Shasum(res.Body); v.Dist.Shasum != want {
		t.Errorf("%s@%s shasum %q, but the tarball's is %q", spec.Name, spec.Version, v.Dist.Shasum, want)
	}
	files := tarballFiles(t, res.Body)
	if got, want := files["package/index.js"], indexJS(spec); got != want {
		t.Errorf("%s@%s package/index.js = %q, want %q", spec.Name, spec.Version, got, want)
	}
	var manifest struct{ Name, Version string }
	decodeJSON(t, []byte(files["package/package.json"]), &manifest)
	if manifest.Name != spec.Name || manifest.Version != spec.Version {
		t.Errorf("%s@%s package/package.json names %s@%s", spec.Name, spec.Version, manifest.Name, manifest.Version)
	}
}

// splitScope splits "@scope/name" into "@scope" and "name".
func splitScope(name string) (scope, bare string) {
	if s, b, ok := strings.Cut(name, "/"); ok {
		return s, b
	}
	return "", name
}

// tarballFiles reads a gzipped tarball into a map of regular files.
func tarballFiles(t *testing.T, tgz []byte) map[string]string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		t.Fatalf("tarball is not gzip: %v", err)
	}
	tr := tar.NewReader(zr)
	files := map[string]string{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatalf("read tarball: %v", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("read %s from tarball: %v", h.Name, err)
		}
		files[h.Name] = string(b)
	}
}

// assertRefused checks that a client command failed and printed one of want
// (the HTTP status, or the error message of the answer, which some clients
// show instead).
func assertRefused(t *testing.T, res cmdResult, want ...string) {
	t.Helper()
	if res.Code == 0 {
		t.Fatalf("succeeded, want a failure with one of %q:\n%s", want, res)
	}
	for _, w := range want {
		if strings.Contains(res.Output(), w) {
			return
		}
	}
	t.Fatalf("failed without any of %q in its output:\n%s", want, res)
}

// TestClients runs every client through the same story: log in and ask who
// it is, publish a public package (two versions) and a restricted scoped one
// that depends on it, install the restricted one with a granular read-only
// token taken from the environment, install the public one anonymously, and
// be refused where the token or its absence does not allow.
func TestClients(t *testing.T) {
	t.Parallel()
	for _, cc := range testedClients {
		t.Run(cc.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t)
			session := srv.createUser(t, "alice")
			lib, secret := "e2e-"+cc.name+"-lib", "@alice/"+cc.name+"-secret"

			publisher := newPMClient(t, srv, cc)
			if got := strings.TrimSpace(publisher.mustRun("", "--version").Stdout); got != cc.cli.version {
				t.Fatalf("%s --version = %q, want %s", cc.name, got, cc.cli.version)
			}
			if publisher.logIn(srv, "alice") {
				// The login made a session of its own and saved it.
				saved := publisher.savedSession()
				if saved == "" || saved == session {
					t.Fatalf("login saved token %q, want a new session", saved)
				}
				if got := whoamiName(t, srv.whoami(t, saved)); got != "alice" {
					t.Errorf("the saved token belongs to %q, want alice", got)
				}
			} else {
				publisher.useToken(session)
			}
			if name, ok := publisher.whoami(); ok && name != "alice" {
				t.Errorf("%s whoami = %q, want alice", cc.name, name)
			}

			// Funding links, which no install asks for, take the library's
			// packuments past the size gatehouse gzips from.
			var funding []string
			for i := range 100 {
				funding = append(funding, fmt.Sprintf("https://example.com/funding/%s/%04d", lib, i))
			}
			libSpecs := []pkgSpec{{Name: lib, Version: "1.0.0", Funding: funding}, {Name: lib, Version: "1.1.0", Funding: funding}}
			secretSpec := pkgSpec{Name: secret, Version: "1.0.0", Deps: map[string]string{lib: "^1.0.0"}}
			for _, spec := range append(libSpecs, secretSpec) {
				publisher.mustPublish(spec)
				assertPublished(t, srv, session, "alice", spec)
			}
			if tags, _ := packument(t, srv, session, lib); tags["latest"] != "1.1.0" {
				t.Errorf("%s dist-tags %v, want latest 1.1.0", lib, tags)
			}
			// A scoped package is restricted unless published public.
			if res := srv.do(t, http.MethodGet, packagePath(secret), "", nil); res.Status != http.StatusNotFound {
				t.Errorf("anonymous GET of %s: got %s, want 404", secret, res)
			}

			t.Run("read-only token installs the restricted package", func(t *testing.T) {
				reader := newPMClient(t, srv, cc).useTokenFromEnv(createReadToken(t, srv, session, "alice", "@alice"))
				project := reader.project(nil)
				reader.mustAdd(project, secret)
				assertInstalled(t, project, secret, "1.0.0")
				if got := requireIn(t, project, secret).Deps[lib]; got != "1.1.0" {
					t.Errorf("%s resolves %s %q, want 1.1.0", secret, lib, got)
				}

				// The token may read, never write.
				res := reader.publishDir(makePackage(t, pkgSpec{Name: lib, Version: "2.0.0"}))
				assertRefused(t, res, "403", "This token has no write access")
				if _, versions := packument(t, srv, session, lib); len(versions) != 2 {
					t.Errorf("%s has versions %v after a refused publish, want 1.0.0 and 1.1.0",
						lib, slices.Sorted(maps.Keys(versions)))
				}
			})

			t.Run("anonymous installs the public package only", func(t *testing.T) {
				anon := newPMClient(t, srv, cc)
				project := anon.project(nil)
				sizes := packumentSizes(t, srv, lib)
				logged := len(srv.Logs())
				anon.mustAdd(project, lib+"@^1.0.0")
				assertInstalled(t, project, lib, "1.1.0")
				assertPackumentsGzipped(t, srv, logged, lib, lib+"-1.1.0.tgz", sizes)

				hidden := anon.project(nil)
				assertRefused(t, anon.add(hidden, secret), "404", "Not found")
				assertNotInstalled(t, hidden, secret)
			})
		})
	}
}

// TestYarn1PublishAsksForPassword: yarn 1 has no token login. `yarn login`
// stores a user name; `yarn publish` without a token asks for the password,
// logs in with npm's couch request, publishes with the session it got and
// revokes that session when done.
func TestYarn1PublishAsksForPassword(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	srv.createUser(t, "alice")
	c := newPMClient(t, srv, clientCase{"yarn1", kindYarn1, yarn1CLI})

	out, code := c.runInteractive("", []prompt{{"npm username:", "alice"}, {"npm email:", emailOf("alice")}}, "login")
	if code != 0 {
		t.Fatalf("yarn login exited %d:\n%s", code, out)
	}
	yarnrc := string(readFile(t, c.home, ".yarnrc"))
	if !strings.Contains(yarnrc, `username alice`) {
		t.Errorf("yarn login did not store the user name:\n%s", yarnrc)
	}

	spec := pkgSpec{Name: "e2e-yarn1-login", Version: "1.0.0"}
	out, code = c.runInteractive(makePackage(t, spec), []prompt{{"npm password:", passwordOf("alice")}},
		"publish", "--new-version", spec.Version)
	if code != 0 {
		t.Fatalf("yarn publish exited %d:\n%s", code, out)
	}
	for _, want := range []string{"Logged in.", "Published.", "Revoked login token."} {
		if !strings.Contains(out, want) {
			t.Errorf("yarn publish output lacks %q:\n%s", want, out)
		}
	}
	assertPublished(t, srv, "", "alice", spec)
	// The session yarn made is gone: its revocation reached the server, and
	// nothing of it stayed in the client's files.
	if !srv.LogHas(regexp.MustCompile(`method=DELETE route=logout path=\S+ status=200`).MatchString) {
		t.Errorf("the server log shows no revoked session:\n%s", tail(srv.Logs(), 4096))
	}
	if rc := c.readRC(); strings.Contains(rc, "_authToken") {
		t.Errorf("yarn kept a token in .npmrc:\n%s", rc)
	}
}

// packumentSizes reads name's abbreviated and full packuments with HEAD
// (whose access lines assertPackumentsGzipped does not count), gzipped
// and not, and returns their sizes, each with its encoding ("" for JSON).
// A document goes out gzipped from its second read since it last changed,
// and this node's own changes come back through the change feed within a
// poll (250 ms on SQLite), making the documents stale once more: so it
// reads until both have come gzipped for a second. It returns once the
// access log holds every request made before it returns.
func packumentSizes(t *testing.T, srv *server, name string) map[int64]string {
	t.Helper()
	accepts := []string{"application/vnd.npm.install-v1+json", "application/json"}
	sizes := map[int64]string{}
	heads := 0
	head := func(accept, enc string) string {
		t.Helper()
		heads++
		res := testkit.Do(t, http.MethodHead, srv.URL()+packagePath(name), "", nil, "Accept", accept, "Accept-Encoding", enc)
		n, err := strconv.ParseInt(res.Header.Get("Content-Length"), 10, 64)
		if res.Status != http.StatusOK || err != nil {
			t.Fatalf("HEAD %s as %s, %s: %d, Content-Length %q", name, accept, enc, res.Status, res.Header.Get("Content-Length"))
		}
		got := res.Header.Get("Content-Encoding")
		sizes[n] = got
		return got
	}
	for _, accept := range accepts {
		head(accept, "identity")
	}
	deadline := time.Now().Add(10 * time.Second)
	var steady time.Time // since when every read came gzipped
	for steady.IsZero() || time.Since(steady) < time.Second {
		gzipped := true
		for _, accept := range accepts {
			gzipped = head(accept, "gzip") == "gzip" && gzipped
		}
		switch {
		case !gzipped:
			steady = time.Time{}
		case steady.IsZero():
			steady = time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("HEAD %s, gzip: not gzipped for a second on end within 10s", name)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The access log is written off the request path, in order: once the
	// last of these HEADs is in it, so is every request before them.
	want := []string{"msg=request", "method=HEAD", "path=/" + packagePath(name) + " "}
	if !srv.LogHas(func(logs string) bool { return countLines(logs, want) >= heads }) {
		t.Fatalf("the access log lacks the HEADs of %s", name)
	}
	return sizes
}

// countLines counts the lines of logs that hold every one of subs.
func countLines(logs string, subs []string) int {
	n := 0
	for _, line := range strings.Split(logs, "\n") {
		if containsAll(line, subs) {
			n++
		}
	}
	return n
}

// assertPackumentsGzipped checks that every packument of name the server
// served with 200 after the first from bytes of its log went out gzipped
// (the client asked for gzip, as every client tested does, and unpacked
// it, or the install would have failed): each access line's byte count
// must be one of sizes (packumentSizes) that is gzip's, never the JSON's.
// The access log is written off the request path, in order: the lines
// are read once it holds the install's download of tarball, which follows
// the packument reads.
func assertPackumentsGzipped(t *testing.T, srv *server, from int, name, tarball string, sizes map[int64]string) {
	t.Helper()
	since := func(logs string) string { return logs[min(from, len(logs)):] }
	downloaded := []string{"msg=request", "method=GET", "path=/" + name + "/-/" + tarball + " ", "status=200"}
	if !srv.LogHas(func(logs string) bool { return countLines(since(logs), downloaded) > 0 }) {
		t.Fatalf("no access line of the download of %s", tarball)
	}
	want := []string{"msg=request", "method=GET", "path=/" + packagePath(name) + " ", "status=200"}
	served := 0
	for _, line := range strings.Split(since(srv.Logs()), "\n") {
		if !containsAll(line, want) {
			continue
		}
		_, after, _ := strings.Cut(line, " bytes=")
		n, err := strconv.ParseInt(strings.Fields(after + " ")[0], 10, 64)
		if err != nil {
			t.Fatalf("access line without a byte count: %s", line)
		}
		served++
		if sizes[n] != "gzip" {
			t.Errorf("the packument of %s went out as %d bytes; gzipped it is one of %v", name, n, sizes)
		}
	}
	if served == 0 {
		t.Fatalf("no access line of a packument of %s", name)
	}
}

// containsAll reports whether s holds every one of subs.
func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
