package e2e

import (
	"net/http"
	"slices"
	"testing"
)

// republishRefused is npm's own wording, which the server must send back.
const republishRefused = "cannot publish over the previously published versions"

func TestUnpublish(t *testing.T) {
	t.Parallel()
	srv, _, c := startWithUser(t, "alice")
	npm := c.tool
	anon := newClient(t, srv, npm)
	const pkg = "e2e-gone"

	for _, v := range []string{"1.0.0", "1.1.0", "2.0.0"} {
		c.publishSpec(pkgSpec{Name: pkg, Version: v})
	}

	// Publishing a version twice is refused.
	c.mustFail(makePackage(t, pkgSpec{Name: pkg, Version: "1.1.0"}), []string{republishRefused}, "publish")

	// Others may not unpublish.
	bob := userClient(t, srv, npm, "bob")
	bob.mustFail("", []string{"E403"}, "unpublish", pkg+"@1.0.0")

	// One version: the others stay and latest moves back.
	c.mustRun("", "unpublish", pkg+"@2.0.0")
	if want, versions := []string{"1.0.0", "1.1.0"}, anon.viewList(pkg, "versions"); !slices.Equal(versions, want) {
		t.Errorf("versions after unpublishing 2.0.0 = %v, want %v", versions, want)
	}
	var latest string
	anon.viewJSON(&latest, pkg, "dist-tags.latest")
	if latest != "1.1.0" {
		t.Errorf("latest after unpublishing 2.0.0 = %q, want 1.1.0", latest)
	}
	anon.mustFail("", []string{"E404"}, "view", pkg+"@2.0.0")
	if res := srv.do(t, http.MethodGet, pkg+"/-/"+pkg+"-2.0.0.tgz", "", nil); res.Status != http.StatusNotFound {
		t.Errorf("tarball of the unpublished version: got %d, want 404", res.Status)
	}
	project := makeProject(t, nil)
	anon.mustRun(project, "install", "--prefer-online", pkg)
	assertInstalled(t, project, pkg, "1.1.0")

	// The unpublished version can never come back.
	c.mustFail(makePackage(t, pkgSpec{Name: pkg, Version: "2.0.0"}), []string{republishRefused}, "publish")

	// The whole package.
	c.mustRun("", "unpublish", pkg, "--force")
	anon.mustFail("", []string{"E404"}, "view", pkg)
	if res := srv.do(t, http.MethodGet, pkg+"/-/"+pkg+"-1.0.0.tgz", "", nil); res.Status != http.StatusNotFound {
		t.Errorf("tarball after unpublishing the package: got %d, want 404", res.Status)
	}
	anon.mustFail(makeProject(t, nil), []string{"E404"}, "install", "--prefer-online", pkg)

	// None of its versions can be published again, but a new one can.
	c.mustFail(makePackage(t, pkgSpec{Name: pkg, Version: "1.0.0"}), []string{republishRefused}, "publish")
	c.publishSpec(pkgSpec{Name: pkg, Version: "3.0.0"})
	if want, versions := []string{"3.0.0"}, anon.viewList(pkg, "versions"); !slices.Equal(versions, want) {
		t.Errorf("versions after publishing anew = %v, want %v", versions, want)
	}
	project = makeProject(t, nil)
	anon.mustRun(project, "install", "--prefer-online", pkg)
	assertInstalled(t, project, pkg, "3.0.0")
}
