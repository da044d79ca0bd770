package e2e

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// clientTools are the CLIs every publish-and-install test runs with.
var clientTools = []struct {
	name    string
	tool    func(*testing.T) tool
	version string // what `--version` must start with
}{
	{"npm11", npm11, "11."},
	{"npm10", npm10, npm10Version},
	{"pnpm", pnpmTool, pnpmVersion},
}

func TestPublishInstall(t *testing.T) {
	t.Parallel()
	for _, tc := range clientTools {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tl := tc.tool(t)
			srv := startServer(t)
			publisher := userClient(t, srv, tl, "alice")
			if got := strings.TrimSpace(publisher.mustRun("", "--version").Stdout); !strings.HasPrefix(got, tc.version) {
				t.Fatalf("%s --version = %q, want %s…", tc.name, got, tc.version)
			}
			// The client is isolated: it knows no registry but this server.
			if got := strings.TrimSpace(publisher.mustRun("", "config", "get", "registry").Stdout); got != srv.URL() {
				t.Fatalf("%s config get registry = %q, want %q", tc.name, got, srv.URL())
			}

			const lib, util = "e2e-lib", "@alice/util"
			for _, v := range []string{"1.0.0", "1.1.0", "2.0.0"} {
				res := publisher.publishSpec(pkgSpec{Name: lib, Version: v})
				if !strings.Contains(res.Output(), lib+"@"+v) {
					t.Errorf("publish output does not name %s@%s:\n%s", lib, v, res)
				}
			}
			// The scoped package needs the other major version, so the
			// install must resolve two versions of e2e-lib.
			publisher.publishSpec(pkgSpec{Name: util, Version: "1.0.0", Deps: map[string]string{lib: "^2.0.0"}},
				"--access", "public")

			// Install anonymously, from a clean cache.
			project := makeProject(t, nil)
			consumer := newClient(t, srv, tl)
			if tl.pnpm {
				consumer.mustRun(project, "add", lib+"@^1.0.0", util)
			} else {
				consumer.mustRun(project, "install", lib+"@^1.0.0", util)
			}
			assertLayout := func(t *testing.T) {
				t.Helper()
				assertInstalled(t, project, lib, "1.1.0")
				assertInstalled(t, project, util, "1.0.0")
				if got := requireIn(t, project, lib).Version; got != "1.1.0" {
					t.Errorf("require(%q).version = %q, want 1.1.0", lib, got)
				}
				if got := requireIn(t, project, util).Deps[lib]; got != "2.0.0" {
					t.Errorf("%s resolves %s %q, want 2.0.0", util, lib, got)
				}
			}
			assertLayout(t)

			lockfile := "package-lock.json"
			if tl.pnpm {
				lockfile = "pnpm-lock.yaml"
			}
			lock, err := os.ReadFile(filepath.Join(project, lockfile))
			if err != nil {
				t.Fatalf("no lockfile after install: %v", err)
			}
			if !tl.pnpm {
				// npm records where each tarball came from.
				for _, want := range []string{
					`"resolved": "` + srv.URL() + lib + "/-/" + lib + `-1.1.0.tgz"`,
					`"resolved": "` + srv.URL() + lib + "/-/" + lib + `-2.0.0.tgz"`,
					`"integrity": "sha512-`,
				} {
					if !strings.Contains(string(lock), want) {
						t.Errorf("%s lacks %s:\n%s", lockfile, want, lock)
					}
				}
			} else if !strings.Contains(string(lock), lib+"@1.1.0") || !strings.Contains(string(lock), lib+"@2.0.0") {
				t.Errorf("%s does not pin both versions of %s:\n%s", lockfile, lib, lock)
			}

			// Reinstall from the lockfile alone, with another clean cache.
			if err := os.RemoveAll(filepath.Join(project, "node_modules")); err != nil {
				t.Fatal(err)
			}
			fresh := newClient(t, srv, tl)
			if tl.pnpm {
				fresh.mustRun(project, "install", "--frozen-lockfile")
			} else {
				fresh.mustRun(project, "ci")
			}
			assertLayout(t)
		})
	}
}

// TestPnpmInstallsNpmPublished checks that pnpm installs what npm published,
// from a package.json written by hand.
func TestPnpmInstallsNpmPublished(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	npm := npm11(t)
	pnpm := pnpmTool(t)
	publisher := userClient(t, srv, npm, "alice")
	publisher.publishSpec(pkgSpec{Name: "e2e-base", Version: "1.0.0"})
	publisher.publishSpec(pkgSpec{Name: "e2e-base", Version: "1.2.0"})
	publisher.publishSpec(pkgSpec{Name: "@alice/top", Version: "0.1.0", Deps: map[string]string{"e2e-base": "~1.0.0"}},
		"--access", "public")

	project := makeProject(t, map[string]string{"@alice/top": "^0.1.0", "e2e-base": "*"})
	newClient(t, srv, pnpm).mustRun(project, "install")
	if got := requireIn(t, project, "e2e-base").Version; got != "1.2.0" {
		t.Errorf("e2e-base@* resolved to %q, want 1.2.0", got)
	}
	if got := requireIn(t, project, "@alice/top").Deps["e2e-base"]; got != "1.0.0" {
		t.Errorf("@alice/top resolved e2e-base@~1.0.0 to %q, want 1.0.0", got)
	}
}

func TestPublishTooLarge(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "--max-body-size", "1MiB")
	c := newClient(t, srv, npm11(t)).login(srv.createUser(t, "alice"))

	big := makePackage(t, pkgSpec{Name: "e2e-big", Version: "1.0.0"})
	// Random bytes do not compress, so the tarball stays over 1 MiB.
	rng := rand.New(rand.NewChaCha8([32]byte{1}))
	blob := make([]byte, 2<<20)
	for i := range blob {
		blob[i] = byte(rng.Uint32())
	}
	if err := os.WriteFile(filepath.Join(big, "blob.bin"), blob, 0o644); err != nil {
		t.Fatal(err)
	}
	c.mustFail(big, []string{"E413"}, "publish")
	c.mustFail("", []string{"E404"}, "view", "e2e-big")

	c.publishSpec(pkgSpec{Name: "e2e-small", Version: "1.0.0"})
	var version string
	c.viewJSON(&version, "e2e-small", "version")
	if version != "1.0.0" {
		t.Errorf("npm view e2e-small version = %q, want 1.0.0", version)
	}
}
