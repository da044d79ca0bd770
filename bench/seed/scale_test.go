package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/registry"
	"github.com/gatehouse-registry/gatehouse/internal/server"
	"github.com/gatehouse-registry/gatehouse/internal/server/servertest"
	"github.com/gatehouse-registry/gatehouse/internal/store/pgtest"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

func smallScale() ScaleCorpus {
	return ScaleCorpus{Prefix: "sc", Packages: 50, Versions: 3, Users: 7, Tokens: 200, Tarballs: 3,
		ReadmeBytes: 256, Sample: 20, Cold: 30, Batch: 16}
}

// TestSeedScaleSQLite seeds a small store in the embedded default (SQLite
// and a folder) and checks gatehouse serves it as if it were published.
func TestSeedScaleSQLite(t *testing.T) {
	checkSeededStore(t, config.Config{})
}

// TestSeedScalePostgres does the same on PostgreSQL, in a database of its
// own on the server GATEHOUSE_TEST_POSTGRES names; on CI (CI=true) its
// absence is a failure.
func TestSeedScalePostgres(t *testing.T) {
	dbURL, _ := pgtest.NewDatabase(t, pgtest.AdminURL(t, "seeding PostgreSQL"), "gatehouse_scale")
	checkSeededStore(t, config.Config{Database: dbURL})
}

// checkSeededStore seeds smallScale into a fresh data folder (and the
// database base.Database names, if any), opens gatehouse on it in process
// and checks: every kept token authenticates as its user, seeded packages'
// packuments list every version with tarball links that download bytes
// matching their integrity and shasum, and what should be refused is.
func checkSeededStore(t *testing.T, base config.Config) {
	ctx := t.Context()
	c := smallScale()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.DataDir, cfg.Database = filepath.Join(dir, "data"), base.Database
	var progress strings.Builder
	st, err := SeedScale(ctx, cfg, c, &progress)
	if err != nil {
		t.Fatalf("seed: %v\n%s", err, progress.String())
	}
	if want := map[bool]string{false: "sqlite", true: "postgres"}[base.Database != ""]; st.Store != want {
		t.Fatalf("seeded a %s store, want %s", st.Store, want)
	}
	if len(st.Sample) != c.Sample || len(st.Cold) != c.Cold {
		t.Fatalf("kept %d sample and %d cold tokens, want %d and %d", len(st.Sample), len(st.Cold), c.Sample, c.Cold)
	}
	if err := writeLists(filepath.Join(dir, "lists"), c, st); err != nil {
		t.Fatal(err)
	}
	names, err := os.ReadFile(filepath.Join(dir, "lists", "packages.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(names), "\n"); n != c.Packages {
		t.Errorf("packages.txt lists %d packages, want %d", n, c.Packages)
	}

	// Seeded as a publish writes: signed, nothing left on the signing
	// backlog for the server's first start.
	db, err := server.OpenStore(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	backlog, err := db.Q().SigningBacklogSize(ctx)
	db.Close()
	if err != nil || backlog != 0 {
		t.Fatalf("the seeded store's signing backlog holds %d packages (%v), want 0", backlog, err)
	}

	_, site := servertest.Start(t, cfg)
	get := func(path, tok, accept string) (int, []byte) {
		t.Helper()
		var header []string
		if accept != "" {
			header = []string{"Accept", accept}
		}
		res := testkit.Do(t, http.MethodGet, site+path, tok, nil, header...)
		return res.Status, res.Body
	}

	for _, tok := range append(append([]SeededToken(nil), st.Sample...), st.Cold...) {
		status, body := get("/-/whoami", tok.Token, "")
		var who struct{ Username string }
		if status != 200 || json.Unmarshal(body, &who) != nil || who.Username != tok.User {
			t.Fatalf("whoami with a seeded token = %d %s, want 200 and %s", status, body, tok.User)
		}
	}
	reader := st.Sample[0].Token
	cl := NewClient(site)
	if err := Prime(ctx, cl, []string{st.Sample[1].Token, st.Sample[2].Token, st.Cold[0].Token}, 2); err != nil {
		t.Errorf("prime with seeded tokens: %v", err)
	}
	if err := Prime(ctx, cl, []string{reader, "npm_" + strings.Repeat("0", 36)}, 2); err == nil {
		t.Error("prime with a made-up token did not fail")
	}
	if status, _ := get("/-/whoami", strings.Repeat("x", len(reader)), ""); status != 401 {
		t.Errorf("whoami with a made-up token = %d, want 401", status)
	}

	for _, i := range []int{0, 1, c.Packages - 1} {
		name := c.PackageName(i)
		for _, accept := range []string{"application/vnd.npm.install-v1+json", "application/json"} {
			status, body := get("/"+name, reader, accept)
			if status != 200 {
				t.Fatalf("GET /%s (%s) = %d %s", name, accept, status, body)
			}
			var doc struct {
				Name     string
				DistTags map[string]string `json:"dist-tags"`
				Versions map[string]struct {
					Name, Version string
					Dist          struct {
						Tarball, Integrity, Shasum string
						Signatures                 []struct{ Keyid, Sig string }
					}
				}
				Maintainers []struct{ Name string }
			}
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatalf("GET /%s: %v", name, err)
			}
			last := VersionString(c.Versions - 1)
			if doc.Name != name || len(doc.Versions) != c.Versions || doc.DistTags["latest"] != last {
				t.Fatalf("GET /%s (%s): name %q, %d versions, latest %q; want %d versions, latest %s",
					name, accept, doc.Name, len(doc.Versions), doc.DistTags["latest"], c.Versions, last)
			}
			if accept == "application/json" && (len(doc.Maintainers) != 1 || doc.Maintainers[0].Name != c.UserName(i%c.Users)) {
				t.Errorf("GET /%s: maintainers %+v, want %s", name, doc.Maintainers, c.UserName(i%c.Users))
			}
			for v, m := range doc.Versions {
				if m.Name != name || m.Version != v {
					t.Errorf("%s@%s: the manifest says %s@%s", name, v, m.Name, m.Version)
				}
				if accept == "application/json" && (len(m.Dist.Signatures) == 0 || m.Dist.Signatures[0].Sig == "") {
					t.Errorf("%s@%s: no registry signature in dist.signatures", name, v)
				}
				want := site + "/" + name + "/-/" + registry.TarballFilename(name, v)
				if m.Dist.Tarball != want {
					t.Fatalf("%s@%s: tarball %s, want %s", name, v, m.Dist.Tarball, want)
				}
				status, tgz := get(strings.TrimPrefix(m.Dist.Tarball, site), reader, "")
				if status != 200 {
					t.Fatalf("GET %s = %d", m.Dist.Tarball, status)
				}
				d, err := registry.VerifyTarball(tgz, registry.TarballCheck{Shasum: m.Dist.Shasum, Integrity: m.Dist.Integrity,
					Length: -1, Name: fmt.Sprintf("%s-shared-%d", c.Prefix, (i+versionIndex(t, v))%c.Tarballs), Version: "1.0.0"})
				if err != nil {
					t.Errorf("%s@%s: the tarball does not match its packument: %v", name, v, err)
				} else if d.Integrity != m.Dist.Integrity {
					t.Errorf("%s@%s: integrity %s, packument says %s", name, v, d.Integrity, m.Dist.Integrity)
				}
			}
		}
	}
	if status, _ := get("/"+c.PackageName(0), "", "application/json"); status != 200 {
		t.Errorf("anonymous read of a public seeded package = %d, want 200", status)
	}
	if status, _ := get("/"+c.Prefix+"-no-such-package", reader, ""); status != 404 {
		t.Errorf("GET of a package not seeded = %d, want 404", status)
	}
}

// versionIndex is k for VersionString(k).
func versionIndex(t *testing.T, v string) int {
	t.Helper()
	for k := range maxVersions {
		if VersionString(k) == v {
			return k
		}
	}
	t.Fatalf("version %s is not one VersionString makes", v)
	return 0
}

func TestScaleCorpusValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*ScaleCorpus)
		ok     bool
	}{
		{"small", func(*ScaleCorpus) {}, true},
		{"uppercase prefix", func(c *ScaleCorpus) { c.Prefix = "Sc" }, false},
		{"no packages", func(c *ScaleCorpus) { c.Packages = 0 }, false},
		{"too many versions", func(c *ScaleCorpus) { c.Versions = maxVersions + 1 }, false},
		{"more kept tokens than readers", func(c *ScaleCorpus) { c.Sample, c.Cold = 150, 31 }, false},
		{"every reader kept", func(c *ScaleCorpus) { c.Sample, c.Cold = 150, 30 }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := smallScale()
			tc.mutate(&c)
			if err := c.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
	if got := (ScaleCorpus{Tokens: 19}).ReadTokens(); got != 17 {
		t.Errorf("ReadTokens of 19 = %d, want 17 (tokens 8 and 18 are limited)", got)
	}
}
