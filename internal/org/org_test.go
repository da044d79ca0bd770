package org

import (
	"crypto/rand"
	"encoding/base32"
	"maps"
	"net/url"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/account"
	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/keyring"
	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/gatehouse-registry/gatehouse/internal/token"
	"github.com/gatehouse-registry/gatehouse/internal/totp"
)

// fixture is the organization service on a fresh SQLite store, with the
// account service enforcing two-factor authentication, its clock stopped.
type fixture struct {
	st       *store.Store
	accounts *account.Service
	orgs     *Service
	now      time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	f.accounts, err = account.NewService(st, token.NewFormat(""), account.Options{Keyring: keyring.New(secret),
		SessionTTL: time.Hour, Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	f.orgs = NewService(st, f.accounts, nil, nil)
	return f
}

// user makes an account (its password hash is no real one: these tests
// never log in) and returns its login session.
func (f *fixture) user(t *testing.T, name string) *auth.Principal {
	t.Helper()
	u, err := f.st.Q().CreateUser(t.Context(), store.User{Name: name, Email: name + "@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	return &auth.Principal{UserID: u.ID, UserName: u.Name, Kind: auth.KindSession}
}

// granular is p's user with a granular token of grants g.
func granular(p *auth.Principal, g auth.Grants, bypass bool) *auth.Principal {
	return &auth.Principal{UserID: p.UserID, UserName: p.UserName, Kind: auth.KindGranular, Grants: &g, Bypass2FA: bypass}
}

// pkg makes a package row owned by owner.
func (f *fixture) pkg(t *testing.T, name, scope string, access store.Access, owner *auth.Principal) {
	t.Helper()
	p, err := f.st.Q().CreatePackage(t.Context(), store.Package{Name: name, Scope: scope, Access: access, CreatedAt: 1, ModifiedAt: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.Q().AddOwner(t.Context(), p.ID, owner.UserID); err != nil {
		t.Fatal(err)
	}
}

// org creates the organization name owned by owner and sets the others' roles.
func (f *fixture) org(t *testing.T, name string, owner *auth.Principal, members map[*auth.Principal]store.Role) {
	t.Helper()
	if _, err := f.orgs.Create(t.Context(), audit.Operator(), name, owner.UserName); err != nil {
		t.Fatal(err)
	}
	for p, role := range members {
		if _, err := f.orgs.SetMember(t.Context(), owner, name, p.UserName, role); err != nil {
			t.Fatalf("%s joins %s as %s: %v", p.UserName, name, role, err)
		}
	}
}

// roster is the organization's members and roles as its owner sees them.
func (f *fixture) roster(t *testing.T, owner *auth.Principal, org string) map[string]store.Role {
	t.Helper()
	m, err := f.orgs.Members(t.Context(), owner, org)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

const ok = fault.Kind(-1)

// want checks err against a kind (ok for none) and, when msg is not "", its message.
func want(t *testing.T, what string, err error, k fault.Kind, msg string) {
	t.Helper()
	if k == ok {
		if err != nil {
			t.Fatalf("%s: %v, want success", what, err)
		}
		return
	}
	e, isFault := fault.As(err)
	if !isFault || e.Kind != k || (msg != "" && e.Message != msg) {
		t.Fatalf("%s: %v, want kind %d %q", what, err, k, msg)
	}
}

func TestCreate(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	alice := f.user(t, "alice")
	f.user(t, "bob")
	o, err := f.orgs.Create(ctx, audit.Operator(), "@acme", "alice")
	want(t, "create", err, ok, "")
	if o.Name != "acme" {
		t.Fatalf("created %q, want acme", o.Name)
	}
	if got := f.roster(t, alice, "acme"); !maps.Equal(got, map[string]store.Role{"alice": store.RoleOwner}) {
		t.Fatalf("roster %v", got)
	}
	if got, err := f.orgs.TeamMembers(ctx, alice, "acme", "developers"); err != nil || !slices.Equal(got, []string{"alice"}) {
		t.Fatalf("developers team %v %v", got, err)
	}
	tests := []struct {
		name, org, owner string
		kind             fault.Kind
		msg              string
	}{
		{"taken", "acme", "alice", fault.Conflict, "Organization acme already exists"},
		{"a user's name", "bob", "alice", fault.Conflict, "The name bob is taken by a user"},
		{"uppercase", "Acme2", "alice", fault.Invalid, "Invalid organization name: must be lowercase"},
		{"unknown owner", "beta", "nobody", fault.NotFound, `user "nobody" not found`},
	}
	for _, tt := range tests {
		_, err := f.orgs.Create(ctx, audit.Operator(), tt.org, tt.owner)
		want(t, tt.name, err, tt.kind, tt.msg)
	}
}

// TestCreateFor: organizations are created in a login session, with a valid
// name checked before anything else is.
func TestCreateFor(t *testing.T) {
	f := newFixture(t)
	alice := f.user(t, "alice")
	const byToken = "Organizations are created when signed in, not with an access token"
	for _, tt := range []struct {
		name string
		p    *auth.Principal
		org  string
		kind fault.Kind
		msg  string
	}{
		{"anonymous", &auth.Principal{}, "one", fault.Unauthorized, "Authentication required"},
		{"legacy publish token", &auth.Principal{UserID: alice.UserID, UserName: "alice", Kind: auth.KindPublish}, "one", fault.Forbidden, byToken},
		{"automation token", &auth.Principal{UserID: alice.UserID, UserName: "alice", Kind: auth.KindAutomation}, "one", fault.Forbidden, byToken},
		{"granular token", granular(alice, auth.Grants{Orgs: []string{"one"}, OrgPerm: auth.ReadWrite}, false), "one", fault.Forbidden, byToken},
		{"bad name", alice, "No Way", fault.Invalid, "Invalid organization name: must be lowercase"},
		{"session", alice, "one", ok, ""},
	} {
		_, err := f.orgs.CreateFor(t.Context(), tt.p, tt.org)
		want(t, tt.name, err, tt.kind, tt.msg)
	}
	ms, err := f.orgs.Memberships(t.Context(), alice)
	if err != nil || len(ms) != 1 || ms[0].Org.Name != "one" || ms[0].Role != store.RoleOwner {
		t.Fatalf("memberships %+v %v", ms, err)
	}
}

// TestMembership runs a sequence of member changes, each checked for its
// answer, and the roster after.
func TestMembership(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	alice, bob, carol, dave := f.user(t, "alice"), f.user(t, "bob"), f.user(t, "carol"), f.user(t, "dave")
	f.user(t, "erin")
	f.user(t, "zed")
	f.org(t, "acme", alice, map[*auth.Principal]store.Role{bob: store.RoleDeveloper, carol: store.RoleAdmin})
	orgRW := granular(alice, auth.Grants{Orgs: []string{"acme"}, OrgPerm: auth.ReadWrite}, false)
	orgRO := granular(alice, auth.Grants{Orgs: []string{"acme"}, OrgPerm: auth.ReadOnly}, false)
	const (
		ownerRole  = "Only owners of acme can grant or take away the owner role"
		lastOwner  = "acme must keep at least one owner; make someone else an owner first"
		manageOnly = "Only owners and admins of acme can manage its members"
	)
	set := func(by *auth.Principal, user string, role store.Role) func() error {
		return func() error { _, err := f.orgs.SetMember(ctx, by, "acme", user, role); return err }
	}
	remove := func(by *auth.Principal, user string) func() error {
		return func() error { return f.orgs.RemoveMember(ctx, by, "acme", user) }
	}
	steps := []struct {
		name string
		do   func() error
		kind fault.Kind
		msg  string
	}{
		{"a bad role", set(alice, "dave", "king"), fault.Invalid, "role must be one of owner, admin or developer"},
		{"an unknown user", set(alice, "nobody", ""), fault.NotFound, `user "nobody" not found`},
		{"a developer adds a member", set(bob, "dave", ""), fault.Forbidden, manageOnly},
		{"a stranger adds a member", set(dave, "dave", ""), fault.NotFound, "Not found"},
		{"an admin adds a developer", set(carol, "dave", ""), ok, ""},
		{"an admin makes an owner", set(carol, "erin", store.RoleOwner), fault.Forbidden, ownerRole},
		{"an admin demotes the owner", set(carol, "alice", store.RoleAdmin), fault.Forbidden, ownerRole},
		{"an admin removes the owner", remove(carol, "alice"), fault.Forbidden, "Only owners of acme can remove an owner"},
		{"the last owner steps down", set(alice, "alice", store.RoleAdmin), fault.Conflict, lastOwner},
		{"the last owner leaves", remove(alice, "alice"), fault.Conflict, lastOwner},
		{"a read-only organization token", set(orgRO, "erin", ""), fault.Forbidden, "This token has read-only access to the organization acme"},
		{"a read-write organization token adds erin", set(orgRW, "erin", ""), ok, ""},
		{"the owner makes carol an owner", set(alice, "carol", store.RoleOwner), ok, ""},
		{"now alice may step down", set(alice, "alice", store.RoleAdmin), ok, ""},
		{"removing a non-member", remove(carol, "zed"), fault.NotFound, "zed is not a member of acme"},
		{"an admin removes a developer", remove(alice, "dave"), ok, ""},
	}
	for _, s := range steps {
		want(t, s.name, s.do(), s.kind, s.msg)
	}
	wantRoster := map[string]store.Role{"alice": store.RoleAdmin, "bob": store.RoleDeveloper, "carol": store.RoleOwner, "erin": store.RoleDeveloper}
	if got := f.roster(t, carol, "acme"); !maps.Equal(got, wantRoster) {
		t.Fatalf("roster %v, want %v", got, wantRoster)
	}
	// New members join the developers team; leaving takes them out of it.
	if got, err := f.orgs.TeamMembers(ctx, carol, "acme", "developers"); err != nil || !slices.Equal(got, []string{"alice", "bob", "carol", "erin"}) {
		t.Fatalf("developers team %v %v", got, err)
	}
	m, err := f.orgs.SetMember(ctx, carol, "acme", "@dave", store.RoleAdmin)
	want(t, "dave back as admin", err, ok, "")
	if m != (Membership{Org: "acme", Size: 5, User: "dave", Role: store.RoleAdmin}) {
		t.Fatalf("membership answer %+v", m)
	}
}

func TestTeams(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	alice, bob, carol := f.user(t, "alice"), f.user(t, "bob"), f.user(t, "carol")
	f.user(t, "zed")
	f.org(t, "acme", alice, map[*auth.Principal]store.Role{bob: store.RoleDeveloper, carol: store.RoleAdmin})
	bypass := granular(alice, auth.Grants{Orgs: []string{"acme"}, OrgPerm: auth.ReadWrite}, true)
	steps := []struct {
		name string
		do   func() error
		kind fault.Kind
		msg  string
	}{
		{"a bad team name", func() error { return f.orgs.CreateTeam(ctx, alice, "acme", "Bad Name", "") }, fault.Invalid, `Invalid team name "Bad Name"`},
		{"a developer creates a team", func() error { return f.orgs.CreateTeam(ctx, bob, "acme", "readers", "") }, fault.Forbidden,
			"Only owners and admins of acme can manage its teams"},
		{"a bypass-2FA token creates a team", func() error { return f.orgs.CreateTeam(ctx, bypass, "acme", "readers", "") }, fault.Forbidden,
			"Tokens that bypass two-factor authentication cannot change organization membership"},
		{"an admin creates a team", func() error { return f.orgs.CreateTeam(ctx, carol, "acme", "readers", "read things") }, ok, ""},
		{"the same team again", func() error { return f.orgs.CreateTeam(ctx, carol, "acme", "readers", "") }, fault.Conflict,
			"Team acme:readers already exists"},
		{"a non-member joins a team", func() error { return f.orgs.AddTeamMember(ctx, carol, "acme", "readers", "zed") }, fault.Invalid,
			"zed is not a member of acme; add them with npm org set first"},
		{"joining an unknown team", func() error { return f.orgs.AddTeamMember(ctx, carol, "acme", "nope", "bob") }, fault.NotFound, ""},
		{"bob joins readers", func() error { return f.orgs.AddTeamMember(ctx, carol, "acme", "readers", "bob") }, ok, ""},
		{"carol joins readers", func() error { return f.orgs.AddTeamMember(ctx, carol, "acme", "readers", "carol") }, ok, ""},
		{"carol leaves readers", func() error { return f.orgs.RemoveTeamMember(ctx, alice, "acme", "readers", "carol") }, ok, ""},
		{"the developers team stays", func() error { return f.orgs.DestroyTeam(ctx, alice, "acme", "developers") }, fault.Invalid,
			"The developers team cannot be removed"},
		{"destroying an unknown team", func() error { return f.orgs.DestroyTeam(ctx, alice, "acme", "nope") }, fault.NotFound, ""},
	}
	for _, s := range steps {
		want(t, s.name, s.do(), s.kind, s.msg)
	}
	if got, err := f.orgs.Teams(ctx, bob, "acme"); err != nil || !slices.Equal(got, []string{"acme:developers", "acme:readers"}) {
		t.Fatalf("teams %v %v", got, err)
	}
	if got, err := f.orgs.TeamMembers(ctx, bob, "acme", "readers"); err != nil || !slices.Equal(got, []string{"bob"}) {
		t.Fatalf("readers %v %v", got, err)
	}
	want(t, "destroy readers", f.orgs.DestroyTeam(ctx, carol, "acme", "readers"), ok, "")
	_, err := f.orgs.TeamMembers(ctx, bob, "acme", "readers")
	want(t, "a destroyed team", err, fault.NotFound, "")
	// Removing a member takes them out of every team of the organization.
	want(t, "remove bob", f.orgs.RemoveMember(ctx, alice, "acme", "bob"), ok, "")
	if got, err := f.orgs.TeamMembers(ctx, alice, "acme", "developers"); err != nil || slices.Contains(got, "bob") {
		t.Fatalf("developers after bob left: %v %v", got, err)
	}
}

func TestGrants(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	alice, bob := f.user(t, "alice"), f.user(t, "bob")
	f.org(t, "acme", alice, map[*auth.Principal]store.Role{bob: store.RoleDeveloper})
	f.pkg(t, "@acme/tool", "acme", store.Restricted, alice)
	f.pkg(t, "@bob/own", "bob", store.Restricted, bob)
	want(t, "readers", f.orgs.CreateTeam(ctx, alice, "acme", "readers", ""), ok, "")
	grant := func(by *auth.Principal, pkg string, perm store.TeamPermission) func() error {
		return func() error { return f.orgs.GrantPackage(ctx, by, "acme", "readers", pkg, perm) }
	}
	steps := []struct {
		name string
		do   func() error
		kind fault.Kind
		msg  string
	}{
		{"a bad permission", grant(alice, "@acme/tool", "admin"), fault.Invalid, "permissions must be read-only or read-write"},
		{"no permission", grant(alice, "@acme/tool", ""), fault.Invalid, "permissions must be read-only or read-write"},
		{"another scope's package", grant(alice, "@bob/own", store.TeamReadOnly), fault.NotFound,
			"@bob/own is not a package of @acme; teams are granted their organization's packages"},
		{"a missing package", grant(alice, "@acme/nope", store.TeamReadOnly), fault.NotFound, "package @acme/nope not found"},
		{"a developer grants", grant(bob, "@acme/tool", store.TeamReadWrite), fault.Forbidden, "Only owners and admins of acme can manage its teams"},
		{"a read-only organization token grants", grant(granular(alice, auth.Grants{Orgs: []string{"acme"}, OrgPerm: auth.ReadOnly}, false),
			"@acme/tool", store.TeamReadOnly), fault.Forbidden, "This token has read-only access to the organization acme"},
		{"the owner grants read-write", grant(alice, "@acme/tool", store.TeamReadWrite), ok, ""},
		{"and makes it read-only", grant(alice, "@acme/tool", store.TeamReadOnly), ok, ""},
	}
	for _, s := range steps {
		want(t, s.name, s.do(), s.kind, s.msg)
	}
	if got, err := f.orgs.TeamPackages(ctx, alice, "acme", "readers"); err != nil || !maps.Equal(got, map[string]string{"@acme/tool": "read-only"}) {
		t.Fatalf("team packages %v %v", got, err)
	}
	// bob is in no team that reads the restricted @acme/tool: the readers'
	// list does not name it to him (TestTeamListHidesWhatTheMemberCannotRead).
	if got, err := f.orgs.TeamPackages(ctx, bob, "acme", "readers"); err != nil || len(got) != 0 {
		t.Fatalf("team packages shown to a member who cannot read them: %v %v", got, err)
	}
	want(t, "revoke", f.orgs.RevokePackage(ctx, alice, "acme", "readers", "@acme/tool"), ok, "")
	if got, err := f.orgs.TeamPackages(ctx, alice, "acme", "readers"); err != nil || len(got) != 0 {
		t.Fatalf("team packages after revoke %v %v", got, err)
	}
}

// TestListings: the organization and user package lists name only what the
// caller may read, with the permission its user holds.
func TestListings(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	alice, bob, carol, dave := f.user(t, "alice"), f.user(t, "bob"), f.user(t, "carol"), f.user(t, "dave")
	f.org(t, "acme", alice, map[*auth.Principal]store.Role{bob: store.RoleDeveloper, carol: store.RoleAdmin})
	f.pkg(t, "@acme/secret", "acme", store.Restricted, alice)
	f.pkg(t, "@acme/open", "acme", store.Public, alice)
	f.pkg(t, "@acme/team", "acme", store.Restricted, alice)
	f.pkg(t, "@alice/mine", "alice", store.Restricted, alice)
	want(t, "readers", f.orgs.CreateTeam(ctx, alice, "acme", "readers", ""), ok, "")
	want(t, "bob reads", f.orgs.AddTeamMember(ctx, alice, "acme", "readers", "bob"), ok, "")
	want(t, "grant", f.orgs.GrantPackage(ctx, alice, "acme", "readers", "@acme/team", store.TeamReadOnly), ok, "")

	type list = map[string]string
	orgs := []struct {
		name string
		p    *auth.Principal
		want list
	}{
		{"owner", alice, list{"@acme/secret": "read-write", "@acme/open": "read-write", "@acme/team": "read-write"}},
		{"admin without teams", carol, list{"@acme/secret": "read-write", "@acme/open": "read-write", "@acme/team": "read-write"}},
		{"developer with one grant", bob, list{"@acme/open": "read-only", "@acme/team": "read-only"}},
		{"organization token", granular(alice, auth.Grants{Orgs: []string{"acme"}, OrgPerm: auth.ReadOnly}, false),
			list{"@acme/open": "read-write"}},
		{"token for the package and the organization", granular(alice, auth.Grants{Packages: []string{"@acme/secret"}, PackagePerm: auth.ReadOnly,
			Orgs: []string{"acme"}, OrgPerm: auth.ReadOnly}, false), list{"@acme/secret": "read-write", "@acme/open": "read-write"}},
	}
	for _, tt := range orgs {
		got, err := f.orgs.OrgPackages(ctx, tt.p, "acme")
		if err != nil || !maps.Equal(got, tt.want) {
			t.Errorf("acme's packages to %s: %v %v, want %v", tt.name, got, err, tt.want)
		}
	}
	_, err := f.orgs.OrgPackages(ctx, dave, "acme")
	want(t, "acme's packages to a stranger", err, fault.NotFound, "Not found")
	_, err = f.orgs.OrgPackages(ctx, granular(alice, auth.Grants{PackagesAll: true, PackagePerm: auth.ReadOnly}, false), "acme")
	want(t, "acme's packages to a token without an organization grant", err, fault.Forbidden, "This token has no access to the organization acme")

	users := []struct {
		name string
		p    *auth.Principal
		user string
		want list
	}{
		{"alice, her own", alice, "alice",
			list{"@acme/secret": "read-write", "@acme/open": "read-write", "@acme/team": "read-write", "@alice/mine": "read-write"}},
		{"a stranger", dave, "alice", list{"@acme/open": "read-write"}},
		{"an admin of acme", carol, "alice", list{"@acme/secret": "read-write", "@acme/open": "read-write", "@acme/team": "read-write"}},
		{"a developer", bob, "alice", list{"@acme/open": "read-write", "@acme/team": "read-write"}},
		{"bob, his own", bob, "bob", list{"@acme/team": "read-only"}},
		{"alice's token for @alice", granular(alice, auth.Grants{Scopes: []string{"alice"}, PackagePerm: auth.ReadOnly}, false), "alice",
			list{"@acme/open": "read-write", "@alice/mine": "read-write"}},
	}
	for _, tt := range users {
		got, err := f.orgs.UserPackages(ctx, tt.p, tt.user)
		if err != nil || !maps.Equal(got, tt.want) {
			t.Errorf("%s's packages to %s: %v %v, want %v", tt.user, tt.name, got, err, tt.want)
		}
	}
	_, err = f.orgs.UserPackages(ctx, &auth.Principal{}, "alice")
	want(t, "anonymous", err, fault.Unauthorized, "Authentication required")
	_, err = f.orgs.UserPackages(ctx, alice, "nobody")
	want(t, "an unknown user", err, fault.NotFound, `user "nobody" not found`)
}

// TestChangesNeedOTP: with 2FA for writes, organization changes take a
// one-time password, and a refused change changes nothing.
func TestChangesNeedOTP(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	u, err := f.accounts.CreateUser(ctx, "admin", "alice", "alice@example.com", "password of alice")
	if err != nil {
		t.Fatal(err)
	}
	alice := &auth.Principal{UserID: u.ID, UserName: "alice", Kind: auth.KindSession}
	f.user(t, "bob")
	f.org(t, "acme", alice, nil)
	res, err := f.accounts.SetTFAMode(ctx, alice, "password of alice", string(store.TFAAuthAndWrites))
	if err != nil {
		t.Fatal(err)
	}
	link, err := url.Parse(res.OTPAuthURL)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(link.Query().Get("secret"))
	if err != nil {
		t.Fatal(err)
	}
	step := totp.Step(f.now)
	if _, err := f.accounts.ConfirmTFA(ctx, alice, totp.Code(secret, step-1)); err != nil {
		t.Fatal(err)
	}
	_, err = f.orgs.SetMember(ctx, alice, "acme", "bob", "")
	e, _ := fault.As(err)
	if e == nil || e.Kind != fault.Unauthorized || e.Challenge != "OTP" {
		t.Fatalf("a change without a one-time password: %v", err)
	}
	if got := f.roster(t, alice, "acme"); len(got) != 1 {
		t.Fatalf("the refused change added a member: %v", got)
	}
	if _, err := f.orgs.SetMember(auth.WithOTP(ctx, totp.Code(secret, step)), alice, "acme", "bob", ""); err != nil {
		t.Fatalf("a change with a one-time password: %v", err)
	}
	if got := f.roster(t, alice, "acme"); got["bob"] != store.RoleDeveloper {
		t.Fatalf("roster %v", got)
	}
	// Reading asks for none.
	if _, err := f.orgs.Teams(ctx, alice, "acme"); err != nil {
		t.Fatalf("listing teams: %v", err)
	}
}
