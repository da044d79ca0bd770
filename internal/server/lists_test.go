package server

import (
	"context"
	"maps"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/audit"
)

// TestPackageLists: the user and organization package lists show what the
// caller may read (policy.Listed: the user's rights and the credential's),
// with the permission the user holds.
func TestPackageLists(t *testing.T) {
	tr := newTestRegistry(t)
	alice, bob, carol, mallory := tr.user("alice"), tr.user("bob"), tr.user("carol"), tr.user("mallory")
	if _, err := tr.srv.Orgs.Create(context.Background(), audit.Operator(), "acme", "alice"); err != nil {
		t.Fatal(err)
	}
	step := func(what, method, path, tok string, body any, status int) {
		t.Helper()
		if res := tr.do(method, path, tok, body); res.status != status {
			t.Fatalf("%s: %d %s, want %d", what, res.status, res.body, status)
		}
	}
	step("bob joins", "PUT", "/-/org/acme/user", alice, map[string]string{"user": "bob"}, 200)
	step("carol joins", "PUT", "/-/org/acme/user", alice, map[string]string{"user": "carol"}, 200)
	step("carol leaves the developers team", "DELETE", "/-/team/acme/developers/user", alice, map[string]string{"user": "carol"}, 204)
	for _, name := range []string{"@acme/secret", "@acme/open", "@alice/private", "alib"} {
		step("publish "+name, "PUT", "/"+escape(name), alice, publishBody(t, name, "1.0.0"), 201)
	}
	step("@acme/open public", "POST", "/-/package/@acme%2fopen/access", alice, map[string]string{"access": "public"}, 200)

	type list = map[string]string
	check := func(what, path, tok string, want list) {
		t.Helper()
		tr.wantPackageList(t, what, path, tok, want)
	}
	all := list{"@acme/secret": "read-write", "@acme/open": "read-write", "@alice/private": "read-write", "alib": "read-write"}
	public := list{"@acme/open": "read-write", "alib": "read-write"}
	check("alice's packages, to alice", "/-/user/alice/package", alice, all)
	check("alice's packages, to a stranger", "/-/user/alice/package", mallory, public)
	check("alice's packages, to a developer without a grant", "/-/user/alice/package", carol, public)
	check("acme's packages, to its owner", "/-/org/acme/package", alice, list{"@acme/secret": "read-write", "@acme/open": "read-write"})
	check("acme's packages, to a developer in the developers team", "/-/org/acme/package", bob,
		list{"@acme/secret": "read-write", "@acme/open": "read-write"})
	// A developer in no team sees the public package only, read-only: the
	// restricted one is not even named.
	check("acme's packages, to a developer without a grant", "/-/org/acme/package", carol, list{"@acme/open": "read-only"})

	step("readers team", "PUT", "/-/org/acme/team", alice, map[string]string{"name": "readers"}, 201)
	step("carol joins readers", "PUT", "/-/team/acme/readers/user", alice, map[string]string{"user": "carol"}, 200)
	step("readers may read the secret", "PUT", "/-/team/acme/readers/package", alice,
		map[string]string{"package": "@acme/secret", "permissions": "read-only"}, 200)
	check("acme's packages, to a read-only reader", "/-/org/acme/package", carol, list{"@acme/secret": "read-only", "@acme/open": "read-only"})
	// What carol may read of alice's packages, she sees listed, with alice's permission.
	check("alice's packages, to a reader", "/-/user/alice/package", carol,
		list{"@acme/secret": "read-write", "@acme/open": "read-write", "alib": "read-write"})
	check("carol's own packages", "/-/user/carol/package", carol, list{"@acme/secret": "read-only"})

	// The credential counts as for a read: a token lists only what it may read.
	orgToken := tr.mustToken(alice, map[string]any{"password": "password-alice", "name": "org", "orgs": []string{"acme"},
		"orgs_permission": "read-write"})
	check("acme's packages, to an organization token", "/-/org/acme/package", orgToken, list{"@acme/open": "read-write"})
	check("alice's packages, to an organization token", "/-/user/alice/package", orgToken, public)
	scoped := tr.mustToken(alice, map[string]any{"password": "password-alice", "name": "acme", "scopes": []string{"acme"},
		"orgs": []string{"acme"}})
	check("acme's packages, to a token for the scope", "/-/org/acme/package", scoped,
		list{"@acme/secret": "read-write", "@acme/open": "read-write"})
	mine := tr.mustToken(alice, map[string]any{"password": "password-alice", "name": "mine", "scopes": []string{"alice"}})
	check("alice's packages, to a token for @alice", "/-/user/alice/package", mine,
		list{"@alice/private": "read-write", "@acme/open": "read-write", "alib": "read-write"})
	readOnly := tr.mustToken(alice, map[string]any{"password": "password-alice", "readonly": true})
	check("alice's packages, to a legacy read-only token", "/-/user/alice/package", readOnly, all)

	if res := tr.do("GET", "/-/user/alice/package", "", nil); res.status != 401 {
		t.Errorf("anonymous user list: %d %s", res.status, res.body)
	}
	if res := tr.do("GET", "/-/org/acme/package", mallory, nil); res.status != 404 {
		t.Errorf("a stranger's org list: %d %s", res.status, res.body)
	}
}

// wantPackageList checks that GET path with tok answers 200 and exactly want,
// a package list (name to permission) as npm access list packages reads it.
func (tr *testRegistry) wantPackageList(t *testing.T, what, path, tok string, want map[string]string) {
	t.Helper()
	res := tr.do("GET", path, tok, nil)
	got := map[string]string{}
	for k, v := range res.json(t) {
		got[k], _ = v.(string)
	}
	if res.status != 200 || !maps.Equal(got, want) {
		t.Errorf("%s: %d %v, want %v", what, res.status, got, want)
	}
}
