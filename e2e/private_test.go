package e2e

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestPrivatePackages(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	npm := npm11(t)
	aliceToken, bobToken := srv.createUser(t, "alice"), srv.createUser(t, "bob")
	alice := newClient(t, srv, npm).login(aliceToken)
	bob := newClient(t, srv, npm).login(bobToken)
	anon := newClient(t, srv, npm)
	const secret, open = "@alice/secret", "@alice/open"

	// Scoped packages are restricted unless published with --access public.
	alice.publishSpec(pkgSpec{Name: secret, Version: "1.0.0"})
	var version string
	alice.viewJSON(&version, secret, "version")
	if version != "1.0.0" {
		t.Errorf("alice: npm view %s version = %q, want 1.0.0", secret, version)
	}
	var tarball string
	alice.viewJSON(&tarball, secret+"@1.0.0", "dist.tarball")
	tarballPath, ok := strings.CutPrefix(tarball, srv.URL())
	if !ok {
		t.Fatalf("tarball URL %q is not on %s", tarball, srv.URL())
	}
	project := makeProject(t, nil)
	alice.mustRun(project, "install", secret)
	assertInstalled(t, project, secret, "1.0.0")

	for _, who := range []struct {
		name   string
		client *npmClient
		token  string
	}{
		{"bob", bob, bobToken},
		{"anonymous", anon, ""},
	} {
		t.Run(who.name+" cannot see the restricted package", func(t *testing.T) {
			who.client.mustFail("", []string{"E404"}, "view", secret)
			project := makeProject(t, nil)
			who.client.mustFail(project, []string{"E404"}, "install", secret)
			assertNotInstalled(t, project, secret)

			// 404, never 403: the package's existence is not revealed.
			for _, path := range []string{"@alice%2fsecret", "@alice%2Fsecret", "@alice/secret", "@alice%2fsecret/1.0.0", tarballPath} {
				res := srv.do(t, http.MethodGet, path, who.token, nil)
				if res.Status != http.StatusNotFound {
					t.Errorf("GET /%s as %s: got %s, want 404", path, who.name, res)
				}
			}
			res := srv.do(t, http.MethodGet, "@alice%2fsecret", who.token, nil)
			assertJSONError(t, res)
		})
	}

	t.Run("public scoped package is open to all", func(t *testing.T) {
		alice.publishSpec(pkgSpec{Name: open, Version: "1.0.0"}, "--access", "public")
		project := makeProject(t, nil)
		anon.mustRun(project, "install", open)
		assertInstalled(t, project, open, "1.0.0")
		var v string
		bob.viewJSON(&v, open, "version")
		if v != "1.0.0" {
			t.Errorf("bob: npm view %s version = %q, want 1.0.0", open, v)
		}
	})

	t.Run("no one publishes into another's scope", func(t *testing.T) {
		for _, name := range []string{"@alice/evil", "@nobody/thing"} {
			bob.mustFail(makePackage(t, pkgSpec{Name: name, Version: "1.0.0"}), []string{"E403", "E404"},
				"publish", "--access", "public")
			alice.mustFail("", []string{"E404"}, "view", name)
			anon.mustFail("", []string{"E404"}, "view", name)
		}
		bob.mustFail(makePackage(t, pkgSpec{Name: secret, Version: "1.1.0"}), []string{"E403", "E404"}, "publish")
		if got, want := alice.viewList(secret, "versions"), []string{"1.0.0"}; !slices.Equal(got, want) {
			t.Errorf("versions of %s after bob's attempt = %v, want %v", secret, got, want)
		}
	})

	t.Run("each user's own scope is theirs", func(t *testing.T) {
		bob.publishSpec(pkgSpec{Name: "@bob/notes", Version: "0.1.0"})
		var v string
		bob.viewJSON(&v, "@bob/notes", "version")
		if v != "0.1.0" {
			t.Errorf("bob: npm view @bob/notes version = %q, want 0.1.0", v)
		}
		alice.mustFail("", []string{"E404"}, "view", "@bob/notes")
	})
}
