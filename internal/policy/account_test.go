package policy

import (
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
)

// TestSecurityLogRights: the own security log is read with a login session
// or a legacy publish token only; every token made for machines (granular of
// any grant, automation, read-only, a CI job's OIDC token) is refused, and
// an anonymous client must sign in.
func TestSecurityLogRights(t *testing.T) {
	alice := func(k auth.Kind) *auth.Principal { return &auth.Principal{UserID: 1, UserName: "alice", Kind: k} }
	granular := func(g auth.Grants) *auth.Principal {
		p := alice(auth.KindGranular)
		p.Grants = &g
		return p
	}
	tests := []struct {
		name string
		p    *auth.Principal
		want string
	}{
		{"anonymous", &auth.Principal{}, "401"},
		{"session", alice(auth.KindSession), "ok"},
		{"legacy publish", alice(auth.KindPublish), "ok"},
		{"legacy automation", alice(auth.KindAutomation), "403"},
		{"legacy read-only", alice(auth.KindReadOnly), "403"},
		{"granular read-write on all", granular(auth.Grants{PackagesAll: true, PackagePerm: auth.ReadWrite}), "403"},
		{"granular read-only on all", granular(auth.Grants{PackagesAll: true, PackagePerm: auth.ReadOnly}), "403"},
		{"granular org read-write", granular(auth.Grants{Orgs: []string{"acme"}, OrgPerm: auth.ReadWrite}), "403"},
		{"oidc", &auth.Principal{UserID: 1, UserName: "alice", Kind: auth.KindOIDC,
			Trust: &auth.Trust{Package: "lib", Permissions: []string{auth.PermCreatePackage}}}, "403"},
		{"administrator's read-only token", &auth.Principal{UserID: 1, UserName: "alice", Kind: auth.KindReadOnly, Admin: true}, "403"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := outcome(DecideAccount(tt.p, ReadSecurityLog)); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}
