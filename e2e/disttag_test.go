package e2e

import (
	"maps"
	"strings"
	"testing"
)

// parseDistTagLs parses `npm dist-tag ls` output ("tag: version" lines).
func parseDistTagLs(t *testing.T, out string) map[string]string {
	t.Helper()
	tags := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		tag, version, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("unexpected npm dist-tag ls line %q in:\n%s", line, out)
		}
		tags[tag] = version
	}
	return tags
}

func TestDistTags(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := newClient(t, srv, npm11(t)).login(srv.createUser(t, "alice"))
	anon := newClient(t, srv, npm11(t))
	const pkg = "e2e-tagged"

	// assertTags checks that npm dist-tag ls and npm view agree on want.
	assertTags := func(t *testing.T, want map[string]string) {
		t.Helper()
		ls := parseDistTagLs(t, c.mustRun("", "dist-tag", "ls", pkg).Stdout)
		if !maps.Equal(ls, want) {
			t.Errorf("npm dist-tag ls = %v, want %v", ls, want)
		}
		var viewed map[string]string
		anon.viewJSON(&viewed, pkg, "dist-tags")
		if !maps.Equal(viewed, want) {
			t.Errorf("npm view dist-tags = %v, want %v", viewed, want)
		}
	}

	c.publishSpec(pkgSpec{Name: pkg, Version: "1.0.0"})
	c.publishSpec(pkgSpec{Name: pkg, Version: "1.1.0"})
	c.publishSpec(pkgSpec{Name: pkg, Version: "2.0.0-beta.1"}, "--tag", "beta")
	assertTags(t, map[string]string{"latest": "1.1.0", "beta": "2.0.0-beta.1"})

	var latest string
	anon.viewJSON(&latest, pkg, "version")
	if latest != "1.1.0" {
		t.Errorf("npm view %s version = %q, want 1.1.0 (a --tag beta publish moved latest)", pkg, latest)
	}

	project := makeProject(t, nil)
	anon.mustRun(project, "install", pkg+"@beta")
	assertInstalled(t, project, pkg, "2.0.0-beta.1")

	res := c.mustRun("", "dist-tag", "add", pkg+"@1.0.0", "stable")
	if !strings.Contains(res.Stdout, "+stable: "+pkg+"@1.0.0") {
		t.Errorf("npm dist-tag add printed %q, want +stable: %s@1.0.0", res.Stdout, pkg)
	}
	assertTags(t, map[string]string{"latest": "1.1.0", "beta": "2.0.0-beta.1", "stable": "1.0.0"})

	project = makeProject(t, nil)
	anon.mustRun(project, "install", "--prefer-online", pkg+"@stable")
	assertInstalled(t, project, pkg, "1.0.0")

	// Moving a tag and removing one.
	c.mustRun("", "dist-tag", "add", pkg+"@2.0.0-beta.1", "latest")
	res = c.mustRun("", "dist-tag", "rm", pkg, "stable")
	if !strings.Contains(res.Stdout, "-stable: "+pkg+"@1.0.0") {
		t.Errorf("npm dist-tag rm printed %q, want -stable: %s@1.0.0", res.Stdout, pkg)
	}
	assertTags(t, map[string]string{"latest": "2.0.0-beta.1", "beta": "2.0.0-beta.1"})

	// Only owners may change tags; tags must name published versions.
	bob := newClient(t, srv, npm11(t)).login(srv.createUser(t, "bob"))
	bob.mustFail("", []string{"E403"}, "dist-tag", "add", pkg+"@1.0.0", "bobs")
	anon.mustFail("", []string{"E401", "ENEEDAUTH"}, "dist-tag", "add", pkg+"@1.0.0", "anons")
	c.mustFail("", []string{"error"}, "dist-tag", "add", pkg+"@9.9.9", "ghost")
	assertTags(t, map[string]string{"latest": "2.0.0-beta.1", "beta": "2.0.0-beta.1"})
}
