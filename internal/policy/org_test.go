package policy

import (
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// TestRoleChange covers who may give, take away and remove the owner role,
// and the last owner, for a signed-in member of acme of each role.
func TestRoleChange(t *testing.T) {
	p := &auth.Principal{UserID: 1, UserName: "alice", Kind: auth.KindSession}
	as := func(role store.Role) Org { return Org{Name: "acme", Role: role} }
	const (
		owner     = store.RoleOwner
		admin     = store.RoleAdmin
		developer = store.RoleDeveloper
	)
	tests := []struct {
		name   string
		org    Org
		change RoleChange
		want   string // ok, 403, 404 or 409
		msg    string // the message, for refusals
	}{
		{"admin adds a developer", as(admin), RoleChange{Next: developer}, "ok", ""},
		{"admin makes a developer an admin", as(admin), RoleChange{Current: developer, Next: admin}, "ok", ""},
		{"admin removes a developer", as(admin), RoleChange{Current: developer}, "ok", ""},
		{"admin removes an admin", as(admin), RoleChange{Current: admin}, "ok", ""},
		{"admin makes someone an owner", as(admin), RoleChange{Current: developer, Next: owner, OtherOwners: true}, "403",
			"Only owners of acme can grant or take away the owner role"},
		{"admin adds a new owner", as(admin), RoleChange{Next: owner, OtherOwners: true}, "403",
			"Only owners of acme can grant or take away the owner role"},
		{"admin demotes an owner", as(admin), RoleChange{Current: owner, Next: admin, OtherOwners: true}, "403",
			"Only owners of acme can grant or take away the owner role"},
		{"admin removes an owner", as(admin), RoleChange{Current: owner, OtherOwners: true}, "403",
			"Only owners of acme can remove an owner"},
		{"owner makes someone an owner", as(owner), RoleChange{Current: admin, Next: owner, OtherOwners: true}, "ok", ""},
		{"owner demotes another owner", as(owner), RoleChange{Current: owner, Next: developer, OtherOwners: true}, "ok", ""},
		{"owner removes another owner", as(owner), RoleChange{Current: owner, OtherOwners: true}, "ok", ""},
		{"owner keeps an owner an owner", as(owner), RoleChange{Current: owner, Next: owner}, "ok", ""},
		{"the last owner steps down", as(owner), RoleChange{Current: owner, Next: admin}, "409",
			"acme must keep at least one owner; make someone else an owner first"},
		{"the last owner leaves", as(owner), RoleChange{Current: owner}, "409",
			"acme must keep at least one owner; make someone else an owner first"},
		{"developer adds a developer", as(developer), RoleChange{Next: developer}, "403",
			"Only owners and admins of acme can manage its members"},
		{"non-member", as(""), RoleChange{Next: developer}, "404", "Not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := DecideRoleChange(p, tt.org, tt.change)
			if got := outcomeOf(err); got != tt.want {
				t.Fatalf("got %s (%v), want %s", got, err, tt.want)
			}
			if e, _ := fault.As(err); tt.msg != "" && (e == nil || e.Message != tt.msg) {
				t.Fatalf("message %v, want %q", err, tt.msg)
			}
		})
	}
}

// TestRoleChangeCredential shows that the owner rules come on top of what
// the credential may do, never instead of it.
func TestRoleChangeCredential(t *testing.T) {
	beta := Org{Name: "beta", Role: store.RoleOwner}
	makeOwner := RoleChange{Current: store.RoleDeveloper, Next: store.RoleOwner, OtherOwners: true}
	orgToken := func(perm auth.Permission, bypass bool) *auth.Principal {
		return &auth.Principal{UserID: 1, UserName: "alice", Kind: auth.KindGranular, Bypass2FA: bypass,
			Grants: &auth.Grants{Orgs: []string{"beta"}, OrgPerm: perm}}
	}
	tests := []struct {
		name string
		p    *auth.Principal
		want string
	}{
		{"session", &auth.Principal{UserID: 1, UserName: "alice", Kind: auth.KindSession}, "ok"},
		{"read-write organization token", orgToken(auth.ReadWrite, false), "ok"},
		{"read-only organization token", orgToken(auth.ReadOnly, false), "403"},
		{"bypass-2FA organization token", orgToken(auth.ReadWrite, true), "403"},
		{"automation token", &auth.Principal{UserID: 1, UserName: "alice", Kind: auth.KindAutomation}, "403"},
		{"anonymous", &auth.Principal{}, "401"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := outcomeOf(DecideRoleChange(tt.p, beta, makeOwner)); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// TestOrgCreate: organizations are created in a login session only.
func TestOrgCreate(t *testing.T) {
	for _, k := range []auth.Kind{auth.KindSession, auth.KindPublish, auth.KindAutomation, auth.KindReadOnly, auth.KindGranular} {
		p := &auth.Principal{UserID: 1, UserName: "alice", Kind: k,
			Grants: &auth.Grants{PackagesAll: true, PackagePerm: auth.ReadWrite, Orgs: []string{"acme"}, OrgPerm: auth.ReadWrite}}
		want := "403"
		if k == auth.KindSession {
			want = "ok"
		}
		err := DecideOrgCreate(p)
		if got := outcomeOf(err); got != want {
			t.Errorf("%s: got %s (%v), want %s", k, got, err, want)
		}
		if e, _ := fault.As(err); want == "403" && (e == nil || e.Message != "Organizations are created when signed in, not with an access token") {
			t.Errorf("%s: message %v", k, err)
		}
	}
	if got := outcomeOf(DecideOrgCreate(&auth.Principal{})); got != "401" {
		t.Errorf("anonymous: got %s, want 401", got)
	}
}

// outcomeOf is outcome, with Conflict.
func outcomeOf(err error) string {
	if fault.KindOf(err) == fault.Conflict {
		return "409"
	}
	return outcome(err)
}
