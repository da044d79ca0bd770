package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

// commandTimeout bounds one npm or pnpm invocation.
const commandTimeout = 2 * time.Minute

// tool is one package-manager CLI: the command line that starts it.
type tool struct {
	name string   // label for test names: npm11, npm10, pnpm
	argv []string // e.g. ["/usr/bin/npm"] or ["/usr/bin/node", ".../npm-cli.js"]
	pnpm bool
}

// unavailable skips the test, or fails it on CI, where every client must be
// there.
func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// npm11 is the machine's own npm.
func npm11(t *testing.T) tool {
	t.Helper()
	path, err := exec.LookPath("npm")
	if err != nil {
		unavailable(t, "no npm on PATH: %v", err)
	}
	return tool{name: "npm11", argv: []string{path}}
}

// npm10 is npm 10, installed once into the user cache folder.
func npm10(t *testing.T) tool {
	t.Helper()
	return tool{name: "npm10", argv: cachedTool(t, npm10CLI)}
}

// npm12 is npm 12 run by Node 24 (npm 12 needs Node 22 or later, newer than
// the machine's node may be), both installed once into the user cache
// folder.
func npm12(t *testing.T) tool {
	t.Helper()
	return tool{name: "npm12", argv: cachedTool(t, npm12CLI)}
}

// pnpmTool is pnpm 10, installed once into the user cache folder.
func pnpmTool(t *testing.T) tool {
	t.Helper()
	return tool{name: "pnpm", argv: cachedTool(t, pnpmCLI), pnpm: true}
}

// npmClient runs one CLI as one isolated user: its own HOME, user config,
// cache and store, talking only to one gatehouse server.
type npmClient struct {
	t    *testing.T
	tool tool
	srv  *server
	home string
	rc   string // the user config file ($HOME/.npmrc)
	url  string // the registry URL
	// extraEnv is added to the environment: settings of clients other
	// than npm and pnpm (clients_test.go).
	extraEnv []string
}

// newClient makes an anonymous client of tool for srv.
func newClient(t *testing.T, srv *server, tl tool) *npmClient {
	t.Helper()
	return newClientFor(t, srv.URL(), srv, tl)
}

// userClient signs name up on srv and returns a client of tl logged in
// with the session token the server handed back.
func userClient(t *testing.T, srv *server, tl tool, name string) *npmClient {
	t.Helper()
	return newClient(t, srv, tl).login(srv.createUser(t, name))
}

// startWithUser starts a server and signs name up. It returns the server,
// name's session token and an npm 11 client logged in with it.
func startWithUser(t *testing.T, name string) (*server, string, *npmClient) {
	t.Helper()
	srv := startServer(t)
	session := srv.createUser(t, name)
	return srv, session, newClient(t, srv, npm11(t)).login(session)
}

// newClientFor makes an anonymous client whose registry is registryURL, which
// may be another name of srv (such as its --url).
func newClientFor(t *testing.T, registryURL string, srv *server, tl tool) *npmClient {
	t.Helper()
	// Not t.TempDir: its name comes from the test's, which may hold '#'
	// or ';', and those start a comment in .npmrc.
	home, err := os.MkdirTemp("", "gatehouse-e2e-client-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(home); err != nil {
			t.Errorf("remove client home: %v", err)
		}
	})
	c := &npmClient{t: t, tool: tl, srv: srv, home: home, rc: filepath.Join(home, ".npmrc"), url: registryURL}
	for _, d := range []string{"tmp", ".config", ".cache", ".local/share", ".local/state"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(home, "global-npmrc"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	lines := []string{
		"registry=" + registryURL,
		"update-notifier=false",
		"fund=false",
		"audit=false",
		"color=false",
	}
	if tl.pnpm {
		lines = append(lines,
			"store-dir="+filepath.Join(home, "pnpm-store"),
			"cache-dir="+filepath.Join(home, "pnpm-cache"),
		)
	} else {
		lines = append(lines,
			"cache="+filepath.Join(home, "npm-cache"),
			"loglevel=warn",
			"progress=false",
		)
	}
	c.writeRC(strings.Join(lines, "\n") + "\n")
	return c
}

func (c *npmClient) writeRC(s string) {
	c.t.Helper()
	if err := os.WriteFile(c.rc, []byte(s), 0o600); err != nil {
		c.t.Fatalf("write %s: %v", c.rc, err)
	}
}

func (c *npmClient) readRC() string {
	c.t.Helper()
	b, err := os.ReadFile(c.rc)
	if err != nil {
		c.t.Fatalf("read %s: %v", c.rc, err)
	}
	return string(b)
}

// authKey is the nerf-darted user config key of the registry's token.
func (c *npmClient) authKey() string {
	return "//" + strings.TrimPrefix(strings.TrimPrefix(c.url, "http://"), "https://") + ":_authToken"
}

// login makes the client use token, as `npm login` would have saved it.
func (c *npmClient) login(token string) *npmClient {
	c.t.Helper()
	c.writeRC(c.readRC() + c.authKey() + "=" + token + "\n")
	return c
}

// savedToken is the token in the user config; "" when there is none.
func (c *npmClient) savedToken() string {
	c.t.Helper()
	prefix := c.authKey() + "="
	for _, line := range strings.Split(c.readRC(), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// env is the whole environment of the CLI: nothing of the machine's npm or
// pnpm configuration leaks in.
func (c *npmClient) env() []string {
	return append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + c.home,
		"TMPDIR=" + filepath.Join(c.home, "tmp"),
		"XDG_CONFIG_HOME=" + filepath.Join(c.home, ".config"),
		"XDG_CACHE_HOME=" + filepath.Join(c.home, ".cache"),
		"XDG_DATA_HOME=" + filepath.Join(c.home, ".local/share"),
		"XDG_STATE_HOME=" + filepath.Join(c.home, ".local/state"),
		"npm_config_userconfig=" + c.rc,
		"npm_config_globalconfig=" + filepath.Join(c.home, "global-npmrc"),
		"NO_UPDATE_NOTIFIER=1",
		"NO_COLOR=1",
		"NO_PROXY=127.0.0.1,localhost",
		"LANG=C.UTF-8",
		"TERM=dumb",
	}, c.extraEnv...)
}

// command builds the exec.Cmd for args, run in dir (a fresh temp dir when
// "").
func (c *npmClient) command(ctx context.Context, dir string, args ...string) *exec.Cmd {
	if dir == "" {
		dir = c.t.TempDir()
	}
	argv := append(append([]string{}, c.tool.argv[1:]...), args...)
	cmd := exec.CommandContext(ctx, c.tool.argv[0], argv...)
	cmd.Dir = dir
	cmd.Env = c.env()
	return cmd
}

// cmdResult is what one CLI invocation printed and how it exited.
type cmdResult struct {
	Args   []string
	Stdout string
	Stderr string
	Code   int
}

// Output is stdout and stderr together, for matching messages that a client
// may print on either.
func (r cmdResult) Output() string { return r.Stdout + "\n" + r.Stderr }

func (r cmdResult) String() string {
	return fmt.Sprintf("$ %s\nexit status %d\n--- stdout\n%s\n--- stderr\n%s",
		strings.Join(r.Args, " "), r.Code, tail(r.Stdout, 8<<10), tail(r.Stderr, 8<<10))
}

// run runs the CLI in dir (a temp dir when "") and returns the result,
// whatever the exit status.
func (c *npmClient) run(dir string, args ...string) cmdResult {
	c.t.Helper()
	return c.runWith(nil, dir, args...)
}

// runWith is run with stdin as the CLI's standard input (none when nil).
func (c *npmClient) runWith(stdin io.Reader, dir string, args ...string) cmdResult {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := c.command(ctx, dir, args...)
	cmd.Stdin = stdin
	var stdout, stderr strings.Builder
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	res := cmdResult{Args: append([]string{c.tool.name}, args...), Stdout: stdout.String(), Stderr: stderr.String()}
	if err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			c.t.Fatalf("run %s: %v", strings.Join(res.Args, " "), err)
		}
		res.Code = exit.ExitCode()
		if ctx.Err() != nil {
			c.t.Fatalf("%s timed out after %v\n%s", strings.Join(res.Args, " "), commandTimeout, res)
		}
	}
	return res
}

// mustRun runs the CLI and fails the test with all its output unless it
// exits 0.
func (c *npmClient) mustRun(dir string, args ...string) cmdResult {
	c.t.Helper()
	res := c.run(dir, args...)
	if res.Code != 0 {
		c.t.Fatalf("unexpected failure:\n%s", res)
	}
	return res
}

// mustFail runs the CLI and fails the test unless it exits non-zero and its
// output contains one of want (npm error codes such as "E404").
func (c *npmClient) mustFail(dir string, want []string, args ...string) cmdResult {
	c.t.Helper()
	res := c.run(dir, args...)
	if res.Code == 0 {
		c.t.Fatalf("succeeded, want a failure with %q:\n%s", want, res)
	}
	for _, w := range want {
		if strings.Contains(res.Output(), w) {
			return res
		}
	}
	c.t.Fatalf("failed without any of %q in its output:\n%s", want, res)
	return res
}

// publish publishes the package folder dir with extra CLI arguments.
func (c *npmClient) publish(dir string, args ...string) cmdResult {
	c.t.Helper()
	argv := append([]string{"publish"}, args...)
	if c.tool.pnpm {
		argv = append(argv, "--no-git-checks")
	}
	return c.mustRun(dir, argv...)
}

// publishSpec writes the package spec and publishes it.
func (c *npmClient) publishSpec(spec pkgSpec, args ...string) cmdResult {
	c.t.Helper()
	return c.publish(makePackage(c.t, spec), args...)
}

// view runs `npm view ARGS --json` and decodes its output into v.
func (c *npmClient) viewJSON(v any, args ...string) {
	c.t.Helper()
	res := c.mustRun("", append(append([]string{"view"}, args...), "--json")...)
	if err := json.Unmarshal([]byte(res.Stdout), v); err != nil {
		c.t.Fatalf("decode npm view output: %v\n%s", err, res)
	}
}

// viewList runs `npm view ARGS --json` for a list field such as versions;
// npm prints a lone string when the list has one element.
func (c *npmClient) viewList(args ...string) []string {
	c.t.Helper()
	var raw json.RawMessage
	c.viewJSON(&raw, args...)
	var list []string
	if err := json.Unmarshal(raw, &list); err == nil {
		return list
	}
	var one string
	if err := json.Unmarshal(raw, &one); err != nil {
		c.t.Fatalf("npm view %s printed %s, want a string or a list of strings", strings.Join(args, " "), raw)
	}
	return []string{one}
}

// pkgSpec describes a package folder to publish.
type pkgSpec struct {
	Name        string
	Version     string
	Description string
	Keywords    []string
	Deps        map[string]string
	// Funding are the package's funding links: in both packuments, and
	// asked for by no install.
	Funding []string
}

// makePackage writes package.json, index.js and README.md for spec into a
// new temp folder and returns it.
func makePackage(t *testing.T, spec pkgSpec) string {
	t.Helper()
	dir := t.TempDir()
	desc := spec.Description
	if desc == "" {
		desc = "e2e test package " + spec.Name
	}
	manifest := map[string]any{
		"name":        spec.Name,
		"version":     spec.Version,
		"description": desc,
		"main":        "index.js",
		"license":     "MIT",
		"repository":  map[string]string{"type": "git", "url": "https://example.com/e2e.git"},
	}
	if len(spec.Keywords) > 0 {
		manifest["keywords"] = spec.Keywords
	}
	if len(spec.Deps) > 0 {
		manifest["dependencies"] = spec.Deps
	}
	if len(spec.Funding) > 0 {
		funding := make([]map[string]string, len(spec.Funding))
		for i, u := range spec.Funding {
			funding[i] = map[string]string{"type": "individual", "url": u}
		}
		manifest["funding"] = funding
	}
	writeJSONFile(t, filepath.Join(dir, "package.json"), manifest)
	testkit.WriteFile(t, filepath.Join(dir, "index.js"), indexJS(spec))
	testkit.WriteFile(t, filepath.Join(dir, "README.md"), fmt.Sprintf("# %s\n\n%s\n", spec.Name, desc))
	return dir
}

// indexJS is the index.js of a published package: it exports its name and
// version and the versions of the dependencies it resolves, so running it
// shows what an install really laid out.
func indexJS(spec pkgSpec) string {
	deps := make([]string, 0, len(spec.Deps))
	for _, d := range slices.Sorted(maps.Keys(spec.Deps)) {
		deps = append(deps, fmt.Sprintf("%q: require(%q).version", d, d))
	}
	return fmt.Sprintf("module.exports = { name: %q, version: %q, deps: { %s } };\n",
		spec.Name, spec.Version, strings.Join(deps, ", "))
}

// makeProject writes a private consumer project depending on deps.
func makeProject(t *testing.T, deps map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	manifest := map[string]any{
		"name":    "e2e-consumer",
		"version": "1.0.0",
		"private": true,
	}
	if len(deps) > 0 {
		manifest["dependencies"] = deps
	}
	writeJSONFile(t, filepath.Join(dir, "package.json"), manifest)
	return dir
}

func writeJSONFile(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	testkit.WriteFile(t, path, string(b)+"\n")
}

// installedVersion reads node_modules/NAME/package.json in project and
// returns its version; it fails the test when the package is missing.
func installedVersion(t *testing.T, project, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(project, "node_modules", filepath.FromSlash(name), "package.json"))
	if err != nil {
		t.Fatalf("%s is not installed: %v", name, err)
	}
	var m struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	decodeJSON(t, b, &m)
	if m.Name != name {
		t.Fatalf("node_modules/%s/package.json has name %q", name, m.Name)
	}
	return m.Version
}

// assertInstalled checks that project has name@version installed with the
// published index.js.
func assertInstalled(t *testing.T, project, name, version string) {
	t.Helper()
	if got := installedVersion(t, project, name); got != version {
		t.Fatalf("installed %s@%s, want %s", name, got, version)
	}
	b, err := os.ReadFile(filepath.Join(project, "node_modules", filepath.FromSlash(name), "index.js"))
	if err != nil {
		t.Fatalf("%s has no index.js: %v", name, err)
	}
	if want := fmt.Sprintf("name: %q, version: %q", name, version); !strings.Contains(string(b), want) {
		t.Fatalf("%s/index.js = %q, want it to contain %q", name, b, want)
	}
}

// assertNotInstalled checks that project has no node_modules/NAME.
func assertNotInstalled(t *testing.T, project, name string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(project, "node_modules", filepath.FromSlash(name))); err == nil {
		t.Fatalf("%s is installed in %s, want it absent", name, project)
	}
}

// loaded is what a package's index.js exports.
type loaded struct {
	Name    string            `json:"name"`
	Version string            `json:"version"`
	Deps    map[string]string `json:"deps"`
}

// requireIn runs node in project and returns what require(name) exports.
func requireIn(t *testing.T, project, name string) loaded {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "-e",
		fmt.Sprintf("process.stdout.write(JSON.stringify(require(%q)))", name))
	cmd.Dir = project
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("require(%q) in %s: %v\n%s", name, project, err, out)
	}
	var l loaded
	decodeJSON(t, out, &l)
	return l
}

// readFile reads dir/name and fails the test when it cannot.
func readFile(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
