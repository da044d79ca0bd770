package e2e

import (
	"strings"
	"testing"
)

func TestDeprecate(t *testing.T) {
	t.Parallel()
	srv, _, c := startWithUser(t, "alice")
	npm := c.tool
	anon := newClient(t, srv, npm)
	const pkg, msg = "e2e-old", "use e2e-old@2 instead"

	c.publishSpec(pkgSpec{Name: pkg, Version: "1.0.0"})
	c.publishSpec(pkgSpec{Name: pkg, Version: "2.0.0"})

	deprecated := func(version string) string {
		t.Helper()
		return strings.TrimSpace(anon.mustRun("", "view", pkg+"@"+version, "deprecated").Stdout)
	}

	c.mustRun("", "deprecate", pkg+"@1.0.0", msg)
	if got := deprecated("1.0.0"); got != msg {
		t.Errorf("npm view %s@1.0.0 deprecated = %q, want %q", pkg, got, msg)
	}
	if got := deprecated("2.0.0"); got != "" {
		t.Errorf("npm view %s@2.0.0 deprecated = %q, want nothing (only 1.0.0 was deprecated)", pkg, got)
	}

	project := makeProject(t, nil)
	res := anon.mustRun(project, "install", "--prefer-online", pkg+"@1.0.0")
	if want := "deprecated " + pkg + "@1.0.0: " + msg; !strings.Contains(res.Output(), want) {
		t.Errorf("install output lacks %q:\n%s", want, res)
	}
	assertInstalled(t, project, pkg, "1.0.0")

	// Others may not deprecate.
	bob := userClient(t, srv, npm, "bob")
	bob.mustFail("", []string{"E403"}, "deprecate", pkg+"@2.0.0", "bob was here")
	if got := deprecated("2.0.0"); got != "" {
		t.Errorf("bob's refused deprecation shows: %q", got)
	}

	// An empty message un-deprecates.
	c.mustRun("", "deprecate", pkg+"@1.0.0", "")
	if got := deprecated("1.0.0"); got != "" {
		t.Errorf("npm view %s@1.0.0 deprecated after un-deprecating = %q, want nothing", pkg, got)
	}
	project = makeProject(t, nil)
	res = anon.mustRun(project, "install", "--prefer-online", pkg+"@1.0.0")
	if strings.Contains(res.Output(), "deprecated") {
		t.Errorf("install still warns after un-deprecating:\n%s", res)
	}
	assertInstalled(t, project, pkg, "1.0.0")

	// A range deprecates every matching version.
	c.mustRun("", "deprecate", pkg+"@*", "all gone")
	for _, v := range []string{"1.0.0", "2.0.0"} {
		if got := deprecated(v); got != "all gone" {
			t.Errorf("npm view %s@%s deprecated = %q, want %q", pkg, v, got, "all gone")
		}
	}
}
