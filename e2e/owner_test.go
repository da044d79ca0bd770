package e2e

import (
	"slices"
	"strings"
	"testing"
)

// ownerNames parses `npm owner ls` output ("name <email>" lines), sorted.
func ownerNames(t *testing.T, c *npmClient, pkg string) []string {
	t.Helper()
	res := c.mustRun("", "owner", "ls", pkg)
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(res.Stdout), "\n") {
		name, email, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			t.Fatalf("unexpected npm owner ls line %q:\n%s", line, res)
		}
		if want := "<" + emailOf(name) + ">"; email != want {
			t.Errorf("npm owner ls shows %s with %q, want %q", name, email, want)
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func TestOwners(t *testing.T) {
	t.Parallel()
	srv, _, alice := startWithUser(t, "alice")
	npm := alice.tool
	bob := userClient(t, srv, npm, "bob")
	anon := newClient(t, srv, npm)
	const pkg = "e2e-owned"

	alice.publishSpec(pkgSpec{Name: pkg, Version: "1.0.0"})
	if got, want := ownerNames(t, anon, pkg), []string{"alice"}; !slices.Equal(got, want) {
		t.Fatalf("owners after first publish = %v, want %v", got, want)
	}

	// bob is no owner yet: he may neither publish nor make himself one.
	bob.mustFail(makePackage(t, pkgSpec{Name: pkg, Version: "1.1.0"}), []string{"E403"}, "publish")
	bob.mustFail("", []string{"E403", "403 Forbidden"}, "owner", "add", "bob", pkg)
	if got, want := ownerNames(t, anon, pkg), []string{"alice"}; !slices.Equal(got, want) {
		t.Fatalf("owners after bob's refused attempts = %v, want %v", got, want)
	}

	res := alice.mustRun("", "owner", "add", "bob", pkg)
	if !strings.Contains(res.Stdout, "+ bob ("+pkg+")") {
		t.Errorf("npm owner add printed %q, want + bob (%s)", res.Stdout, pkg)
	}
	if got, want := ownerNames(t, anon, pkg), []string{"alice", "bob"}; !slices.Equal(got, want) {
		t.Fatalf("owners after owner add = %v, want %v", got, want)
	}
	alice.mustFail("", []string{"E404"}, "owner", "add", "nosuchuser", pkg)

	bob.publishSpec(pkgSpec{Name: pkg, Version: "1.1.0"})
	if got, want := anon.viewList(pkg, "versions"), []string{"1.0.0", "1.1.0"}; !slices.Equal(got, want) {
		t.Errorf("versions after bob's publish = %v, want %v", got, want)
	}

	res = alice.mustRun("", "owner", "rm", "bob", pkg)
	if !strings.Contains(res.Stdout, "- bob ("+pkg+")") {
		t.Errorf("npm owner rm printed %q, want - bob (%s)", res.Stdout, pkg)
	}
	if got, want := ownerNames(t, anon, pkg), []string{"alice"}; !slices.Equal(got, want) {
		t.Fatalf("owners after owner rm = %v, want %v", got, want)
	}
	bob.mustFail(makePackage(t, pkgSpec{Name: pkg, Version: "1.2.0"}), []string{"E403"}, "publish")
	if got, want := anon.viewList(pkg, "versions"), []string{"1.0.0", "1.1.0"}; !slices.Equal(got, want) {
		t.Errorf("versions after bob's refused publish = %v, want %v", got, want)
	}
}
