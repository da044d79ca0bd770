package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/totp"
)

// TestOrganizationTeamForms: the organization page grants a team a
// package, changes and takes the grant away, and deletes a team, as npm
// access grant, npm access revoke and npm team destroy do; it offers them
// to those policy lets manage teams, asks for the one-time password where
// policy says, and the answers are the organization service's.
func TestOrganizationTeamForms(t *testing.T) {
	s := newSite(t)
	toks := map[string]string{}
	browsers := map[string]*browser{}
	for _, name := range []string{"alice", "bob", "carol", "dave"} {
		toks[name] = s.apiUser(name)
		browsers[name] = s.browser()
		if p := browsers[name].signIn(name, ""); p.status != http.StatusSeeOther {
			t.Fatalf("%s signs in: %d", name, p.status)
		}
	}
	alice, bob, carol, dave := browsers["alice"], browsers["bob"], browsers["carol"], browsers["dave"]
	const org = "/org/acme"
	if p := alice.submit("/settings/alice/orgs", "/settings/alice/orgs", url.Values{"name": {"acme"}}); p.status != http.StatusSeeOther {
		t.Fatalf("create acme: %d %s", p.status, p.body)
	}
	for user, role := range map[string]string{"bob": "developer", "carol": "admin"} {
		if p := alice.submit(org, org+"/members", url.Values{"username": {user}, "role": {role}}); p.status != http.StatusSeeOther {
			t.Fatalf("add %s: %d %s", user, p.status, p.body)
		}
	}
	if p := alice.submit(org, org+"/teams", url.Values{"team": {"readers"}}); p.status != http.StatusSeeOther {
		t.Fatalf("create readers: %d %s", p.status, p.body)
	}
	s.publish(toks["alice"], "@acme/lib", "1.0.0", "")
	s.publish(toks["alice"], "unscoped", "1.0.0", "")
	teamPackages := func(team string) map[string]string {
		t.Helper()
		status, b := s.api("GET", "/-/team/acme/"+team+"/package", toks["alice"], nil)
		var m map[string]string
		if status != http.StatusOK || json.Unmarshal(b, &m) != nil {
			t.Fatalf("team packages of %s: %d %s", team, status, b)
		}
		return m
	}

	// The owner's page: every team form, with labels, and the packages to choose.
	p := alice.get(org)
	wantIn(t, "the owner's page", p, http.StatusOK, `<datalist id="org-packages"><option value="@acme/lib"></option></datalist>`,
		`action="/org/acme/teams/readers/packages"`, `<label for="grant-pkg-readers">Package</label>`,
		`<label for="grant-perm-readers">Permission</label>`, `action="/org/acme/teams/readers/delete"`,
		`data-confirm="Delete the team readers?`, ">Delete team readers</button>")
	wantNotIn(t, "the owner's page", p, `action="/org/acme/teams/developers/delete"`, "unscoped</option>")

	// Grant, change, refuse, revoke.
	grant := func(b *browser, pkg, perm string, otp ...string) page {
		f := url.Values{"package": {pkg}, "permission": {perm}}
		if len(otp) > 0 {
			f.Set("otp", otp[0])
		}
		return b.submit(org, org+"/teams/readers/packages", f)
	}
	if p := grant(alice, "@acme/lib", "read-only"); p.status != http.StatusSeeOther || p.location != org+"?done=granted" {
		t.Fatalf("grant: %d %q %s", p.status, p.location, p.body)
	}
	wantIn(t, "granted", alice.get(org+"?done=granted"), http.StatusOK, "Package access saved.",
		`<a href="/package/@acme/lib">@acme/lib</a></td><td>read-only</td>`,
		`action="/org/acme/teams/readers/packages/revoke"`, `aria-label="Take @acme/lib away from readers"`)
	if got := teamPackages("readers"); !reflect.DeepEqual(got, map[string]string{"@acme/lib": "read-only"}) {
		t.Fatalf("readers after the grant: %v", got)
	}
	if p := grant(alice, "@acme/lib", "read-write"); p.status != http.StatusSeeOther {
		t.Fatalf("change the grant: %d %s", p.status, p.body)
	}
	if got := teamPackages("readers"); !reflect.DeepEqual(got, map[string]string{"@acme/lib": "read-write"}) {
		t.Fatalf("readers after the change: %v", got)
	}
	p = grant(alice, "unscoped", "read-only")
	// 404, as for a missing package (issue 14): the answer never says
	// whether a package of another scope exists.
	wantIn(t, "another scope's package", p, http.StatusNotFound, "unscoped is not a package of @acme",
		`id="grant-pkg-readers" name="package"`, `value="unscoped"`)
	wantIn(t, "no package", grant(alice, "", "read-only"), http.StatusBadRequest, "Enter the package to grant readers")
	wantIn(t, "a made-up permission", grant(alice, "@acme/lib", "admin"), http.StatusBadRequest,
		"permissions must be read-only or read-write")
	p = alice.submit(org, org+"/teams/readers/packages/revoke", url.Values{"package": {"@acme/lib"}})
	if p.status != http.StatusSeeOther || p.location != org+"?done=revoked" {
		t.Fatalf("revoke: %d %q %s", p.status, p.location, p.body)
	}
	if got := teamPackages("readers"); len(got) != 0 {
		t.Fatalf("readers after the revoke: %v", got)
	}

	// A developer may not manage teams: no forms, and a post is refused.
	p = bob.get(org)
	wantNotIn(t, "the developer's page", p, "/packages\"", "/delete\"", "org-packages", "Grant to")
	wantIn(t, "the developer grants", grant(bob, "@acme/lib", "read-only"), http.StatusForbidden,
		"Only owners and admins of acme can manage its teams")
	wantIn(t, "the developer deletes a team", bob.submit(org, org+"/teams/readers/delete", url.Values{}),
		http.StatusForbidden, "Only owners and admins of acme can manage its teams")
	// Someone outside the organization finds nothing.
	wantIn(t, "an outsider grants", dave.submit("/", org+"/teams/readers/packages",
		url.Values{"package": {"@acme/lib"}, "permission": {"read-write"}}), http.StatusNotFound)
	// Every form checks its CSRF field.
	wantIn(t, "no CSRF field", alice.post(org+"/teams/readers/delete", url.Values{}), http.StatusForbidden, "The form expired")

	// carol, an admin who confirms writes with a one-time password, is asked for one.
	secret := s.enable2FASecret(toks["carol"], "carol", "auth-and-writes")
	p = carol.get(org)
	wantIn(t, "the admin's page with 2FA", p, http.StatusOK, `<label for="grant-otp-readers">One-time password</label>`,
		`<label for="delete-otp-readers">One-time password</label>`)
	wantIn(t, "grant without the OTP", grant(carol, "@acme/lib", "read-only"), http.StatusUnauthorized,
		"This operation requires a one-time password.", `value="@acme/lib"`)
	if p := grant(carol, "@acme/lib", "read-only", totp.Code(secret, totp.Step(time.Now()))); p.status != http.StatusSeeOther {
		t.Fatalf("grant with the OTP: %d %s", p.status, p.body)
	}
	wantIn(t, "the revoke form asks for the OTP", carol.get(org), http.StatusOK,
		`<label class="visually-hidden" for="revoke-otp-1-0">One-time password</label>`)

	// The developers team stays; another team goes, with its grants.
	p = alice.submit(org, org+"/teams/developers/delete", url.Values{})
	wantIn(t, "delete developers", p, http.StatusBadRequest, "The developers team cannot be removed")
	p = alice.submit(org, org+"/teams/readers/delete", url.Values{})
	if p.status != http.StatusSeeOther || p.location != org+"?done=team-deleted" {
		t.Fatalf("delete readers: %d %q %s", p.status, p.location, p.body)
	}
	p = alice.get(p.location)
	wantIn(t, "deleted", p, http.StatusOK, "Team deleted.", `<h3 id="team-developers">developers</h3>`)
	wantNotIn(t, "deleted", p, `id="team-readers"`)
	status, b := s.api("GET", "/-/org/acme/team", toks["alice"], nil)
	var teams []string
	if status != http.StatusOK || json.Unmarshal(b, &teams) != nil || !reflect.DeepEqual(teams, []string{"acme:developers"}) {
		t.Fatalf("teams after the deletion: %d %s", status, b)
	}
}
