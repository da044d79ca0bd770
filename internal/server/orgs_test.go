package server

import (
	"context"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/audit"
)

func TestOrganizations(t *testing.T) {
	tr := newTestRegistry(t)
	alice, bob, carol := tr.user("alice"), tr.user("bob"), tr.user("carol")
	eve := tr.user("eve")
	ctx := context.Background()
	if _, err := tr.srv.Orgs.Create(ctx, audit.Operator(), "acme", "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.srv.Orgs.Create(ctx, audit.Operator(), "acme", "alice"); err == nil {
		t.Fatal("duplicate organization created")
	}
	if _, err := tr.srv.Orgs.Create(ctx, audit.Operator(), "bob", "alice"); err == nil {
		t.Fatal("an organization took a user's name")
	}
	if res := tr.do("PUT", "/-/user/org.couchdb.user:acme", "", map[string]string{"name": "acme", "password": "x"}); res.status != 409 {
		t.Fatalf("a user took an organization's name: %d %s", res.status, res.body)
	}

	type step struct {
		name   string
		tok    string
		method string
		path   string
		body   any
		status int
	}
	steps := []step{
		{"owner adds bob as developer", alice, "PUT", "/-/org/acme/user", map[string]string{"user": "bob"}, 200},
		{"owner adds carol as admin", alice, "PUT", "/-/org/acme/user", map[string]string{"user": "carol", "role": "admin"}, 200},
		{"developer cannot add members", bob, "PUT", "/-/org/acme/user", map[string]string{"user": "eve"}, 403},
		{"admin cannot grant owner", carol, "PUT", "/-/org/acme/user", map[string]string{"user": "eve", "role": "owner"}, 403},
		{"admin adds a developer", carol, "PUT", "/-/org/acme/user", map[string]string{"user": "eve"}, 200},
		{"non-member cannot list", tr.user("mallory"), "GET", "/-/org/acme/user", nil, 404},
		{"last owner cannot leave", alice, "DELETE", "/-/org/acme/user", map[string]string{"user": "alice"}, 409},
		{"last owner cannot be demoted", alice, "PUT", "/-/org/acme/user", map[string]string{"user": "alice", "role": "admin"}, 409},
		{"bad role", alice, "PUT", "/-/org/acme/user", map[string]string{"user": "bob", "role": "king"}, 400},
		{"member creates a scoped package", bob, "PUT", "/@acme%2fsecret", publishBody(t, "@acme/secret", "1.0.0"), 201},
		{"non-member cannot publish in the scope", tr.user("zed"), "PUT", "/@acme%2fother", publishBody(t, "@acme/other", "1.0.0"), 404},
		{"admin creates a team", carol, "PUT", "/-/org/acme/team", map[string]string{"name": "readers"}, 201},
		{"developer cannot create a team", bob, "PUT", "/-/org/acme/team", map[string]string{"name": "x"}, 403},
		{"team member must be an org member", carol, "PUT", "/-/team/acme/readers/user", map[string]string{"user": "mallory"}, 400},
	}
	for _, s := range steps {
		if res := tr.do(s.method, s.path, s.tok, s.body); res.status != s.status {
			t.Fatalf("%s: %d %s, want %d", s.name, res.status, res.body, s.status)
		}
	}
	if got := tr.do("GET", "/-/org/acme/user", bob, nil).json(t); got["alice"] != "owner" || got["bob"] != "developer" || got["carol"] != "admin" || got["eve"] != "developer" {
		t.Fatalf("roster = %v", got)
	}
	// eve is a developer; the developers team got @acme/secret read-write when bob created it.
	if res := tr.do("GET", "/@acme%2fsecret", eve, nil); res.status != 200 {
		t.Fatalf("developer reads the org package through the developers team: %d", res.status)
	}
	// Take eve out of developers, put her in readers with read-only.
	for _, s := range []step{
		{"eve leaves developers", carol, "DELETE", "/-/team/acme/developers/user", map[string]string{"user": "eve"}, 204},
		{"eve joins readers", carol, "PUT", "/-/team/acme/readers/user", map[string]string{"user": "eve"}, 200},
	} {
		if res := tr.do(s.method, s.path, s.tok, s.body); res.status != s.status {
			t.Fatalf("%s: %d %s", s.name, res.status, res.body)
		}
	}
	if res := tr.do("GET", "/@acme%2fsecret", eve, nil); res.status != 404 {
		t.Fatalf("without a grant eve must not see it: %d", res.status)
	}
	if res := tr.do("PUT", "/-/team/acme/readers/package", carol, map[string]string{"package": "@acme/secret", "permissions": "read-only"}); res.status != 200 {
		t.Fatalf("grant: %d %s", res.status, res.body)
	}
	if res := tr.do("GET", "/@acme%2fsecret", eve, nil); res.status != 200 {
		t.Fatalf("read-only grant: %d", res.status)
	}
	if res := tr.do("PUT", "/@acme%2fsecret", eve, publishBody(t, "@acme/secret", "1.0.1")); res.status != 403 {
		t.Fatalf("read-only member publishing: %d %s", res.status, res.body)
	}
	tr.do("PUT", "/-/team/acme/readers/package", carol, map[string]string{"package": "@acme/secret", "permissions": "read-write"})
	if res := tr.do("PUT", "/@acme%2fsecret", eve, publishBody(t, "@acme/secret", "1.0.1")); res.status != 201 {
		t.Fatalf("read-write member publishing: %d %s", res.status, res.body)
	}
	collab := tr.do("GET", "/-/package/@acme%2fsecret/collaborators", alice, nil).json(t)
	if collab["eve"] != "read-write" || collab["bob"] != "read-write" {
		t.Fatalf("collaborators = %v", collab)
	}
	if pk := tr.do("GET", "/-/team/acme/readers/package", bob, nil).json(t); pk["@acme/secret"] != "read-write" {
		t.Fatalf("team packages = %v", pk)
	}
	// Leaving the organization takes the package away at once.
	if res := tr.do("DELETE", "/-/org/acme/user", alice, map[string]string{"user": "eve"}); res.status != 204 {
		t.Fatalf("remove eve: %d %s", res.status, res.body)
	}
	if res := tr.do("GET", "/@acme%2fsecret", eve, nil); res.status != 404 {
		t.Fatalf("after leaving the org: %d", res.status)
	}
	if got := tr.do("GET", "/-/team/acme/readers/user", alice, nil).body; string(got) != "[]" {
		t.Fatalf("eve still in a team: %s", got)
	}

	// Organization tokens manage the organization but never its packages.
	orgRW := tr.mustToken(alice, map[string]any{"password": "password-alice", "name": "org", "orgs": []string{"acme"}, "orgs_permission": "read-write"})
	orgRO := tr.mustToken(alice, map[string]any{"password": "password-alice", "name": "org ro", "orgs": []string{"acme"}})
	orgBypass := tr.mustToken(alice, map[string]any{"password": "password-alice", "name": "org bypass", "orgs": []string{"acme"}, "orgs_permission": "read-write", "bypass_2fa": true})
	for _, s := range []step{
		{"org token adds a member", orgRW, "PUT", "/-/org/acme/user", map[string]string{"user": "eve"}, 200},
		{"org token cannot read the org's private package", orgRW, "GET", "/@acme%2fsecret", nil, 404},
		{"org token cannot publish (the package stays invisible to it)", orgRW, "PUT", "/@acme%2fsecret", publishBody(t, "@acme/secret", "1.0.2"), 404},
		{"read-only org token lists", orgRO, "GET", "/-/org/acme/team", nil, 200},
		{"read-only org token cannot change", orgRO, "PUT", "/-/org/acme/user", map[string]string{"user": "bob", "role": "admin"}, 403},
		{"bypass org token cannot change membership", orgBypass, "DELETE", "/-/org/acme/user", map[string]string{"user": "eve"}, 403},
		{"public status", alice, "POST", "/-/package/@acme%2fsecret/access", map[string]string{"access": "public"}, 200},
		{"anonymous reads once public", "", "GET", "/@acme%2fsecret", nil, 200},
	} {
		if res := tr.do(s.method, s.path, s.tok, s.body); res.status != s.status {
			t.Fatalf("%s: %d %s, want %d", s.name, res.status, res.body, s.status)
		}
	}
}
