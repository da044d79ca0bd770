package policy

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// TestMatrix asserts every credential kind and grant against every action.
// The user is "alice": she owns @alice/app (restricted) and lib (public),
// is an admin of the organization acme, which holds @acme/x (restricted,
// granted to one of her teams read-only), and an owner of the organization
// beta. Each row lists the outcome of each column: ok, 401, 403 or 404 (a
// package left out of a list counts as 404, the answer to reading it).
func TestMatrix(t *testing.T) {
	columns := []string{
		"read @alice/app", "read lib", "create new-pkg", "create @alice/new", "publish @alice/app", "publish lib",
		"dist-tag lib", "deprecate lib", "unpublish lib", "owners lib", "access lib",
		"tokens", "profile", "org read acme", "org members acme", "org teams acme",
		"list @alice/app", "list @acme/x", "create org", "make an owner in beta", "make an owner in acme",
		"remove an owner of acme", "continue web login", "stage lib", "trust lib",
		"stage @alice/new", "view bob's staged lib", "approve bob's staged lib", "reject bob's staged lib",
		"reject own staged @bob/x",
		// Who may read at all, and the reads and a write on a private
		// registry (read_access authenticated).
		"read the registry", "private: read the registry", "private: read lib", "private: read @alice/app",
		"private: read a missing name", "private: read a proxied name", "private: publish lib", "private: list lib",
		// Webhooks: what a hook may watch, and managing one's own and bob's.
		"hook lib", "hook @alice", "hook @acme", "hook @bob", "hook ~alice", "hook ~bob", "hook registry",
		"manage own hook", "manage bob's hook",
	}
	granular := func(g auth.Grants, bypass bool) *auth.Principal {
		return &auth.Principal{UserID: 1, UserName: "alice", Kind: auth.KindGranular, Grants: &g, Bypass2FA: bypass}
	}
	legacy := func(k auth.Kind) *auth.Principal { return &auth.Principal{UserID: 1, UserName: "alice", Kind: k} }
	trusted := func(pkg string, perms ...string) *auth.Principal {
		return &auth.Principal{UserID: 1, UserName: "alice", Kind: auth.KindOIDC,
			Trust: &auth.Trust{Package: pkg, Permissions: perms, ConfigID: "c1", Issuer: "https://ci.example", Subject: "repo:o/r"}}
	}
	rows := []struct {
		name string
		p    *auth.Principal
		want []string
	}{
		{"anonymous", &auth.Principal{},
			[]string{"404", "ok", "401", "401", "401", "401", "401", "401", "401", "401", "401", "401", "401", "401", "401", "401",
				"404", "404", "401", "401", "401", "401", "401", "401", "401",
				"401", "401", "401", "401", "401",
				"ok", "401", "401", "401", "401", "401", "401", "404",
				"401", "401", "401", "401", "401", "401", "401", "401", "401"}},
		{"session", legacy(auth.KindSession),
			[]string{"ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok",
				"ok", "ok", "ok", "ok", "403", "403", "ok", "ok", "ok",
				"ok", "ok", "ok", "ok", "ok",
				"ok", "ok", "ok", "ok", "404", "ok", "ok", "ok",
				"ok", "ok", "ok", "404", "ok", "404", "404", "ok", "404"}},
		{"legacy publish", legacy(auth.KindPublish),
			[]string{"ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok",
				"ok", "ok", "403", "ok", "403", "403", "403", "ok", "ok",
				"ok", "ok", "ok", "ok", "ok",
				"ok", "ok", "ok", "ok", "404", "ok", "ok", "ok",
				"ok", "ok", "ok", "404", "ok", "404", "404", "ok", "404"}},
		{"legacy read-only", legacy(auth.KindReadOnly),
			[]string{"ok", "ok", "403", "403", "403", "403", "403", "403", "403", "403", "403", "403", "403", "ok", "403", "403",
				"ok", "ok", "403", "403", "403", "403", "403", "403", "403",
				"403", "ok", "403", "403", "403",
				"ok", "ok", "ok", "ok", "404", "ok", "403", "ok",
				"403", "403", "403", "404", "403", "404", "404", "403", "404"}},
		{"legacy automation", legacy(auth.KindAutomation),
			[]string{"ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "403", "403", "403", "403", "ok", "403", "403",
				"ok", "ok", "403", "403", "403", "403", "403", "ok", "403",
				"ok", "ok", "ok", "ok", "ok",
				"ok", "ok", "ok", "ok", "404", "ok", "ok", "ok",
				"403", "403", "403", "404", "403", "404", "404", "403", "404"}},
		{"granular read-only on lib", granular(auth.Grants{Packages: []string{"lib"}, PackagePerm: auth.ReadOnly}, false),
			[]string{"404", "ok", "403", "403", "404", "403", "403", "403", "403", "403", "403", "403", "403", "403", "403", "403",
				"404", "404", "403", "403", "403", "403", "403", "403", "403",
				"403", "ok", "403", "403", "404",
				"ok", "ok", "ok", "404", "404", "404", "403", "ok",
				"403", "403", "403", "404", "403", "404", "404", "403", "404"}},
		{"granular read-write on lib", granular(auth.Grants{Packages: []string{"lib"}, PackagePerm: auth.ReadWrite}, false),
			[]string{"404", "ok", "403", "403", "404", "ok", "ok", "ok", "ok", "ok", "ok", "403", "403", "403", "403", "403",
				"404", "404", "403", "403", "403", "403", "403", "ok", "ok",
				"403", "ok", "ok", "ok", "404",
				"ok", "ok", "ok", "404", "404", "404", "ok", "ok",
				"403", "403", "403", "404", "403", "404", "404", "403", "404"}},
		{"granular read-only on @alice", granular(auth.Grants{Scopes: []string{"alice"}, PackagePerm: auth.ReadOnly}, false),
			[]string{"ok", "ok", "403", "403", "403", "403", "403", "403", "403", "403", "403", "403", "403", "403", "403", "403",
				"ok", "404", "403", "403", "403", "403", "403", "403", "403",
				"403", "404", "404", "404", "404",
				"ok", "ok", "404", "ok", "404", "404", "404", "404",
				"403", "403", "403", "404", "403", "404", "404", "403", "404"}},
		{"granular read-write on @alice", granular(auth.Grants{Scopes: []string{"alice"}, PackagePerm: auth.ReadWrite}, false),
			[]string{"ok", "ok", "403", "ok", "ok", "403", "403", "403", "403", "403", "403", "403", "403", "403", "403", "403",
				"ok", "404", "403", "403", "403", "403", "403", "403", "403",
				"ok", "404", "404", "404", "404",
				"ok", "ok", "404", "ok", "404", "404", "404", "404",
				"403", "403", "403", "404", "403", "404", "404", "403", "404"}},
		{"granular read-write on all", granular(auth.Grants{PackagesAll: true, PackagePerm: auth.ReadWrite}, false),
			[]string{"ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "403", "403", "403", "403", "403",
				"ok", "ok", "403", "403", "403", "403", "403", "ok", "ok",
				"ok", "ok", "ok", "ok", "ok",
				"ok", "ok", "ok", "ok", "404", "ok", "ok", "ok",
				"403", "403", "403", "404", "403", "404", "404", "403", "404"}},
		{"granular stage-only on all", granular(auth.Grants{PackagesAll: true, PackagePerm: auth.ReadWriteStageOnly}, false),
			[]string{"ok", "ok", "403", "403", "403", "403", "ok", "ok", "403", "403", "403", "403", "403", "403", "403", "403",
				"ok", "ok", "403", "403", "403", "403", "403", "ok", "403",
				"ok", "ok", "403", "ok", "ok",
				"ok", "ok", "ok", "ok", "404", "ok", "403", "ok",
				"403", "403", "403", "404", "403", "404", "404", "403", "404"}},
		{"granular bypass-2FA read-write on all", granular(auth.Grants{PackagesAll: true, PackagePerm: auth.ReadWrite}, true),
			[]string{"ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "403", "403", "403", "403", "403", "403", "403",
				"ok", "ok", "403", "403", "403", "403", "403", "ok", "403",
				"ok", "ok", "ok", "ok", "ok",
				"ok", "ok", "ok", "ok", "404", "ok", "ok", "ok",
				"403", "403", "403", "404", "403", "404", "404", "403", "404"}},
		{"granular org read-only on acme", granular(auth.Grants{Orgs: []string{"acme"}, OrgPerm: auth.ReadOnly}, false),
			[]string{"404", "ok", "403", "403", "404", "403", "403", "403", "403", "403", "403", "403", "403", "ok", "403", "403",
				"404", "404", "403", "403", "403", "403", "403", "403", "403",
				"403", "404", "404", "404", "404",
				"ok", "ok", "404", "404", "404", "404", "404", "404",
				"403", "403", "403", "404", "403", "404", "404", "403", "404"}},
		{"granular org read-write on acme", granular(auth.Grants{Orgs: []string{"acme"}, OrgPerm: auth.ReadWrite}, false),
			[]string{"404", "ok", "403", "403", "404", "403", "403", "403", "403", "403", "403", "403", "403", "ok", "ok", "ok",
				"404", "404", "403", "403", "403", "403", "403", "403", "403",
				"403", "404", "404", "404", "404",
				"ok", "ok", "404", "404", "404", "404", "404", "404",
				"403", "403", "403", "404", "403", "404", "404", "403", "404"}},
		{"granular org read-write on other", granular(auth.Grants{Orgs: []string{"other"}, OrgPerm: auth.ReadWrite}, false),
			[]string{"404", "ok", "403", "403", "404", "403", "403", "403", "403", "403", "403", "403", "403", "403", "403", "403",
				"404", "404", "403", "403", "403", "403", "403", "403", "403",
				"403", "404", "404", "404", "404",
				"ok", "ok", "404", "404", "404", "404", "404", "404",
				"403", "403", "403", "404", "403", "404", "404", "403", "404"}},
		{"granular bypass org read-write on acme", granular(auth.Grants{Orgs: []string{"acme"}, OrgPerm: auth.ReadWrite}, true),
			[]string{"404", "ok", "403", "403", "404", "403", "403", "403", "403", "403", "403", "403", "403", "ok", "403", "403",
				"404", "404", "403", "403", "403", "403", "403", "403", "403",
				"403", "404", "404", "404", "404",
				"ok", "ok", "404", "404", "404", "404", "404", "404",
				"403", "403", "403", "404", "403", "404", "404", "403", "404"}},
		{"oidc publish lib", trusted("lib", auth.PermCreatePackage),
			[]string{"404", "ok", "403", "403", "404", "ok", "ok", "403", "403", "403", "403", "403", "403", "403", "403", "403",
				"404", "404", "403", "403", "403", "403", "403", "403", "403",
				"403", "ok", "403", "403", "404",
				"ok", "ok", "ok", "404", "404", "404", "ok", "ok",
				"403", "403", "403", "404", "403", "404", "404", "403", "404"}},
		{"oidc stage lib", trusted("lib", auth.PermCreateStagedPackage),
			[]string{"404", "ok", "403", "403", "404", "403", "403", "403", "403", "403", "403", "403", "403", "403", "403", "403",
				"404", "404", "403", "403", "403", "403", "403", "ok", "403",
				"403", "ok", "403", "ok", "404",
				"ok", "ok", "ok", "404", "404", "404", "403", "ok",
				"403", "403", "403", "404", "403", "404", "404", "403", "404"}},
		{"oidc publish and stage lib", trusted("lib", auth.PermCreatePackage, auth.PermCreateStagedPackage),
			[]string{"404", "ok", "403", "403", "404", "ok", "ok", "403", "403", "403", "403", "403", "403", "403", "403", "403",
				"404", "404", "403", "403", "403", "403", "403", "ok", "403",
				"403", "ok", "403", "ok", "404",
				"ok", "ok", "ok", "404", "404", "404", "ok", "ok",
				"403", "403", "403", "404", "403", "404", "404", "403", "404"}},
		{"oidc publish @alice/app", trusted("@alice/app", auth.PermCreatePackage),
			[]string{"ok", "ok", "403", "403", "ok", "403", "403", "403", "403", "403", "403", "403", "403", "403", "403", "403",
				"ok", "404", "403", "403", "403", "403", "403", "403", "403",
				"403", "404", "404", "404", "404",
				"ok", "ok", "404", "ok", "404", "404", "404", "404",
				"403", "403", "403", "404", "403", "404", "404", "403", "404"}},
	}
	app := Package{Name: "@alice/app", Scope: "alice", Exists: true, Restricted: true, UserIsOwner: true}
	lib := Package{Name: "lib", Exists: true, UserIsOwner: true}
	acme := Org{Name: "acme", Role: "admin"}
	beta := Org{Name: "beta", Role: "owner"}
	bobX := Package{Name: "@bob/x", Scope: "bob", Exists: true}
	private := func(pkg Package) Package { pkg.ReadAccess = AuthenticatedReads; return pkg }
	proxied := Package{Name: "express", Exists: true, Proxied: true, Uplink: "upstream"}
	acmeX := Package{Name: "@acme/x", Scope: "acme", Exists: true, Restricted: true, OrgRole: "admin", TeamPermission: "read-only"}
	listed := func(p *auth.Principal, pkg Package) error {
		if !Listed(p, pkg) {
			return notFound()
		}
		return nil
	}
	decide := []func(p *auth.Principal) error{
		func(p *auth.Principal) error { return Decide(p, Read, app) },
		func(p *auth.Principal) error { return Decide(p, Read, lib) },
		func(p *auth.Principal) error { return Decide(p, Create, Package{Name: "new-pkg"}) },
		func(p *auth.Principal) error { return Decide(p, Create, Package{Name: "@alice/new", Scope: "alice"}) },
		func(p *auth.Principal) error { return Decide(p, Publish, app) },
		func(p *auth.Principal) error { return Decide(p, Publish, lib) },
		func(p *auth.Principal) error { return Decide(p, DistTag, lib) },
		func(p *auth.Principal) error { return Decide(p, Deprecate, lib) },
		func(p *auth.Principal) error { return Decide(p, Unpublish, lib) },
		func(p *auth.Principal) error { return Decide(p, ChangeOwners, lib) },
		func(p *auth.Principal) error { return Decide(p, ChangeAccess, lib) },
		func(p *auth.Principal) error { return DecideAccount(p, ManageTokens) },
		func(p *auth.Principal) error { return DecideAccount(p, ChangeProfile) },
		func(p *auth.Principal) error { return DecideOrg(p, OrgRead, acme) },
		func(p *auth.Principal) error { return DecideOrg(p, OrgManageMembers, acme) },
		func(p *auth.Principal) error { return DecideOrg(p, OrgManageTeams, acme) },
		func(p *auth.Principal) error { return listed(p, app) },
		func(p *auth.Principal) error { return listed(p, acmeX) },
		func(p *auth.Principal) error { return DecideOrgCreate(p) },
		func(p *auth.Principal) error {
			return DecideRoleChange(p, beta, RoleChange{Current: "developer", Next: "owner", OtherOwners: true})
		},
		func(p *auth.Principal) error { return DecideRoleChange(p, acme, RoleChange{Next: "owner"}) },
		func(p *auth.Principal) error {
			return DecideRoleChange(p, acme, RoleChange{Current: "owner", OtherOwners: true})
		},
		func(p *auth.Principal) error {
			here := *p
			here.ClientIP = localhost
			return DecideContinueWebLogin(&here, localhost)
		},
		func(p *auth.Principal) error { return Decide(p, Stage, lib) },
		func(p *auth.Principal) error { return Decide(p, ManageTrust, lib) },
		func(p *auth.Principal) error { return Decide(p, Stage, Package{Name: "@alice/new", Scope: "alice"}) },
		func(p *auth.Principal) error { return DecideStaged(p, ViewStaged, StagedVersion{Package: lib}) },
		func(p *auth.Principal) error { return DecideStaged(p, ApproveStaged, StagedVersion{Package: lib}) },
		func(p *auth.Principal) error { return DecideStaged(p, RejectStaged, StagedVersion{Package: lib}) },
		func(p *auth.Principal) error {
			return DecideStaged(p, RejectStaged, StagedVersion{Package: bobX, ByUser: true})
		},
		func(p *auth.Principal) error { return DecideRegistryRead(p, PublicReads) },
		func(p *auth.Principal) error { return DecideRegistryRead(p, AuthenticatedReads) },
		func(p *auth.Principal) error { return Decide(p, Read, private(lib)) },
		func(p *auth.Principal) error { return Decide(p, Read, private(app)) },
		func(p *auth.Principal) error { return Decide(p, Read, private(Package{Name: "gone"})) },
		func(p *auth.Principal) error { return Decide(p, Read, private(proxied)) },
		func(p *auth.Principal) error { return Decide(p, Publish, private(lib)) },
		func(p *auth.Principal) error { return listed(p, private(lib)) },
		func(p *auth.Principal) error {
			return DecideHook(p, HookTarget{Type: "package", Name: "lib", Package: lib})
		},
		func(p *auth.Principal) error { return DecideHook(p, HookTarget{Type: "scope", Name: "alice"}) },
		func(p *auth.Principal) error {
			return DecideHook(p, HookTarget{Type: "scope", Name: "acme", OrgRole: "admin"})
		},
		func(p *auth.Principal) error { return DecideHook(p, HookTarget{Type: "scope", Name: "bob"}) },
		func(p *auth.Principal) error { return DecideHook(p, HookTarget{Type: "owner", Name: "alice"}) },
		func(p *auth.Principal) error { return DecideHook(p, HookTarget{Type: "owner", Name: "bob"}) },
		func(p *auth.Principal) error { return DecideHook(p, HookTarget{Type: "registry", Name: "*"}) },
		func(p *auth.Principal) error { return DecideHookManage(p, 1) },
		func(p *auth.Principal) error { return DecideHookManage(p, 2) },
	}
	for _, row := range rows {
		if len(row.want) != len(columns) {
			t.Fatalf("row %q has %d cells, want %d", row.name, len(row.want), len(columns))
		}
		for i, col := range columns {
			t.Run(row.name+"/"+col, func(t *testing.T) {
				if got := outcome(decide[i](row.p)); got != row.want[i] {
					t.Fatalf("got %s, want %s (%v)", got, row.want[i], decide[i](row.p))
				}
			})
		}
	}
}

// TestUserRightsBound shows that no credential gives more than the user has:
// the strongest tokens get nothing on a package the user does not own or an
// organization the user is not in, and a developer cannot manage members.
func TestUserRightsBound(t *testing.T) {
	strong := []*auth.Principal{
		{UserID: 1, UserName: "alice", Kind: auth.KindSession},
		{UserID: 1, UserName: "alice", Kind: auth.KindPublish},
		{UserID: 1, UserName: "alice", Kind: auth.KindGranular, Grants: &auth.Grants{PackagesAll: true, PackagePerm: auth.ReadWrite, Orgs: []string{"acme"}, OrgPerm: auth.ReadWrite}},
	}
	notMine := Package{Name: "lib", Exists: true}
	privateNotMine := Package{Name: "@bob/x", Scope: "bob", Exists: true, Restricted: true}
	for _, p := range strong {
		for _, a := range []Action{Publish, DistTag, Deprecate, Unpublish, ChangeOwners, ChangeAccess} {
			if got := outcome(Decide(p, a, notMine)); got != "403" {
				t.Errorf("%s %s on a package alice does not own: %s", p.Kind, a, got)
			}
			if got := outcome(Decide(p, a, privateNotMine)); got != "404" {
				t.Errorf("%s %s on a private package alice cannot see: %s", p.Kind, a, got)
			}
		}
		if got := outcome(Decide(p, Create, Package{Name: "@bob/new", Scope: "bob"})); got != "404" {
			t.Errorf("%s creating in bob's scope: %s", p.Kind, got)
		}
		if got := outcome(DecideOrg(p, OrgRead, Org{Name: "acme"})); got != "404" {
			t.Errorf("%s reading an org alice is not in: %s", p.Kind, got)
		}
		if got := outcome(DecideOrg(p, OrgManageMembers, Org{Name: "acme", Role: "developer"})); got != "403" {
			t.Errorf("%s managing members as a developer: %s", p.Kind, got)
		}
	}
}

var localhost = netip.MustParseAddr("127.0.0.1")

func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	switch fault.KindOf(err) {
	case fault.Unauthorized:
		return "401"
	case fault.Forbidden:
		return "403"
	case fault.NotFound:
		return "404"
	}
	return fmt.Sprintf("error %v", err)
}

// TestOrganizationRights covers rights that come from an organization: team
// grants and roles, for a session (so only the user's rights count).
func TestOrganizationRights(t *testing.T) {
	dave := &auth.Principal{UserID: 4, UserName: "dave", Kind: auth.KindSession}
	pkg := func(team store.TeamPermission, role store.Role) Package {
		return Package{Name: "@acme/app", Scope: "acme", Exists: true, Restricted: true, TeamPermission: team, OrgRole: role}
	}
	tests := []struct {
		name string
		pkg  Package
		a    Action
		want string
	}{
		{"no grant: invisible", pkg("", "developer"), Read, "404"},
		{"read-only team reads", pkg("read-only", "developer"), Read, "ok"},
		{"read-only team cannot publish", pkg("read-only", "developer"), Publish, "403"},
		{"read-write team publishes", pkg("read-write", "developer"), Publish, "ok"},
		{"read-write team moves dist-tags", pkg("read-write", "developer"), DistTag, "ok"},
		{"read-write team cannot change owners", pkg("read-write", "developer"), ChangeOwners, "403"},
		{"org admin reads without a team", pkg("", "admin"), Read, "ok"},
		{"org owner changes access", pkg("", "owner"), ChangeAccess, "ok"},
		{"member creates in the org scope", Package{Name: "@acme/new", Scope: "acme", OrgRole: "developer"}, Create, "ok"},
		{"non-member creates in the org scope", Package{Name: "@acme/new", Scope: "acme"}, Create, "404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := outcome(Decide(dave, tt.a, tt.pkg)); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}
