package account

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/sso"
	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/gatehouse-registry/gatehouse/internal/token"
)

var corp = sso.Provider{Name: "corp", Issuer: "https://id.corp.test", ClientID: "c", ClientSecretEnv: "X",
	AllowedDomains: []string{"corp.test"}, CreateUsers: true}

func ident(sub, name, email string) sso.Identity {
	return sso.Identity{Provider: "corp", Issuer: corp.Issuer, Subject: sub, UserName: name, Email: email, EmailVerified: true}
}

// sessionOf is the principal of session token raw.
func (f *fixture) sessionOf(t *testing.T, raw string) *auth.Principal {
	t.Helper()
	h := token.Hash(raw)
	tok, err := f.st.Q().TokenByHash(t.Context(), h[:])
	if err != nil {
		t.Fatal(err)
	}
	u, err := f.st.Q().UserByID(t.Context(), tok.UserID)
	if err != nil {
		t.Fatal(err)
	}
	return &auth.Principal{UserID: u.ID, UserName: u.Name, Kind: auth.KindSession, TokenID: tok.ID, TokenKey: tok.Key}
}

func ssoFixture(t *testing.T, opts Options) (*fixture, *audit.Log) {
	t.Helper()
	f := newFixture(t, opts)
	log := audit.New(f.st, audit.Options{})
	f.svc.audit = log
	return f, log
}

func events(t *testing.T, log *audit.Log) []audit.Event {
	t.Helper()
	if err := log.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	var out []audit.Event
	if _, err := log.Export(t.Context(), audit.Operator(), audit.Filter{}, 0, 0, func(e audit.Event) error {
		out = append(out, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSignInSSO: a first sign-in creates the account and links the
// subject; the next finds it by the subject, whatever the email and name
// say then; the audit log has both, with the provider and subject.
func TestSignInSSO(t *testing.T) {
	f, log := ssoFixture(t, Options{})
	ctx := t.Context()
	res, err := f.svc.SignInSSO(ctx, corp, ident("s-alice", "alice", "alice@corp.test"), "website")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Created || res.User.Name != "alice" || res.User.Email != "alice@corp.test" || res.Token == "" {
		t.Fatalf("first sign-in: %+v", res)
	}
	// The subject, not the email or the name, finds the account.
	again, err := f.svc.SignInSSO(ctx, corp, ident("s-alice", "renamed", "alice@new.corp.test"), "website")
	if err == nil {
		t.Fatal("a verified email outside the allowed domain was admitted")
	}
	again, err = f.svc.SignInSSO(ctx, corp, ident("s-alice", "renamed", "alice2@corp.test"), "website")
	if err != nil || again.Created || again.User.ID != res.User.ID {
		t.Fatalf("second sign-in: %+v, %v", again, err)
	}
	// An account created so has no password anybody knows.
	if _, err := f.svc.SignIn(ctx, "alice", "", "website"); !fault.Is(err, fault.Unauthorized) {
		t.Fatalf("password sign-in with an empty password: %v", err)
	}

	evs := events(t, log)
	var signup, signins, refused int
	for _, e := range evs {
		if e.Actor.OIDCSubject != "s-alice" || !strings.Contains(e.Detail, "corp ("+corp.Issuer+")") {
			continue
		}
		switch {
		case e.Action == audit.SignUp && e.Outcome == audit.Success && e.Target.User == "alice":
			signup++
		case e.Action == audit.SignIn && e.Outcome == audit.Success && e.Target.Token != "":
			signins++
		case e.Action == audit.SignIn && e.Outcome == audit.Failure:
			refused++
		}
	}
	if signup != 1 || signins != 2 || refused != 1 {
		t.Fatalf("audit log: %d sign-ups, %d sign-ins, %d refusals with the provider's subject, want 1, 2, 1:\n%v",
			signup, signins, refused, evs)
	}
}

// TestSSONeverTakesOver: a first sign-in whose email or name belongs to an
// account here is refused, and the account is untouched; linking it from a
// fresh local sign-in works, and then the provider signs in to it.
func TestSSONeverTakesOver(t *testing.T) {
	f, _ := ssoFixture(t, Options{})
	ctx := t.Context()
	f.user(t, "bob") // bob@example.com
	prov := corp
	prov.AllowedDomains = nil
	_, err := f.svc.SignInSSO(ctx, prov, ident("s-mallory", "mallory", "BOB@example.com"), "website")
	if !fault.Is(err, fault.Forbidden) || !strings.Contains(err.Error(), "never takes an account over") {
		t.Fatalf("a first sign-in with bob's email: %v", err)
	}
	_, err = f.svc.SignInSSO(ctx, prov, ident("s-mallory", "bob", "mallory@corp.test"), "website")
	if !fault.Is(err, fault.Forbidden) || !strings.Contains(err.Error(), "user name bob is taken") {
		t.Fatalf("a first sign-in with bob's name: %v", err)
	}
	if links, _ := f.st.Q().SSOIdentitiesOf(ctx, 1); len(links) != 0 {
		t.Fatalf("bob got links: %+v", links)
	}
	noCreate := prov
	noCreate.CreateUsers = false
	if _, err := f.svc.SignInSSO(ctx, noCreate, ident("s-carol", "carol", "carol@corp.test"), "website"); !fault.Is(err, fault.Forbidden) {
		t.Fatalf("a first sign-in where accounts are not created: %v", err)
	}
	if _, err := f.svc.UserByName(ctx, "carol"); !fault.Is(err, fault.NotFound) {
		t.Fatalf("carol was created: %v", err)
	}

	// Bob signs in with his password, then links his provider account.
	in, err := f.svc.SignIn(ctx, "bob", "password of bob", "website")
	if err != nil {
		t.Fatal(err)
	}
	bob := f.sessionOf(t, in.Token)
	f.now = f.now.Add(policy.FreshSignIn + time.Minute)
	if err := f.svc.LinkSSO(ctx, bob, prov, ident("s-bob", "bobby", "bob@example.com")); !fault.Is(err, fault.Forbidden) {
		t.Fatalf("a link from a stale session: %v", err)
	}
	f.now = f.now.Add(-policy.FreshSignIn)
	if err := f.svc.LinkSSO(ctx, bob, prov, ident("s-bob", "bobby", "bob@example.com")); err != nil {
		t.Fatal(err)
	}
	res, err := f.svc.SignInSSO(ctx, noCreate, ident("s-bob", "bobby", "bob@example.com"), "website")
	if err != nil || res.User.Name != "bob" || res.Created {
		t.Fatalf("bob through the provider: %+v, %v", res, err)
	}
	// A subject links one account.
	f.user(t, "dave")
	in, _ = f.svc.SignIn(ctx, "dave", "password of dave", "website")
	if err := f.svc.LinkSSO(ctx, f.sessionOf(t, in.Token), prov, ident("s-bob", "", "")); !fault.Is(err, fault.Conflict) {
		t.Fatalf("bob's subject linked to dave: %v", err)
	}
}

// TestSSOOnly: with SSO-only, passwords are off for non-administrators
// (couch login, website, npm web login with a password, sign-up), kept for
// administrators; a fresh SSO sign-in stands in for the password when
// creating a token, a stale one does not.
func TestSSOOnly(t *testing.T) {
	f, _ := ssoFixture(t, Options{SSOOnly: true, RegistrationOpen: true})
	ctx := t.Context()
	f.user(t, "carol")
	admin, err := f.svc.CreateUserAs(ctx, policy.AdminRegistration, audit.Operator(), "root", "root@example.com", "password of root", true)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.SignIn(ctx, "carol", "password of carol", "website")
	if !fault.Is(err, fault.Forbidden) || !strings.Contains(err.Error(), "single sign-on") {
		t.Fatalf("carol's password sign-in: %v", err)
	}
	if _, err := f.svc.Login(ctx, "carol", "", "password of carol"); !fault.Is(err, fault.Forbidden) {
		t.Fatalf("carol's couch login: %v", err)
	}
	if _, err := f.svc.Login(ctx, "newbie", "n@example.com", "password of newbie"); !fault.Is(err, fault.Forbidden) {
		t.Fatalf("npm adduser: %v", err)
	}
	if err := f.svc.Registration(); !fault.Is(err, fault.Forbidden) {
		t.Fatalf("registration: %v", err)
	}
	// A wrong password is still just wrong: nobody learns who is an admin.
	if _, err := f.svc.SignIn(ctx, "carol", "wrong", "website"); !fault.Is(err, fault.Unauthorized) {
		t.Fatalf("a wrong password: %v", err)
	}
	if _, err := f.svc.SignIn(ctx, admin.Name, "password of root", "website"); err != nil {
		t.Fatalf("the administrator's password sign-in: %v", err)
	}
	st, err := f.svc.StartWebAuth(ctx, WebLogin, nil, "login")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.CompleteWebAuth(ctx, st.LoginID, "carol", "password of carol", ""); !fault.Is(err, fault.Forbidden) {
		t.Fatalf("carol's npm web login with a password: %v", err)
	}

	// Carol links her provider account (an administrator's step, here
	// straight in the store), signs in through it, and creates a token
	// with the fresh session and no password.
	carol, _ := f.svc.UserByName(ctx, "carol")
	now := f.now.UnixMilli()
	if _, err := f.st.Q().CreateSSOIdentity(ctx, store.SSOIdentity{UserID: carol.ID, Issuer: corp.Issuer, Subject: "s-carol",
		Provider: "corp", CreatedAt: now, LastSignInAt: now}); err != nil {
		t.Fatal(err)
	}
	in, err := f.svc.SignInSSO(ctx, corp, ident("s-carol", "carol", "carol@corp.test"), "website")
	if err != nil {
		t.Fatal(err)
	}
	p := f.sessionOf(t, in.Token)
	if _, err := f.svc.CreateToken(ctx, p, TokenRequest{Password: "password of carol", ReadOnly: new(false)}); err != nil {
		t.Fatalf("a token from a fresh SSO session: %v", err)
	}
	f.now = f.now.Add(policy.FreshSignIn + time.Minute)
	if _, err := f.svc.CreateToken(ctx, p, TokenRequest{Password: "password of carol", ReadOnly: new(false)}); !fault.Is(err, fault.Forbidden) {
		t.Fatalf("a token from a stale session, with the password that is off: %v", err)
	}
	// Disabled: refused through the provider too.
	if err := f.st.InTx(ctx, func(q store.Queries) error { return q.SetDisabled(ctx, carol.ID, 1) }); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SignInSSO(ctx, corp, ident("s-carol", "carol", "carol@corp.test"), "website"); err == nil {
		t.Fatal("a disabled account signed in through the provider")
	}
}

// TestSSOFreshSignInWithoutSSOOnly: an account that signs in through a
// provider and gives no password creates a token with a fresh session; an
// account with no link still needs its password.
func TestSSOFreshSignInWithoutSSOOnly(t *testing.T) {
	f, _ := ssoFixture(t, Options{})
	ctx := t.Context()
	in, err := f.svc.SignInSSO(ctx, corp, ident("s-erin", "erin", "erin@corp.test"), "website")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CreateToken(ctx, f.sessionOf(t, in.Token), TokenRequest{ReadOnly: new(false)}); err != nil {
		t.Fatalf("erin's token with a fresh SSO session: %v", err)
	}
	f.user(t, "frank")
	fr, _ := f.svc.SignIn(ctx, "frank", "password of frank", "website")
	if _, err := f.svc.CreateToken(ctx, f.sessionOf(t, fr.Token), TokenRequest{ReadOnly: new(false)}); !fault.Is(err, fault.Invalid) {
		t.Fatalf("frank's token without a password: %v", err)
	}
}

// TestSSOGroupMapping: a provider's group mapping (off by default) makes
// the person a developer of the mapped organization and a member of the
// mapped team, once; a role they have already is kept; unknown
// organizations and teams are skipped; other groups give nothing.
func TestSSOGroupMapping(t *testing.T) {
	f, log := ssoFixture(t, Options{})
	ctx := t.Context()
	q := f.st.Q()
	acme, err := q.CreateOrg(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	devs, err := q.CreateTeam(ctx, acme.ID, "devs", "")
	if err != nil {
		t.Fatal(err)
	}
	other, err := q.CreateOrg(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	prov := corp
	prov.GroupMapping = []sso.GroupMapping{{Group: "eng", Org: "acme", Team: "devs"}, {Group: "eng", Org: "ghost"},
		{Group: "eng", Org: "acme", Team: "ghost"}, {Group: "ops", Org: "other"}}
	id := ident("s-gina", "gina", "gina@corp.test")
	id.Groups = []string{"eng", "design"}
	res, err := f.svc.SignInSSO(ctx, prov, id, "website")
	if err != nil {
		t.Fatal(err)
	}
	if role, _ := q.RoleIn(ctx, acme.ID, res.User.ID); role != store.RoleDeveloper {
		t.Fatalf("gina's role in acme: %q, want developer", role)
	}
	if members, _ := q.TeamMembers(ctx, devs.ID); len(members) != 1 || members[0] != "gina" {
		t.Fatalf("devs: %v", members)
	}
	if role, _ := q.RoleIn(ctx, other.ID, res.User.ID); role != "" {
		t.Fatalf("gina got into other (group ops, which she is not in): %q", role)
	}
	// Made an admin of acme meanwhile: the next sign-in keeps that.
	if err := q.SetMember(ctx, acme.ID, res.User.ID, store.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SignInSSO(ctx, prov, id, "website"); err != nil {
		t.Fatal(err)
	}
	if role, _ := q.RoleIn(ctx, acme.ID, res.User.ID); role != store.RoleAdmin {
		t.Fatalf("gina's role after the second sign-in: %q, want admin kept", role)
	}
	var sets, adds int
	for _, e := range events(t, log) {
		if e.Actor.OIDCSubject == "s-gina" && e.Target.Org == "acme" {
			switch e.Action {
			case audit.OrgMemberSet:
				sets++
			case audit.TeamMemberAdd:
				adds++
			}
		}
	}
	if sets != 1 || adds != 1 {
		t.Fatalf("audit: %d org.member_set and %d team.member_add, want 1 each", sets, adds)
	}

	// Off by default: no mapping, no memberships.
	id2 := ident("s-hal", "hal", "hal@corp.test")
	id2.Groups = []string{"eng"}
	res, err = f.svc.SignInSSO(ctx, corp, id2, "website")
	if err != nil {
		t.Fatal(err)
	}
	if role, _ := q.RoleIn(ctx, acme.ID, res.User.ID); role != "" {
		t.Fatalf("hal got into acme without a mapping: %q", role)
	}
}
