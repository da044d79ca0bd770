package server

import (
	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"strings"
	"testing"
)

// TestTeamGrantDoesNotRevealForeignPackages: an organization's admin who
// grants a team a package of another scope learns nothing of whether it
// exists: a private package of someone else and a name nobody holds get the
// same 404 and the same message. Before, the first answered 400 "not a
// package of @acme" and the second 404.
func TestTeamGrantDoesNotRevealForeignPackages(t *testing.T) {
	onEachStore(t, func(t *testing.T, tr *testRegistry) {
		alice, bob := tr.user("alice"), tr.user("bob")
		if _, err := tr.srv.Orgs.Create(t.Context(), audit.Operator(), "acme", "alice"); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"@bob/hidden", "hidden"} {
			if res := tr.do("PUT", "/"+escape(name), bob, publishBody(t, name, "1.0.0")); res.status != 201 {
				t.Fatalf("publish %s: %d %s", name, res.status, res.body)
			}
		}
		grant := func(pkg string) response {
			return tr.do("PUT", "/-/team/acme/developers/package", alice, map[string]string{"package": pkg, "permissions": "read-only"})
		}
		pairs := [][2]string{
			{"@bob/hidden", "@bob/nothing"},
			{"hidden", "nothing"},
			{"@bob/HIDDEN", "@bob/NOTHING"},
		}
		for _, pair := range pairs {
			exists, missing := grant(pair[0]), grant(pair[1])
			if exists.status != 404 || missing.status != 404 {
				t.Errorf("grant %s: %d, grant %s: %d; want 404 for both", pair[0], exists.status, pair[1], missing.status)
			}
			if a, b := exists.errorText(t), strings.ReplaceAll(missing.errorText(t), pair[1], pair[0]); a != b {
				t.Errorf("grant %s answers %q, grant %s %q: they must differ only by the name", pair[0], a, pair[1], b)
			}
			// Revoking asks the same question.
			exists = tr.do("DELETE", "/-/team/acme/developers/package", alice, map[string]string{"package": pair[0]})
			missing = tr.do("DELETE", "/-/team/acme/developers/package", alice, map[string]string{"package": pair[1]})
			if exists.status != 404 || missing.status != 404 {
				t.Errorf("revoke %s: %d, revoke %s: %d; want 404 for both", pair[0], exists.status, pair[1], missing.status)
			}
		}
		// The organization's own packages are still granted.
		if res := tr.do("PUT", "/@acme%2ftool", alice, publishBody(t, "@acme/tool", "1.0.0")); res.status != 201 {
			t.Fatal(res.status)
		}
		if res := grant("@acme/tool"); res.status != 200 {
			t.Errorf("grant @acme/tool: %d %s", res.status, res.body)
		}
		if res := grant("@acme/missing"); res.status != 404 {
			t.Errorf("grant @acme/missing: %d %s", res.status, res.body)
		}
	})
}

// TestOrgMemberListsOnlyReadablePackages: a member of an organization sees,
// in the organization's package list and in any team's, only the packages
// their own teams let them read, each with the permission they hold (the
// organization's list) or the team was granted (a team's list). Before,
// every member saw every private package of the organization, read-write.
func TestOrgMemberListsOnlyReadablePackages(t *testing.T) {
	onEachStore(t, func(t *testing.T, tr *testRegistry) {
		alice, carol := tr.user("alice"), tr.user("carol")
		if _, err := tr.srv.Orgs.Create(t.Context(), audit.Operator(), "acme", "alice"); err != nil {
			t.Fatal(err)
		}
		step := func(what, method, path string, body any, status int) {
			t.Helper()
			if res := tr.do(method, path, alice, body); res.status != status {
				t.Fatalf("%s: %d %s, want %d", what, res.status, res.body, status)
			}
		}
		step("carol joins", "PUT", "/-/org/acme/user", map[string]string{"user": "carol"}, 200)
		step("carol leaves developers", "DELETE", "/-/team/acme/developers/user", map[string]string{"user": "carol"}, 204)
		for _, name := range []string{"@acme/vault", "@acme/shared", "@acme/open"} {
			step("publish "+name, "PUT", "/"+escape(name), publishBody(t, name, "1.0.0"), 201)
		}
		step("@acme/open public", "POST", "/-/package/@acme%2fopen/access", map[string]string{"access": "public"}, 200)
		step("a readers team", "PUT", "/-/org/acme/team", map[string]string{"name": "readers"}, 201)
		step("carol in readers", "PUT", "/-/team/acme/readers/user", map[string]string{"user": "carol"}, 200)
		step("readers read @acme/shared", "PUT", "/-/team/acme/readers/package",
			map[string]string{"package": "@acme/shared", "permissions": "read-only"}, 200)
		step("developers hold @acme/vault", "PUT", "/-/team/acme/developers/package",
			map[string]string{"package": "@acme/vault", "permissions": "read-write"}, 200)

		type list = map[string]string
		check := func(what, path, tok string, want list) {
			t.Helper()
			tr.wantPackageList(t, what, path, tok, want)
		}
		check("acme's packages, to carol", "/-/org/acme/package", carol, list{"@acme/shared": "read-only", "@acme/open": "read-only"})
		check("acme's packages, to alice", "/-/org/acme/package", alice,
			list{"@acme/vault": "read-write", "@acme/shared": "read-write", "@acme/open": "read-write"})
		// The developers' list names @acme/vault to its owner, not to carol,
		// who is in no team that reads it.
		check("the developers' packages, to alice", "/-/team/acme/developers/package", alice,
			list{"@acme/vault": "read-write", "@acme/shared": "read-write", "@acme/open": "read-write"})
		check("the developers' packages, to carol", "/-/team/acme/developers/package", carol,
			list{"@acme/shared": "read-write", "@acme/open": "read-write"})
		check("the readers' packages, to carol", "/-/team/acme/readers/package", carol, list{"@acme/shared": "read-only"})
		// A token limited to another scope lists nothing of acme's private packages.
		other := tr.mustToken(alice, map[string]any{"password": "password-alice", "name": "other", "scopes": []string{"alice"},
			"orgs": []string{"acme"}})
		check("the developers' packages, to a token for @alice", "/-/team/acme/developers/package", other, list{"@acme/open": "read-write"})
	})
}
