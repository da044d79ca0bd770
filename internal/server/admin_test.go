package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/admin"
	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/idtoken"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

// TestAdminDisableEnable: a disabled account's token and sign-in are
// refused at once, with a message that says why, and enabling it restores
// them; only an administrator (here the operator at the command line, and
// a promoted user who confirms with their password) may do it, and each
// change is in the audit log.
func TestAdminDisableEnable(t *testing.T) {
	tr := newTestRegistry(t)
	alice, bob := tr.user("alice"), tr.user("bob")
	ctx := t.Context()
	op := audit.Operator()
	whoami := func(tok string) response { return tr.do("GET", "/-/whoami", tok, nil) }
	signIn := func() response {
		return tr.do("PUT", "/-/user/org.couchdb.user:bob", "", map[string]string{"name": "bob", "password": "password-bob"})
	}
	if res := whoami(bob); res.status != http.StatusOK {
		t.Fatalf("whoami before: %d %s", res.status, res.body)
	}

	aliceUser, err := tr.srv.store.Q().UserByName(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	plain := &auth.Principal{UserID: aliceUser.ID, UserName: "alice", Kind: auth.KindSession}
	if err := tr.srv.Admin.SetDisabled(ctx, plain, admin.Confirm{Password: "password-alice"}, "bob", true); !fault.Is(err, fault.NotFound) {
		t.Fatalf("a user who is no administrator disables bob: %v, want NotFound (as for a missing page)", err)
	}
	if res := whoami(bob); res.status != http.StatusOK {
		t.Fatalf("a refused disable changed something: whoami %d %s", res.status, res.body)
	}

	if err := tr.srv.Admin.SetDisabled(ctx, op, admin.Confirm{}, "bob", true); err != nil {
		t.Fatalf("the operator disables bob: %v", err)
	}
	if res := whoami(bob); res.status != http.StatusForbidden || !strings.Contains(string(res.body), "disabled") {
		t.Errorf("bob's token after the disable: %d %s, want 403 saying the account is disabled", res.status, res.body)
	}
	if res := signIn(); res.status != http.StatusForbidden || !strings.Contains(string(res.body), "disabled") {
		t.Errorf("bob's sign-in after the disable: %d %s, want 403 saying the account is disabled", res.status, res.body)
	}
	if res := whoami(alice); res.status != http.StatusOK {
		t.Errorf("alice's token after bob's disable: %d %s", res.status, res.body)
	}

	// A promoted administrator confirms with their password.
	if err := tr.srv.Admin.SetAdmin(ctx, op, admin.Confirm{}, "alice", true); err != nil {
		t.Fatalf("promote alice: %v", err)
	}
	adminAlice := &auth.Principal{UserID: aliceUser.ID, UserName: "alice", Kind: auth.KindSession, Admin: true}
	if err := tr.srv.Admin.SetDisabled(ctx, adminAlice, admin.Confirm{Password: "wrong"}, "bob", false); err == nil {
		t.Fatal("an administrator enabled bob with a wrong password")
	}
	if err := tr.srv.Admin.SetDisabled(ctx, adminAlice, admin.Confirm{Password: "password-alice"}, "bob", false); err != nil {
		t.Fatalf("alice enables bob: %v", err)
	}
	if res := whoami(bob); res.status != http.StatusOK {
		t.Errorf("bob's token after the enable: %d %s", res.status, res.body)
	}
	if res := signIn(); res.status != http.StatusCreated && res.status != http.StatusOK {
		t.Errorf("bob's sign-in after the enable: %d %s", res.status, res.body)
	}

	if err := tr.srv.Audit.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	if _, err := tr.srv.Audit.Export(ctx, op, audit.Filter{}, 0, 0, func(e audit.Event) error {
		if strings.HasPrefix(string(e.Action), "admin.") {
			got = append(got, string(e.Action)+" "+string(e.Outcome)+" by "+e.Actor.User+" ("+e.Actor.TokenKind+") to "+e.Target.User)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"admin.disable success by " + op.UserName + " (operator) to bob",
		"admin.promote success by " + op.UserName + " (operator) to alice",
		"admin.enable success by alice (session) to bob",
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Errorf("audit log lacks %q; admin events: %q", w, got)
		}
	}
}

// TestDeleteUserSaysWhatWentWithIt: deleting an account removes, by
// cascade, the trusted publishing it configured and its memberships; the
// audit event of the deletion names them, so that a CI job that stops
// publishing can be traced to it.
func TestDeleteUserSaysWhatWentWithIt(t *testing.T) {
	is := testkit.NewIssuer(t)
	tr := newTestRegistry(t, func(c *config.Config) {
		c.URL = "http://127.0.0.1/"
		c.TrustedIssuers = []idtoken.Issuer{{URL: is.URL, Kind: idtoken.GitHub}}
	})
	alice, bob := tr.user("alice"), tr.user("bob")
	ctx := t.Context()
	op := audit.Operator()
	if _, err := tr.srv.Orgs.Create(ctx, op, "acme", "alice"); err != nil {
		t.Fatal(err)
	}
	if res := tr.do("PUT", "/-/org/acme/user", alice, map[string]string{"user": "bob"}); res.status/100 != 2 {
		t.Fatalf("add bob to acme: %d %s", res.status, res.body)
	}
	if res := tr.do("PUT", "/blib", bob, publishBody(t, "blib", "1.0.0")); res.status != http.StatusCreated {
		t.Fatalf("publish blib: %d %s", res.status, res.body)
	}
	secret, _ := tr.enable2FA(bob, "password-bob", "auth-only")
	trust := []map[string]any{{"type": "github", "claims": map[string]any{"repository": "o/r",
		"workflow_ref": map[string]string{"file": "publish.yml"}}, "permissions": []string{"createPackage"}}}
	if res := tr.do("POST", "/-/package/blib/trust", bob, trust, "npm-otp", otpAt(secret, 0)); res.status != http.StatusOK {
		t.Fatalf("trust blib: %d %s", res.status, res.body)
	}
	deleted, err := tr.srv.Admin.DeleteUser(ctx, op, admin.Confirm{}, "bob", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(deleted.HandedOver) != 1 || deleted.HandedOver[0] != "blib" {
		t.Fatalf("handed over: %+v", deleted)
	}
	var detail string
	if _, err := tr.srv.Audit.Export(ctx, op, audit.Filter{Action: string(audit.AdminUserDelete)}, 0, 0, func(e audit.Event) error {
		detail = e.Detail
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1 package(s) handed to alice", "trusted publishing removed from blib", "left acme"} {
		if !strings.Contains(detail, want) {
			t.Errorf("the deletion's event says %q, without %q", detail, want)
		}
	}
}
