package policy

import (
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
)

// TestDecideHook covers what the matrix does not: administrators, a
// developer of an organization, packages the user may write but not govern
// or not see.
func TestDecideHook(t *testing.T) {
	alice := &auth.Principal{UserID: 1, UserName: "alice", Kind: auth.KindSession}
	admin := &auth.Principal{UserID: 9, UserName: "root", Kind: auth.KindSession, Admin: true}
	adminToken := &auth.Principal{UserID: 9, UserName: "root", Kind: auth.KindPublish, Admin: true}
	writer := Package{Name: "@acme/app", Scope: "acme", Exists: true, TeamPermission: "read-write", OrgRole: "developer"}
	hidden := Package{Name: "@bob/x", Scope: "bob", Exists: true, Restricted: true}
	tests := []struct {
		name string
		p    *auth.Principal
		t    HookTarget
		want string
	}{
		{"admin watches the registry", admin, HookTarget{Type: "registry", Name: "*"}, "ok"},
		{"admin with a token is told to sign in", adminToken, HookTarget{Type: "registry", Name: "*"}, "403"},
		{"admin is not an owner of every package", admin, HookTarget{Type: "package", Name: "lib", Package: Package{Name: "lib", Exists: true}}, "403"},
		{"admin cannot watch another's packages", admin, HookTarget{Type: "owner", Name: "alice"}, "404"},
		{"developer of an org cannot watch its scope", alice, HookTarget{Type: "scope", Name: "acme", OrgRole: "developer"}, "403"},
		{"owner of an org watches its scope", alice, HookTarget{Type: "scope", Name: "acme", OrgRole: "owner"}, "ok"},
		{"read-write team member cannot watch the package", alice, HookTarget{Type: "package", Name: writer.Name, Package: writer}, "403"},
		{"a package alice cannot see does not exist", alice, HookTarget{Type: "package", Name: hidden.Name, Package: hidden}, "404"},
		{"a missing package does not exist", alice, HookTarget{Type: "package", Name: "gone", Package: Package{Name: "gone"}}, "404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := outcome(DecideHook(tt.p, tt.t)); got != tt.want {
				t.Fatalf("got %s, want %s (%v)", got, tt.want, DecideHook(tt.p, tt.t))
			}
		})
	}
	if _, err := outcome(DecideHook(alice, HookTarget{Type: "team"})), DecideHook(alice, HookTarget{Type: "team"}); err == nil {
		t.Fatal("an unknown hook type was allowed")
	}
	// Administrators manage anyone's hooks, with a session only.
	if got := outcome(DecideHookManage(admin, 1)); got != "ok" {
		t.Fatalf("admin managing alice's hook: %s", got)
	}
	if got := outcome(DecideHookManage(adminToken, 1)); got != "404" {
		t.Fatalf("admin's publish token managing alice's hook: %s", got)
	}
}
