package policy

import (
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// TestDecideStaged covers who sees, approves and rejects a staged version
// beyond TestMatrix's columns: strangers get 404 (never 403), a new name's
// staged version is seen by its stager and its organization's admins only,
// and a stage-only token is told why it cannot approve.
func TestDecideStaged(t *testing.T) {
	carol := &auth.Principal{UserID: 3, UserName: "carol", Kind: auth.KindSession}
	stageOnly := &auth.Principal{UserID: 1, UserName: "alice", Kind: auth.KindGranular,
		Grants: &auth.Grants{PackagesAll: true, PackagePerm: auth.ReadWriteStageOnly}}
	public := Package{Name: "lib", Exists: true}
	private := Package{Name: "@acme/app", Scope: "acme", Exists: true, Restricted: true}
	newUnscoped := Package{Name: "brand-new"}
	newOrg := Package{Name: "@acme/new", Scope: "acme"}
	tests := []struct {
		name string
		p    *auth.Principal
		a    StageAction
		s    StagedVersion
		want string
	}{
		{"stranger views a public package's", carol, ViewStaged, StagedVersion{Package: public}, "404"},
		{"stranger approves a public package's", carol, ApproveStaged, StagedVersion{Package: public}, "404"},
		{"stranger rejects a private package's", carol, RejectStaged, StagedVersion{Package: private}, "404"},
		{"read-only team member views", carol, ViewStaged,
			StagedVersion{Package: withTeam(private, store.TeamReadOnly)}, "404"},
		{"read-write team member views", carol, ViewStaged,
			StagedVersion{Package: withTeam(private, store.TeamReadWrite)}, "ok"},
		{"read-write team member approves", carol, ApproveStaged,
			StagedVersion{Package: withTeam(private, store.TeamReadWrite)}, "ok"},
		{"stranger views a new unscoped name's", carol, ViewStaged, StagedVersion{Package: newUnscoped}, "404"},
		{"stager views a new unscoped name's", carol, ViewStaged, StagedVersion{Package: newUnscoped, ByUser: true}, "ok"},
		{"stager approves a new unscoped name's", carol, ApproveStaged, StagedVersion{Package: newUnscoped, ByUser: true}, "ok"},
		{"org developer views a new org name's", carol, ViewStaged, StagedVersion{Package: withRole(newOrg, store.RoleDeveloper)}, "404"},
		{"org admin views a new org name's", carol, ViewStaged, StagedVersion{Package: withRole(newOrg, store.RoleAdmin)}, "ok"},
		{"org admin approves a new org name's", carol, ApproveStaged, StagedVersion{Package: withRole(newOrg, store.RoleAdmin)}, "ok"},
		{"stager who lost their rights rejects", carol, RejectStaged, StagedVersion{Package: private, ByUser: true}, "ok"},
		{"stager who lost their rights approves", carol, ApproveStaged, StagedVersion{Package: private, ByUser: true}, "404"},
		{"stage-only token approves its own", stageOnly, ApproveStaged,
			StagedVersion{Package: Package{Name: "lib", Exists: true, UserIsOwner: true}, ByUser: true}, "403"},
		{"anonymous views", &auth.Principal{}, ViewStaged, StagedVersion{Package: public}, "401"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := DecideStaged(tt.p, tt.a, tt.s)
			if got := outcome(err); got != tt.want {
				t.Fatalf("got %s, want %s (%v)", got, tt.want, err)
			}
		})
	}
	err := DecideStaged(stageOnly, ApproveStaged, StagedVersion{Package: Package{Name: "lib", Exists: true, UserIsOwner: true}})
	if err == nil || !strings.Contains(err.Error(), "stage-only token cannot approve") {
		t.Fatalf("a stage-only token's approval: %v, want the reason", err)
	}
}

func withTeam(p Package, perm store.TeamPermission) Package { p.TeamPermission = perm; return p }
func withRole(p Package, role store.Role) Package           { p.OrgRole = role; return p }

// TestStageOnlyPublish shows the message a stage-only token gets for a
// direct publish: it names E_STAGE_REQUIRED and npm stage publish.
func TestStageOnlyPublish(t *testing.T) {
	p := &auth.Principal{UserID: 1, UserName: "alice", Kind: auth.KindGranular,
		Grants: &auth.Grants{PackagesAll: true, PackagePerm: auth.ReadWriteStageOnly}}
	for _, a := range []Action{Publish, Create} {
		pkg := Package{Name: "lib", Exists: a == Publish, UserIsOwner: true}
		err := Decide(p, a, pkg)
		if outcome(err) != "403" || !strings.Contains(err.Error(), "E_STAGE_REQUIRED") || !strings.Contains(err.Error(), "npm stage publish") {
			t.Errorf("%s with a stage-only token: %v", a, err)
		}
	}
}

// TestApproveOTP: approving asks for a one-time password whenever the user
// has 2FA, whatever the credential, and is refused on a package that
// requires 2FA to a user without it.
func TestApproveOTP(t *testing.T) {
	automation := &auth.Principal{UserID: 1, Kind: auth.KindAutomation}
	bypass := &auth.Principal{UserID: 1, Kind: auth.KindGranular, Bypass2FA: true,
		Grants: &auth.Grants{PackagesAll: true, PackagePerm: auth.ReadWrite}}
	session := &auth.Principal{UserID: 1, Kind: auth.KindSession}
	tests := []struct {
		name string
		p    *auth.Principal
		f    OTPFacts
		need bool
		err  bool
	}{
		{"session, 2FA off", session, OTPFacts{UserMode: store.TFAOff}, false, false},
		{"session, auth-only", session, OTPFacts{UserMode: store.TFAAuthOnly}, true, false},
		{"session, auth-and-writes", session, OTPFacts{UserMode: store.TFAAuthAndWrites}, true, false},
		{"automation, auth-and-writes", automation, OTPFacts{UserMode: store.TFAAuthAndWrites}, true, false},
		{"bypass token, auth-only", bypass, OTPFacts{UserMode: store.TFAAuthOnly}, true, false},
		{"package requires 2FA, user has none", session, OTPFacts{UserMode: store.TFAOff, PackageRequiresTFA: true}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			need, err := NeedsOTP(tt.p, OTPApprove, tt.f)
			if need != tt.need || (err != nil) != tt.err {
				t.Fatalf("NeedsOTP = %v, %v; want %v, error %v", need, err, tt.need, tt.err)
			}
		})
	}
}
