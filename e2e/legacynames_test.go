package e2e

import (
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/account"
	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/registry"
	gatehouse "github.com/gatehouse-registry/gatehouse/internal/server"
	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

// seedPackage writes user (password passwordOf(user)) and spec's package,
// owned by user and published at publishedAt, into the store and tarball
// folder of dataDir before any server opens them, as bench/seed fills a
// store: the way a package from another registry arrives, which is how a
// package with a name npm gives no new package any more comes to exist.
func seedPackage(t *testing.T, dataDir, user string, spec pkgSpec, publishedAt time.Time) {
	t.Helper()
	ctx := t.Context()
	cfg := config.Default()
	cfg.DataDir = dataDir
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := gatehouse.OpenStore(ctx, cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	blobs, err := gatehouse.OpenBlobs(ctx, cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer blobs.Close()
	feed := store.NewFeed(db, quiet)
	defer feed.Close()

	hash, err := account.HashPassword(passwordOf(user))
	if err != nil {
		t.Fatal(err)
	}
	u, err := db.Q().CreateUser(ctx, store.User{Name: user, Email: emailOf(user), PasswordHash: hash})
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.NewService(db, blobs, nil, feed, nil, nil, nil)
	dir := makePackage(t, spec)
	digest, err := reg.ImportTarball(ctx, packFolder(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	err = reg.Import(ctx, []registry.ImportedPackage{{Name: spec.Name,
		Owners: []store.Owner{{UserID: u.ID, Name: u.Name, Email: u.Email}},
		Versions: []registry.ImportedVersion{{Version: spec.Version, Manifest: readFile(t, dir, "package.json"),
			Tarball: digest, PublishedAt: publishedAt.UnixMilli()}}}})
	if err != nil {
		t.Fatalf("import %s@%s: %v", spec.Name, spec.Version, err)
	}
}

// packFolder makes the npm tarball of a package folder: its files under
// package/.
func packFolder(t *testing.T, dir string) []byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []testkit.File
	for _, e := range entries {
		files = append(files, testkit.File{Name: "package/" + e.Name(), Data: readFile(t, dir, e.Name())})
	}
	tgz, err := testkit.Tarball(files...)
	if err != nil {
		t.Fatal(err)
	}
	return tgz
}

// TestLegacyPackageNames: npm still serves packages whose names it gives no
// new package any more, such as JSONStream (capital letters), and lets their
// owners publish new versions. A registry holding one (imported from
// another) serves it to every client, takes npm's publish of a new version
// from its owner (with a session, or a granular token limited to it), and
// refuses another user, and the creation of a new package of such a name, as
// npm does.
func TestLegacyPackageNames(t *testing.T) {
	t.Parallel()
	const name = "JSONStream"
	dataDir := t.TempDir()
	seedPackage(t, dataDir, "alice", pkgSpec{Name: name, Version: "1.0.0"}, time.Now().AddDate(-1, 0, 0))
	srv := startServerWith(t, serverSetup{dataDir: dataDir})
	npm := clientCase{"npm11", kindNPM, npm11CLI}

	anon := newPMClient(t, srv, npm)
	var seen struct{ Name, Version string }
	anon.viewJSON(&seen, name)
	if seen.Name != name || seen.Version != "1.0.0" {
		t.Fatalf("npm view %s = %s@%s, want %s@1.0.0", name, seen.Name, seen.Version, name)
	}
	project := anon.project(nil)
	anon.mustAdd(project, name)
	assertInstalled(t, project, name, "1.0.0")

	// The owner publishes a new version with npm.
	res := srv.couchLogin(t, "alice", passwordOf("alice"))
	if res.Status != http.StatusCreated {
		t.Fatalf("log alice in: %s", res)
	}
	var login struct{ Token string }
	decodeJSON(t, res.Body, &login)
	alice := newPMClient(t, srv, npm).useToken(login.Token)
	next := pkgSpec{Name: name, Version: "1.1.0"}
	alice.mustPublish(next)
	assertPublished(t, srv, login.Token, "alice", next)

	// No new package gets such a name, in the words npm uses.
	refused := alice.publishDir(makePackage(t, pkgSpec{Name: "NewStream", Version: "1.0.0"}))
	assertRefused(t, refused, `invalid package name "NewStream": name can no longer contain capital letters`)
	if !strings.Contains(refused.Output(), "E400") {
		t.Errorf("the refused create is not a 400:\n%s", refused)
	}
	if res := srv.do(t, http.MethodGet, "NewStream", login.Token, nil); res.Status != http.StatusNotFound {
		t.Errorf("GET /NewStream after a refused create: %s", res)
	}

	// Another user may not publish to it.
	bob := newPMClient(t, srv, npm).useToken(srv.createUser(t, "bob"))
	assertRefused(t, bob.publishDir(makePackage(t, pkgSpec{Name: name, Version: "1.2.0"})), "E403")

	// A CI job's granular token limited to the package publishes too.
	res = srv.do(t, http.MethodPost, "-/npm/v1/tokens", login.Token, map[string]any{
		"password": passwordOf("alice"), "name": "ci", "packages": []string{name},
		"packages_and_scopes_permission": "read-write"})
	if res.Status != http.StatusCreated {
		t.Fatalf("create a token for %s: %s", name, res)
	}
	var ci tokenObj
	decodeJSON(t, res.Body, &ci)
	last := pkgSpec{Name: name, Version: "1.2.0"}
	newPMClient(t, srv, npm).useTokenFromEnv(ci.Token).mustPublish(last)
	assertPublished(t, srv, login.Token, "alice", last)
	if tags, versions := packument(t, srv, "", name); tags["latest"] != "1.2.0" ||
		!slices.Equal(slices.Sorted(maps.Keys(versions)), []string{"1.0.0", "1.1.0", "1.2.0"}) {
		t.Errorf("%s has dist-tags %v and versions %v, want latest 1.2.0 of 1.0.0, 1.1.0, 1.2.0",
			name, tags, slices.Sorted(maps.Keys(versions)))
	}

	// Every client installs it.
	for _, cc := range testedClients {
		t.Run(cc.name, func(t *testing.T) {
			t.Parallel()
			c := newPMClient(t, srv, cc)
			project := c.project(nil)
			c.mustAdd(project, name+"@^1.1.0")
			assertInstalled(t, project, name, "1.2.0")
			var pkg map[string]any
			decodeJSON(t, readFile(t, project, "package.json"), &pkg)
			if deps, _ := pkg["dependencies"].(map[string]any); deps[name] == nil {
				t.Errorf("%s add did not record %s in package.json: %v", cc.name, name, pkg["dependencies"])
			}
		})
	}
}
