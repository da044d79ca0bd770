package e2e

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// These tests drive `npm org`, `npm team` and `npm access` of the machine's
// npm against gatehouse organizations: members and roles, teams, team grants
// on an organization's packages, who may publish under which scope, and what
// granular tokens with an organization grant may do. Each outcome is checked
// both in what npm prints and in what the server answers afterwards.

// createOrg runs `gatehouse org create NAME --owner OWNER` on srv's data
// folder while the server runs.
func createOrg(t *testing.T, srv *server, name, owner string) {
	t.Helper()
	out, code := runGatehouse(t, "", "org", "create", name, "--owner", owner, "--data", srv.DataDir())
	if code != 0 {
		t.Fatalf("gatehouse org create %s --owner %s: exit %d\n%s", name, owner, code, out)
	}
	if want := "created organization " + name; !strings.Contains(out, want) {
		t.Errorf("gatehouse org create printed %q, want it to contain %q", out, want)
	}
}

// startWithOrg is startWithUser for alice, who owns the organization acme.
func startWithOrg(t *testing.T) (*server, string, *npmClient) {
	t.Helper()
	srv, session, alice := startWithUser(t, "alice")
	createOrg(t, srv, "acme", "alice")
	return srv, session, alice
}

// serverJSON GETs path with token, requires 200 and decodes the answer into v.
func serverJSON(t *testing.T, srv *server, token, path string, v any) {
	t.Helper()
	res := srv.do(t, http.MethodGet, path, token, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("GET /%s: got %s, want 200", path, res)
	}
	decodeJSON(t, res.Body, v)
}

// serverRoster is the organization's member → role map as the server has it.
func serverRoster(t *testing.T, srv *server, token, org string) map[string]string {
	t.Helper()
	var m map[string]string
	serverJSON(t, srv, token, "-/org/"+org+"/user", &m)
	return m
}

// serverTeam lists a team's members (sorted) as the server has them.
func serverTeam(t *testing.T, srv *server, token, org, team string) []string {
	t.Helper()
	var list []string
	serverJSON(t, srv, token, "-/team/"+org+"/"+team+"/user", &list)
	slices.Sort(list)
	return list
}

// serverTeamPackages is a team's package → permission map as the server has it.
func serverTeamPackages(t *testing.T, srv *server, token, org, team string) map[string]string {
	t.Helper()
	var m map[string]string
	serverJSON(t, srv, token, "-/team/"+org+"/"+team+"/package", &m)
	return m
}

// serverVisibility says whether the server holds name as public.
func serverVisibility(t *testing.T, srv *server, token, name string) bool {
	t.Helper()
	var v struct {
		Public bool `json:"public"`
	}
	serverJSON(t, srv, token, "-/package/"+url.PathEscape(name)+"/visibility", &v)
	return v.Public
}

// npmRoster runs `npm org ls ORG --json`.
func npmRoster(t *testing.T, c *npmClient, org string) map[string]string {
	t.Helper()
	res := c.mustRun("", "org", "ls", org, "--json")
	var m map[string]string
	if err := json.Unmarshal([]byte(res.Stdout), &m); err != nil {
		t.Fatalf("decode npm org ls --json: %v\n%s", err, res)
	}
	return m
}

// npmStrings runs an npm command with --json that prints a list of strings.
func npmStrings(t *testing.T, c *npmClient, args ...string) []string {
	t.Helper()
	res := c.mustRun("", append(args, "--json")...)
	var list []string
	if err := json.Unmarshal([]byte(res.Stdout), &list); err != nil {
		t.Fatalf("decode %s: %v\n%s", strings.Join(args, " "), err, res)
	}
	slices.Sort(list)
	return list
}

// npmAccessMap runs an `npm access list ...` command with --json.
func npmAccessMap(t *testing.T, c *npmClient, args ...string) map[string]string {
	t.Helper()
	res := c.mustRun("", append(append([]string{"access", "list"}, args...), "--json")...)
	m := map[string]string{}
	if err := json.Unmarshal([]byte(res.Stdout), &m); err != nil {
		t.Fatalf("decode npm access list %s --json: %v\n%s", strings.Join(args, " "), err, res)
	}
	return m
}

func assertRoster(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if !maps.Equal(got, want) {
		t.Errorf("%s: members = %v, want %v", what, got, want)
	}
}

func assertList(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

// installs checks that c installs name at version into a fresh project.
func installs(t *testing.T, c *npmClient, name, version string) {
	t.Helper()
	project := makeProject(t, nil)
	c.mustRun(project, "install", name)
	assertInstalled(t, project, name, version)
}

// cannotInstall checks that c's install of name fails with E404 and leaves
// nothing behind.
func cannotInstall(t *testing.T, c *npmClient, name string) {
	t.Helper()
	project := makeProject(t, nil)
	c.mustFail(project, []string{"E404"}, "install", name)
	assertNotInstalled(t, project, name)
}

// orgToken creates a granular token over HTTP with the user's session that
// grants perm on the organizations orgs and nothing on packages.
func orgToken(t *testing.T, srv *server, session, user, perm string, bypass2FA bool, orgs ...string) string {
	t.Helper()
	body := map[string]any{
		"password":        passwordOf(user),
		"name":            "org " + perm,
		"orgs":            orgs,
		"orgs_permission": perm,
	}
	if bypass2FA {
		body["bypass_2fa"] = true
	}
	res := srv.do(t, http.MethodPost, "-/npm/v1/tokens", session, body)
	if res.Status != http.StatusCreated {
		t.Fatalf("POST /-/npm/v1/tokens %v: got %s, want 201", redactPassword(body), res)
	}
	var doc tokenObj
	decodeJSON(t, res.Body, &doc)
	if !tokenPattern.MatchString(doc.Token) {
		t.Fatalf("POST /-/npm/v1/tokens answered token %q, want a whole npm_ token", doc.Token)
	}
	if !slices.Equal(doc.Orgs, orgs) || doc.OrgsPermission != perm || doc.Bypass2FA != bypass2FA {
		t.Errorf("created token lists orgs %v %q bypass_2fa %v, want %v %q %v",
			doc.Orgs, doc.OrgsPermission, doc.Bypass2FA, orgs, perm, bypass2FA)
	}
	return doc.Token
}

// TestOrgMembers creates an organization next to the running server and
// manages its members and their roles with npm org.
func TestOrgMembers(t *testing.T) {
	t.Parallel()
	srv, session, alice := startWithOrg(t)
	npm := alice.tool
	bob := userClient(t, srv, npm, "bob")
	carol := userClient(t, srv, npm, "carol")
	for _, name := range []string{"dave", "erin"} {
		srv.createUser(t, name)
	}

	res := alice.mustRun("", "org", "ls", "acme")
	if got := strings.TrimSpace(res.Stdout); got != "alice - owner" {
		t.Errorf("npm org ls acme printed %q, want \"alice - owner\"", got)
	}
	assertList(t, "developers team of a new org", serverTeam(t, srv, session, "acme", "developers"), "alice")

	res = alice.mustRun("", "org", "set", "acme", "bob")
	if want := "Added bob as developer to acme. You now have 2 members in this org."; strings.TrimSpace(res.Stdout) != want {
		t.Errorf("npm org set acme bob printed %q, want %q", res.Stdout, want)
	}
	assertList(t, "npm team ls acme:developers", npmStrings(t, alice, "team", "ls", "acme:developers"), "alice", "bob")
	res = alice.mustRun("", "team", "ls", "acme:developers")
	if !strings.Contains(res.Stdout, "@acme:developers has 2 users:") || !strings.Contains(res.Stdout, "\nbob") {
		t.Errorf("npm team ls acme:developers does not list bob:\n%s", res)
	}

	res = alice.mustRun("", "org", "set", "acme", "carol", "admin")
	if want := "Added carol as admin to acme. You now have 3 members in this org."; strings.TrimSpace(res.Stdout) != want {
		t.Errorf("npm org set acme carol admin printed %q, want %q", res.Stdout, want)
	}
	want := map[string]string{"alice": "owner", "bob": "developer", "carol": "admin"}
	assertRoster(t, "npm org ls acme --json", npmRoster(t, alice, "acme"), want)
	assertRoster(t, "server", serverRoster(t, srv, session, "acme"), want)
	// Every member reads the roster.
	assertRoster(t, "npm org ls acme --json as bob", npmRoster(t, bob, "acme"), want)
	res = bob.mustRun("", "org", "ls", "acme", "carol")
	if got := strings.TrimSpace(res.Stdout); got != "carol - admin" {
		t.Errorf("npm org ls acme carol printed %q, want \"carol - admin\"", got)
	}

	t.Run("a developer cannot manage members", func(t *testing.T) {
		bob.mustFail("", []string{"E403"}, "org", "set", "acme", "dave")
		bob.mustFail("", []string{"E403"}, "org", "set", "acme", "bob", "admin")
		bob.mustFail("", []string{"E403"}, "org", "rm", "acme", "carol")
		assertRoster(t, "after bob's attempts", serverRoster(t, srv, session, "acme"), want)
	})

	t.Run("an admin adds developers but never owners", func(t *testing.T) {
		carol.mustRun("", "org", "set", "acme", "dave")
		want["dave"] = "developer"
		carol.mustFail("", []string{"E403"}, "org", "set", "acme", "erin", "owner")
		carol.mustFail("", []string{"E403"}, "org", "set", "acme", "dave", "owner")
		carol.mustFail("", []string{"E403"}, "org", "set", "acme", "carol", "owner")
		carol.mustFail("", []string{"E403"}, "org", "set", "acme", "alice", "developer")
		carol.mustFail("", []string{"E403"}, "org", "rm", "acme", "alice")
		assertRoster(t, "after carol's changes", serverRoster(t, srv, session, "acme"), want)
		assertList(t, "developers team", serverTeam(t, srv, session, "acme", "developers"), "alice", "bob", "carol", "dave")
	})

	t.Run("the last owner stays", func(t *testing.T) {
		res := alice.mustFail("", []string{"E409"}, "org", "rm", "acme", "alice")
		if !strings.Contains(res.Output(), "owner") {
			t.Errorf("the refusal does not say why:\n%s", res)
		}
		alice.mustFail("", []string{"E409"}, "org", "set", "acme", "alice", "admin")
		alice.mustFail("", []string{"E409"}, "org", "set", "acme", "alice", "developer")
		assertRoster(t, "after removing the last owner was refused", serverRoster(t, srv, session, "acme"), want)

		// With a second owner, alice is no longer the last one.
		alice.mustRun("", "org", "set", "acme", "carol", "owner")
		carol.mustRun("", "org", "set", "acme", "alice", "admin")
		assertRoster(t, "after alice became admin", serverRoster(t, srv, session, "acme"),
			map[string]string{"alice": "admin", "bob": "developer", "carol": "owner", "dave": "developer"})
		// As an admin, alice may not make herself owner again.
		alice.mustFail("", []string{"E403"}, "org", "set", "acme", "alice", "owner")
		carol.mustRun("", "org", "set", "acme", "alice", "owner")
		alice.mustRun("", "org", "set", "acme", "carol", "admin")
		assertRoster(t, "after the roles were restored", serverRoster(t, srv, session, "acme"), want)
	})

	t.Run("removing a member takes them out of every team", func(t *testing.T) {
		alice.mustRun("", "team", "create", "acme:ops")
		alice.mustRun("", "team", "add", "acme:ops", "bob")
		assertList(t, "acme:ops", serverTeam(t, srv, session, "acme", "ops"), "bob")

		res := alice.mustRun("", "org", "rm", "acme", "bob")
		if want := "Successfully removed bob from acme. You now have 3 members in this org."; strings.TrimSpace(res.Stdout) != want {
			t.Errorf("npm org rm acme bob printed %q, want %q", res.Stdout, want)
		}
		delete(want, "bob")
		assertRoster(t, "npm org ls acme --json after rm", npmRoster(t, alice, "acme"), want)
		assertRoster(t, "server after rm", serverRoster(t, srv, session, "acme"), want)
		assertList(t, "npm team ls acme:developers after rm", npmStrings(t, alice, "team", "ls", "acme:developers"), "alice", "carol", "dave")
		assertList(t, "npm team ls acme:ops after rm", npmStrings(t, alice, "team", "ls", "acme:ops"))
		// bob is out: the organization is invisible to him.
		bob.mustFail("", []string{"E404"}, "org", "ls", "acme")
		bob.mustFail("", []string{"E404"}, "team", "ls", "acme")
		// Removing him again: he is not a member.
		alice.mustFail("", []string{"E404"}, "org", "rm", "acme", "bob")
	})
}

// TestOrgTeams creates, fills, lists and destroys a team with npm team.
func TestOrgTeams(t *testing.T) {
	t.Parallel()
	srv, session, alice := startWithOrg(t)
	npm := alice.tool
	bob := userClient(t, srv, npm, "bob")
	eve := userClient(t, srv, npm, "eve")
	srv.createUser(t, "carol")
	alice.mustRun("", "org", "set", "acme", "bob")
	alice.mustRun("", "org", "set", "acme", "carol")

	res := alice.mustRun("", "team", "create", "acme:web")
	if got := strings.TrimSpace(res.Stdout); got != "+@acme:web" {
		t.Errorf("npm team create printed %q, want +@acme:web", got)
	}
	alice.mustFail("", []string{"E409"}, "team", "create", "acme:web")
	assertList(t, "npm team ls acme", npmStrings(t, alice, "team", "ls", "acme"), "acme:developers", "acme:web")
	res = alice.mustRun("", "team", "ls", "acme")
	for _, w := range []string{"@acme has 2 teams:", "@acme:developers", "@acme:web"} {
		if !strings.Contains(res.Stdout, w) {
			t.Errorf("npm team ls acme lacks %q:\n%s", w, res)
		}
	}
	assertList(t, "a new team", serverTeam(t, srv, session, "acme", "web"))

	res = alice.mustRun("", "team", "add", "acme:web", "bob")
	if got := strings.TrimSpace(res.Stdout); got != "bob added to @acme:web" {
		t.Errorf("npm team add printed %q, want \"bob added to @acme:web\"", got)
	}
	alice.mustRun("", "team", "add", "acme:web", "carol")
	assertList(t, "npm team ls acme:web", npmStrings(t, bob, "team", "ls", "acme:web"), "bob", "carol")
	assertList(t, "server acme:web", serverTeam(t, srv, session, "acme", "web"), "bob", "carol")

	t.Run("only organization members join teams", func(t *testing.T) {
		alice.mustFail("", []string{"E400", "E404", "E409", "E422"}, "team", "add", "acme:web", "eve")
		alice.mustFail("", []string{"E404"}, "team", "add", "acme:web", "nosuchuser")
		assertList(t, "acme:web after refused adds", serverTeam(t, srv, session, "acme", "web"), "bob", "carol")
	})

	t.Run("developers and outsiders cannot manage teams", func(t *testing.T) {
		bob.mustFail("", []string{"E403"}, "team", "create", "acme:bobs")
		bob.mustFail("", []string{"E403"}, "team", "add", "acme:developers", "carol")
		bob.mustFail("", []string{"E403"}, "team", "rm", "acme:web", "carol")
		bob.mustFail("", []string{"E403"}, "team", "destroy", "acme:web")
		eve.mustFail("", []string{"E404"}, "team", "ls", "acme")
		eve.mustFail("", []string{"E404"}, "team", "ls", "acme:web")
		eve.mustFail("", []string{"E404"}, "team", "create", "acme:eves")
		var teams []string
		serverJSON(t, srv, session, "-/org/acme/team", &teams)
		slices.Sort(teams)
		assertList(t, "teams after refused changes", teams, "acme:developers", "acme:web")
		assertList(t, "acme:web after refused changes", serverTeam(t, srv, session, "acme", "web"), "bob", "carol")
	})

	res = alice.mustRun("", "team", "rm", "acme:web", "bob")
	if got := strings.TrimSpace(res.Stdout); got != "bob removed from @acme:web" {
		t.Errorf("npm team rm printed %q, want \"bob removed from @acme:web\"", got)
	}
	assertList(t, "npm team ls acme:web after rm", npmStrings(t, alice, "team", "ls", "acme:web"), "carol")
	// Leaving a team is not leaving the organization.
	assertRoster(t, "after team rm", serverRoster(t, srv, session, "acme"),
		map[string]string{"alice": "owner", "bob": "developer", "carol": "developer"})

	res = alice.mustRun("", "team", "destroy", "acme:web")
	if got := strings.TrimSpace(res.Stdout); got != "-@acme:web" {
		t.Errorf("npm team destroy printed %q, want -@acme:web", got)
	}
	assertList(t, "npm team ls acme after destroy", npmStrings(t, alice, "team", "ls", "acme"), "acme:developers")
	alice.mustFail("", []string{"E404"}, "team", "ls", "acme:web")
	alice.mustFail("", []string{"E404"}, "team", "destroy", "acme:web")
	// The developers team stays.
	alice.mustFail("", []string{"E400"}, "team", "destroy", "acme:developers")
	assertList(t, "developers team", serverTeam(t, srv, session, "acme", "developers"), "alice", "bob", "carol")
}

// TestOrgAccess grants a team access to an organization's restricted
// package and takes it away again, and flips the package's visibility.
func TestOrgAccess(t *testing.T) {
	t.Parallel()
	srv, session, alice := startWithOrg(t)
	npm := alice.tool
	dave := userClient(t, srv, npm, "dave")
	carol := userClient(t, srv, npm, "carol")
	anon := newClient(t, srv, npm)
	const secret = "@acme/secret"

	alice.publishSpec(pkgSpec{Name: secret, Version: "1.0.0"})
	assertVersions(t, srv, secret) // restricted: the anonymous GET sees nothing
	if serverVisibility(t, srv, session, secret) {
		t.Fatalf("%s was published public, want restricted", secret)
	}
	res := alice.mustRun("", "access", "get", "status", secret)
	if got := strings.TrimSpace(res.Stdout); got != secret+": private" {
		t.Errorf("npm access get status printed %q, want %q", got, secret+": private")
	}
	// A new package of the org is granted to its developers team.
	if got := npmAccessMap(t, alice, "packages", "acme:developers"); !maps.Equal(got, map[string]string{secret: "read-write"}) {
		t.Errorf("npm access list packages acme:developers = %v, want %s read-write", got, secret)
	}
	if got := npmAccessMap(t, alice, "packages", "acme"); got[secret] == "" {
		t.Errorf("npm access list packages acme = %v, want it to hold %s", got, secret)
	}

	cannotInstall(t, dave, secret)
	alice.mustRun("", "org", "set", "acme", "dave")
	// Through the developers team, dave reads it at once.
	installs(t, dave, secret, "1.0.0")
	alice.mustRun("", "team", "rm", "acme:developers", "dave")
	assertList(t, "developers", serverTeam(t, srv, session, "acme", "developers"), "alice")
	// A developer reaches the org's packages only through teams.
	cannotInstall(t, dave, secret)
	dave.mustFail("", []string{"E404"}, "view", secret)

	alice.mustRun("", "team", "create", "acme:readers")
	alice.mustRun("", "team", "add", "acme:readers", "dave")
	cannotInstall(t, dave, secret)

	t.Run("read-only grant", func(t *testing.T) {
		alice.mustRun("", "access", "grant", "read-only", "acme:readers", secret)
		if got := serverTeamPackages(t, srv, session, "acme", "readers"); !maps.Equal(got, map[string]string{secret: "read-only"}) {
			t.Errorf("server: acme:readers packages = %v, want %s read-only", got, secret)
		}
		if got := npmAccessMap(t, alice, "packages", "acme:readers"); !maps.Equal(got, map[string]string{secret: "read-only"}) {
			t.Errorf("npm access list packages acme:readers = %v, want %s read-only", got, secret)
		}
		installs(t, dave, secret, "1.0.0")
		dave.mustFail(makePackage(t, pkgSpec{Name: secret, Version: "1.1.0"}), []string{"E403"}, "publish")
		if got := alice.viewList(secret, "versions"); !slices.Equal(got, []string{"1.0.0"}) {
			t.Errorf("versions after dave's refused publish = %v, want 1.0.0", got)
		}
		if got := npmAccessMap(t, alice, "collaborators", secret); got["dave"] != "read-only" || got["alice"] != "read-write" {
			t.Errorf("npm access list collaborators %s = %v, want alice read-write and dave read-only", secret, got)
		}
		if got := npmAccessMap(t, dave, "packages"); got[secret] != "read-only" {
			t.Errorf("dave: npm access list packages = %v, want %s read-only", got, secret)
		}
	})

	t.Run("read-write grant", func(t *testing.T) {
		alice.mustRun("", "access", "grant", "read-write", "acme:readers", secret)
		if got := npmAccessMap(t, alice, "packages", "acme:readers"); !maps.Equal(got, map[string]string{secret: "read-write"}) {
			t.Errorf("npm access list packages acme:readers = %v, want %s read-write", got, secret)
		}
		dave.publishSpec(pkgSpec{Name: secret, Version: "1.1.0"})
		if got := alice.viewList(secret, "versions"); !slices.Equal(got, []string{"1.0.0", "1.1.0"}) {
			t.Errorf("versions after dave's publish = %v, want 1.0.0 1.1.0", got)
		}
		res := alice.mustRun("", "access", "list", "collaborators", secret)
		if !strings.Contains(res.Stdout, "dave: read-write") || !strings.Contains(res.Stdout, "alice: read-write") {
			t.Errorf("npm access list collaborators does not show alice and dave read-write:\n%s", res)
		}
		installs(t, dave, secret, "1.1.0")
	})

	t.Run("leaving the team takes access away at once", func(t *testing.T) {
		alice.mustRun("", "team", "rm", "acme:readers", "dave")
		cannotInstall(t, dave, secret)
		dave.mustFail("", []string{"E404"}, "view", secret)
		dave.mustFail(makePackage(t, pkgSpec{Name: secret, Version: "1.2.0"}), []string{"E404"}, "publish")
		if got := npmAccessMap(t, alice, "collaborators", secret); got["dave"] != "" {
			t.Errorf("npm access list collaborators %s = %v after dave left the team", secret, got)
		}
	})

	t.Run("leaving the org takes access away at once", func(t *testing.T) {
		alice.mustRun("", "team", "add", "acme:readers", "dave")
		installs(t, dave, secret, "1.1.0")
		alice.mustRun("", "org", "rm", "acme", "dave")
		cannotInstall(t, dave, secret)
		dave.mustFail(makePackage(t, pkgSpec{Name: secret, Version: "1.2.0"}), []string{"E404"}, "publish")
		assertList(t, "acme:readers after dave left the org", serverTeam(t, srv, session, "acme", "readers"))
		assertVersions(t, srv, secret)
		if got := alice.viewList(secret, "versions"); !slices.Equal(got, []string{"1.0.0", "1.1.0"}) {
			t.Errorf("versions = %v, want 1.0.0 1.1.0", got)
		}
	})

	t.Run("revoke", func(t *testing.T) {
		alice.mustRun("", "access", "revoke", "acme:readers", secret)
		if got := npmAccessMap(t, alice, "packages", "acme:readers"); len(got) != 0 {
			t.Errorf("npm access list packages acme:readers = %v after revoke, want none", got)
		}
		if got := serverTeamPackages(t, srv, session, "acme", "readers"); len(got) != 0 {
			t.Errorf("server: acme:readers packages = %v after revoke, want none", got)
		}
	})

	t.Run("admins reach every package of the org", func(t *testing.T) {
		alice.mustRun("", "org", "set", "acme", "carol", "admin")
		alice.mustRun("", "team", "rm", "acme:developers", "carol")
		installs(t, carol, secret, "1.1.0")
		carol.publishSpec(pkgSpec{Name: secret, Version: "1.2.0"})
		if got := alice.viewList(secret, "versions"); !slices.Equal(got, []string{"1.0.0", "1.1.0", "1.2.0"}) {
			t.Errorf("versions after carol's publish = %v, want 1.0.0 1.1.0 1.2.0", got)
		}
	})

	t.Run("status public and back", func(t *testing.T) {
		cannotInstall(t, anon, secret)
		res := alice.mustRun("", "access", "set", "status=public", secret)
		if got := strings.TrimSpace(res.Stdout); got != secret+": public" {
			t.Errorf("npm access set status=public printed %q, want %q", got, secret+": public")
		}
		if !serverVisibility(t, srv, session, secret) {
			t.Errorf("server: %s is not public after npm access set status=public", secret)
		}
		res = alice.mustRun("", "access", "get", "status", secret)
		if got := strings.TrimSpace(res.Stdout); got != secret+": public" {
			t.Errorf("npm access get status printed %q, want %q", got, secret+": public")
		}
		installs(t, anon, secret, "1.2.0")
		installs(t, dave, secret, "1.2.0")
		assertVersions(t, srv, secret, "1.0.0", "1.1.0", "1.2.0")

		res = alice.mustRun("", "access", "set", "status=private", secret)
		if got := strings.TrimSpace(res.Stdout); got != secret+": private" {
			t.Errorf("npm access set status=private printed %q, want %q", got, secret+": private")
		}
		res = alice.mustRun("", "access", "get", "status", secret)
		if got := strings.TrimSpace(res.Stdout); got != secret+": private" {
			t.Errorf("npm access get status printed %q, want %q", got, secret+": private")
		}
		if serverVisibility(t, srv, session, secret) {
			t.Errorf("server: %s is still public after npm access set status=private", secret)
		}
		cannotInstall(t, anon, secret)
		anon.mustFail("", []string{"E404"}, "view", secret)
		cannotInstall(t, dave, secret)
		assertVersions(t, srv, secret)
	})
}

// TestOrgScopePublish checks that nobody publishes under a scope that is
// not theirs, and what a member's publish under the org's scope sets up.
func TestOrgScopePublish(t *testing.T) {
	t.Parallel()
	srv, aliceSession, alice := startWithOrg(t)
	npm := alice.tool
	bob := userClient(t, srv, npm, "bob")
	eve := userClient(t, srv, npm, "eve")
	alice.mustRun("", "org", "set", "acme", "bob")

	absent := func(name string) {
		t.Helper()
		if res := srv.do(t, http.MethodGet, url.PathEscape(name), aliceSession, nil); res.Status != http.StatusNotFound {
			t.Errorf("GET /%s as alice: got %s, want 404", name, res)
		}
	}

	eve.mustFail(makePackage(t, pkgSpec{Name: "@acme/x", Version: "1.0.0"}), []string{"E404"}, "publish")
	eve.mustFail(makePackage(t, pkgSpec{Name: "@acme/x", Version: "1.0.0"}), []string{"E404"}, "publish", "--access", "public")
	absent("@acme/x")
	bob.mustFail(makePackage(t, pkgSpec{Name: "@alice/x", Version: "1.0.0"}), []string{"E404"}, "publish")
	bob.mustFail(makePackage(t, pkgSpec{Name: "@alice/x", Version: "1.0.0"}), []string{"E404"}, "publish", "--access", "public")
	absent("@alice/x")
	alice.mustFail("", []string{"E404"}, "view", "@acme/x")
	alice.mustFail("", []string{"E404"}, "view", "@alice/x")

	// A member publishes a new package of the org: it is restricted, its
	// publisher maintains it and the developers team may write it.
	bob.publishSpec(pkgSpec{Name: "@acme/tools", Version: "1.0.0"})
	if serverVisibility(t, srv, aliceSession, "@acme/tools") {
		t.Errorf("@acme/tools was published public, want restricted")
	}
	if got := ownerNames(t, alice, "@acme/tools"); !slices.Equal(got, []string{"bob"}) {
		t.Errorf("owners of @acme/tools = %v, want bob", got)
	}
	if got := serverTeamPackages(t, srv, aliceSession, "acme", "developers"); got["@acme/tools"] != "read-write" {
		t.Errorf("developers team packages = %v, want @acme/tools read-write", got)
	}
	eve.mustFail("", []string{"E404"}, "view", "@acme/tools")
	alice.publishSpec(pkgSpec{Name: "@acme/tools", Version: "1.1.0"})
	// eve's own scope is hers.
	eve.publishSpec(pkgSpec{Name: "@eve/x", Version: "1.0.0"})
	bob.mustFail(makePackage(t, pkgSpec{Name: "@eve/x", Version: "1.1.0"}), []string{"E404"}, "publish")
}

// TestOrgTokens checks what granular tokens with an organization grant may
// do: manage the organization within their user's role, never its packages.
func TestOrgTokens(t *testing.T) {
	t.Parallel()
	srv, session, alice := startWithOrg(t)
	npm := alice.tool
	frankSession := srv.createUser(t, "frank")
	srv.createUser(t, "gina")
	const secret = "@acme/secret"
	alice.publishSpec(pkgSpec{Name: secret, Version: "1.0.0"})

	t.Run("read-write", func(t *testing.T) {
		c := newClient(t, srv, npm).login(orgToken(t, srv, session, "alice", "read-write", false, "acme"))
		assertWhoami(t, c, "alice")
		res := c.mustRun("", "org", "set", "acme", "frank", "developer")
		if !strings.Contains(res.Stdout, "Added frank as developer to acme.") {
			t.Errorf("npm org set with an org token printed:\n%s", res)
		}
		assertRoster(t, "after org set with the token", serverRoster(t, srv, session, "acme"),
			map[string]string{"alice": "owner", "frank": "developer"})
		c.mustRun("", "team", "create", "acme:ci")
		c.mustRun("", "team", "add", "acme:ci", "frank")
		assertList(t, "acme:ci", serverTeam(t, srv, session, "acme", "ci"), "frank")

		// No package rights come with it. The private package stays invisible
		// to a token that may not read it, for writes too (spec section 8: 404
		// for private packages the token may not read), so the publish is E404
		// like the view and the install.
		c.mustFail(makePackage(t, pkgSpec{Name: secret, Version: "1.1.0"}), []string{"E404"}, "publish")
		c.mustFail("", []string{"E404"}, "view", secret)
		cannotInstall(t, c, secret)
		c.mustFail(makePackage(t, pkgSpec{Name: "@acme/new", Version: "1.0.0"}), []string{"E403"}, "publish")
		if got := alice.viewList(secret, "versions"); !slices.Equal(got, []string{"1.0.0"}) {
			t.Errorf("versions of %s = %v, want 1.0.0", secret, got)
		}
		alice.mustFail("", []string{"E404"}, "view", "@acme/new")
	})

	t.Run("read-only", func(t *testing.T) {
		c := newClient(t, srv, npm).login(orgToken(t, srv, session, "alice", "read-only", false, "acme"))
		res := c.mustRun("", "org", "ls", "acme")
		if !strings.Contains(res.Stdout, "alice - owner") || !strings.Contains(res.Stdout, "frank - developer") {
			t.Errorf("npm org ls acme with a read-only org token:\n%s", res)
		}
		assertList(t, "npm team ls acme", npmStrings(t, c, "team", "ls", "acme"), "acme:ci", "acme:developers")
		assertList(t, "npm team ls acme:ci", npmStrings(t, c, "team", "ls", "acme:ci"), "frank")
		// A team's package list names only what the credential may read
		// (issue 14): the organization token, which may not read the
		// restricted package, does not learn its name; alice's own login does.
		if got := npmAccessMap(t, c, "packages", "acme:developers"); len(got) != 0 {
			t.Errorf("npm access list packages acme:developers with an org token = %v, want nothing (it may not read %s)", got, secret)
		}
		if got := npmAccessMap(t, alice, "packages", "acme:developers"); got[secret] != "read-write" {
			t.Errorf("npm access list packages acme:developers = %v, want %s read-write", got, secret)
		}
		c.mustFail("", []string{"E403"}, "org", "set", "acme", "frank", "admin")
		c.mustFail("", []string{"E403"}, "org", "set", "acme", "gina")
		c.mustFail("", []string{"E403"}, "org", "rm", "acme", "frank")
		c.mustFail("", []string{"E403"}, "team", "create", "acme:more")
		c.mustFail("", []string{"E403"}, "team", "rm", "acme:ci", "frank")
		c.mustFail("", []string{"E404"}, "view", secret)
		cannotInstall(t, c, secret)
		c.mustFail(makePackage(t, pkgSpec{Name: secret, Version: "1.1.0"}), []string{"E404"}, "publish")
		assertRoster(t, "after the read-only token's attempts", serverRoster(t, srv, session, "acme"),
			map[string]string{"alice": "owner", "frank": "developer"})
		assertList(t, "acme:ci", serverTeam(t, srv, session, "acme", "ci"), "frank")
	})

	t.Run("bypass_2fa", func(t *testing.T) {
		c := newClient(t, srv, npm).login(orgToken(t, srv, session, "alice", "read-write", true, "acme"))
		c.mustRun("", "org", "ls", "acme")
		c.mustFail("", []string{"E403"}, "org", "set", "acme", "frank", "admin")
		c.mustFail("", []string{"E403"}, "org", "set", "acme", "gina")
		c.mustFail("", []string{"E403"}, "org", "rm", "acme", "frank")
		assertRoster(t, "after the bypass_2fa token's attempts", serverRoster(t, srv, session, "acme"),
			map[string]string{"alice": "owner", "frank": "developer"})
	})

	t.Run("no more than the user's role", func(t *testing.T) {
		c := newClient(t, srv, npm).login(orgToken(t, srv, frankSession, "frank", "read-write", false, "acme"))
		c.mustRun("", "org", "ls", "acme")
		c.mustFail("", []string{"E403"}, "org", "set", "acme", "gina")
		c.mustFail("", []string{"E403"}, "org", "set", "acme", "frank", "owner")
		assertRoster(t, "after frank's token's attempts", serverRoster(t, srv, session, "acme"),
			map[string]string{"alice": "owner", "frank": "developer"})
	})

	t.Run("another org's grant", func(t *testing.T) {
		c := newClient(t, srv, npm).login(orgToken(t, srv, session, "alice", "read-write", false, "other"))
		c.mustFail("", []string{"E403"}, "org", "ls", "acme")
		c.mustFail("", []string{"E403"}, "org", "set", "acme", "gina")
		assertRoster(t, "after the other org's token", serverRoster(t, srv, session, "acme"),
			map[string]string{"alice": "owner", "frank": "developer"})
	})
}

// TestOrgCreateRefusals checks that `gatehouse org create` keeps one
// namespace for users and organizations.
func TestOrgCreateRefusals(t *testing.T) {
	t.Parallel()
	srv, session, alice := startWithUser(t, "alice")
	srv.createUser(t, "bob")

	refused := func(want string, args ...string) {
		t.Helper()
		out, code := runGatehouse(t, "", append(append([]string{"org", "create"}, args...), "--data", srv.DataDir())...)
		if code == 0 {
			t.Errorf("gatehouse org create %s succeeded, want a refusal:\n%s", strings.Join(args, " "), out)
			return
		}
		if !strings.Contains(out, want) {
			t.Errorf("gatehouse org create %s: output lacks %q:\n%s", strings.Join(args, " "), want, out)
		}
	}

	refused("taken by a user", "bob", "--owner", "alice")
	refused("taken by a user", "alice", "--owner", "alice")
	alice.mustFail("", []string{"E404"}, "org", "ls", "bob")

	createOrg(t, srv, "acme", "alice")
	refused("already exists", "acme", "--owner", "bob")
	refused("already exists", "acme", "--owner", "alice")
	refused("not found", "widgets", "--owner", "nosuchuser")
	refused("usage", "--owner", "alice")
	refused("usage", "gadgets")
	assertRoster(t, "acme after the refused duplicate", serverRoster(t, srv, session, "acme"),
		map[string]string{"alice": "owner"})
	alice.mustFail("", []string{"E404"}, "org", "ls", "widgets")

	// Nor can a user sign up with the organization's name.
	res := srv.couchLogin(t, "acme", passwordOf("acme"))
	if res.Status != http.StatusConflict {
		t.Errorf("signing up as acme: got %s, want 409", res)
	}
	if res := srv.do(t, http.MethodGet, "-/user/org.couchdb.user:acme", session, nil); res.Status == http.StatusOK {
		var doc struct {
			Name string `json:"name"`
		}
		decodeJSON(t, res.Body, &doc)
		if doc.Name == "acme" {
			t.Errorf("a user acme exists after the refused sign-up: %s", res)
		}
	}
	assertRoster(t, "acme after the refused sign-up", serverRoster(t, srv, session, "acme"),
		map[string]string{"alice": "owner"})
}
