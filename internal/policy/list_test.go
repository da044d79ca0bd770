package policy

import (
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// TestListed covers who sees which package in a package list: the user's
// rights and the credential both count, as for a read.
func TestListed(t *testing.T) {
	session := &auth.Principal{UserID: 1, UserName: "dave", Kind: auth.KindSession}
	granular := func(g auth.Grants) *auth.Principal {
		return &auth.Principal{UserID: 1, UserName: "dave", Kind: auth.KindGranular, Grants: &g}
	}
	acme := func(team store.TeamPermission, role store.Role) Package {
		return Package{Name: "@acme/app", Scope: "acme", Exists: true, Restricted: true, TeamPermission: team, OrgRole: role}
	}
	public := Package{Name: "@acme/pub", Scope: "acme", Exists: true, OrgRole: store.RoleDeveloper}
	tests := []struct {
		name string
		p    *auth.Principal
		pkg  Package
		want bool
	}{
		{"a developer without a grant does not see a restricted package", session, acme("", store.RoleDeveloper), false},
		{"a developer with a read-only grant sees it", session, acme(store.TeamReadOnly, store.RoleDeveloper), true},
		{"an admin sees every package of the organization", session, acme("", store.RoleAdmin), true},
		{"a stranger does not see it", session, acme("", ""), false},
		{"a public package is seen by anyone", session, Package{Name: "lib", Exists: true}, true},
		{"an organization token does not see a restricted package", granular(auth.Grants{Orgs: []string{"acme"}, OrgPerm: auth.ReadWrite}),
			acme(store.TeamReadWrite, store.RoleOwner), false},
		{"an organization token sees a public one", granular(auth.Grants{Orgs: []string{"acme"}, OrgPerm: auth.ReadWrite}), public, true},
		{"a token for another scope does not see it", granular(auth.Grants{Scopes: []string{"dave"}, PackagePerm: auth.ReadWrite}),
			acme(store.TeamReadWrite, store.RoleOwner), false},
		{"a token for the scope sees it", granular(auth.Grants{Scopes: []string{"acme"}, PackagePerm: auth.ReadOnly}),
			acme(store.TeamReadOnly, store.RoleDeveloper), true},
		{"a token naming the package sees it", granular(auth.Grants{Packages: []string{"@acme/app"}, PackagePerm: auth.ReadOnly}),
			acme(store.TeamReadOnly, store.RoleDeveloper), true},
		{"a token does not see more than its user", granular(auth.Grants{PackagesAll: true, PackagePerm: auth.ReadWrite}),
			acme("", store.RoleDeveloper), false},
		{"a read-only legacy token sees what its user reads", &auth.Principal{UserID: 1, Kind: auth.KindReadOnly},
			acme(store.TeamReadOnly, ""), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Listed(tt.p, tt.pkg); got != tt.want {
				t.Fatalf("Listed = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestListedIsRead shows that a list shows exactly what may be read, for
// every credential of the matrix and every kind of package fact.
func TestListedIsRead(t *testing.T) {
	principals := []*auth.Principal{
		{},
		{UserID: 1, UserName: "alice", Kind: auth.KindSession},
		{UserID: 1, UserName: "alice", Kind: auth.KindReadOnly},
		{UserID: 1, UserName: "alice", Kind: auth.KindAutomation},
		{UserID: 1, UserName: "alice", Kind: auth.KindGranular, Grants: &auth.Grants{Packages: []string{"@acme/app"}, PackagePerm: auth.ReadOnly}},
		{UserID: 1, UserName: "alice", Kind: auth.KindGranular, Grants: &auth.Grants{Scopes: []string{"acme"}, PackagePerm: auth.ReadWriteStageOnly}},
		{UserID: 1, UserName: "alice", Kind: auth.KindGranular, Grants: &auth.Grants{Orgs: []string{"acme"}, OrgPerm: auth.ReadWrite}},
		{UserID: 1, UserName: "alice", Kind: auth.KindGranular},
	}
	for _, p := range principals {
		for _, restricted := range []bool{false, true} {
			for _, owner := range []bool{false, true} {
				for _, team := range []store.TeamPermission{"", store.TeamReadOnly, store.TeamReadWrite} {
					for _, role := range []store.Role{"", store.RoleDeveloper, store.RoleAdmin, store.RoleOwner} {
						pkg := Package{Name: "@acme/app", Scope: "acme", Exists: true, Restricted: restricted,
							UserIsOwner: owner, TeamPermission: team, OrgRole: role}
						if got, want := Listed(p, pkg), Decide(p, Read, pkg) == nil; got != want {
							t.Errorf("%s %+v: Listed %v, Decide(Read) allows %v", p.Kind, pkg, got, want)
						}
					}
				}
			}
		}
	}
}

// TestHeld covers the permission a package list shows for the user.
func TestHeld(t *testing.T) {
	tests := []struct {
		name string
		pkg  Package
		want store.TeamPermission
	}{
		{"owner", Package{Exists: true, Restricted: true, UserIsOwner: true}, store.TeamReadWrite},
		{"organization owner", Package{Exists: true, Restricted: true, OrgRole: store.RoleOwner}, store.TeamReadWrite},
		{"organization admin", Package{Exists: true, Restricted: true, OrgRole: store.RoleAdmin}, store.TeamReadWrite},
		{"read-write team", Package{Exists: true, Restricted: true, TeamPermission: store.TeamReadWrite, OrgRole: store.RoleDeveloper}, store.TeamReadWrite},
		{"read-only team", Package{Exists: true, Restricted: true, TeamPermission: store.TeamReadOnly, OrgRole: store.RoleDeveloper}, store.TeamReadOnly},
		{"developer without a grant, public package", Package{Exists: true, OrgRole: store.RoleDeveloper}, store.TeamReadOnly},
		{"developer without a grant, restricted package", Package{Exists: true, Restricted: true, OrgRole: store.RoleDeveloper}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Held(tt.pkg); got != tt.want {
				t.Fatalf("Held = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestCredentialReachIsListed: the reach that search filters by in the
// store names exactly the restricted packages Listed shows a user who may
// read them all, for every kind of credential.
func TestCredentialReachIsListed(t *testing.T) {
	granular := func(g auth.Grants) *auth.Principal {
		return &auth.Principal{UserID: 1, UserName: "alice", Kind: auth.KindGranular, Grants: &g}
	}
	principals := []*auth.Principal{
		{},
		{UserID: 1, UserName: "alice", Kind: auth.KindSession},
		{UserID: 1, UserName: "alice", Kind: auth.KindPublish},
		{UserID: 1, UserName: "alice", Kind: auth.KindReadOnly},
		{UserID: 1, UserName: "alice", Kind: auth.KindAutomation},
		{UserID: 1, UserName: "alice", Kind: auth.KindGranular},
		granular(auth.Grants{Packages: []string{"@acme/app"}, PackagePerm: auth.ReadOnly}),
		granular(auth.Grants{Packages: []string{"@acme/app"}}),
		granular(auth.Grants{Scopes: []string{"acme"}, PackagePerm: auth.ReadWrite}),
		granular(auth.Grants{Scopes: []string{"alice"}, Packages: []string{"@acme/lib"}, PackagePerm: auth.ReadWrite}),
		granular(auth.Grants{PackagesAll: true, PackagePerm: auth.ReadOnly}),
		granular(auth.Grants{PackagesAll: true, PackagePerm: auth.ReadWriteStageOnly}),
		granular(auth.Grants{Orgs: []string{"acme"}, OrgPerm: auth.ReadWrite}),
	}
	names := []string{"@acme/app", "@acme/lib", "@alice/app", "@bob/app", "@acmex/app"}
	for _, p := range principals {
		reach := CredentialReach(p)
		for _, name := range names {
			scope := name[1:strings.Index(name, "/")]
			pkg := Package{Name: name, Scope: scope, Exists: true, Restricted: true, UserIsOwner: true}
			if got, want := reach.Covers(name, scope), Listed(p, pkg); got != want {
				t.Errorf("%v %v: the reach covers %s: %v, Listed says %v", p.Kind, p.Grants, name, got, want)
			}
		}
	}
}
