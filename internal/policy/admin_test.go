package policy

import (
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// TestDecideAdminMatrix: every credential against every admin action. Only
// an administrator's login session (and the operator at the command line)
// may administer; an administrator's read-only token may read the audit
// log and nothing else; every other token of an administrator is told to
// sign in; to everyone who is not an administrator, the admin section does
// not exist (NotFound).
func TestDecideAdminMatrix(t *testing.T) {
	const (
		ok        = ""
		notFound  = "not found"
		forbidden = "forbidden"
	)
	actions := []AdminAction{AdminRead, AdminChange, AuditRead}
	who := []struct {
		name string
		p    *auth.Principal
		want [3]string // AdminRead, AdminChange, AuditRead
	}{
		{"anonymous (nil)", nil, [3]string{notFound, notFound, notFound}},
		{"anonymous", &auth.Principal{}, [3]string{notFound, notFound, notFound}},
		{"operator", &auth.Principal{Kind: auth.KindOperator, UserName: "root"}, [3]string{ok, ok, ok}},
		{"user, session", &auth.Principal{UserID: 1, UserName: "u", Kind: auth.KindSession}, [3]string{notFound, notFound, notFound}},
		{"user, read-only", &auth.Principal{UserID: 1, UserName: "u", Kind: auth.KindReadOnly}, [3]string{notFound, notFound, notFound}},
		{"user, granular", &auth.Principal{UserID: 1, UserName: "u", Kind: auth.KindGranular}, [3]string{notFound, notFound, notFound}},
		{"admin, session", &auth.Principal{UserID: 2, UserName: "a", Kind: auth.KindSession, Admin: true}, [3]string{ok, ok, ok}},
		{"admin, read-only", &auth.Principal{UserID: 2, UserName: "a", Kind: auth.KindReadOnly, Admin: true}, [3]string{forbidden, forbidden, forbidden}},
		{"admin, read-only limited to addresses", &auth.Principal{UserID: 2, UserName: "a", Kind: auth.KindReadOnly, Admin: true, AddressBound: true}, [3]string{forbidden, forbidden, ok}},
		{"user, read-only limited to addresses", &auth.Principal{UserID: 1, UserName: "u", Kind: auth.KindReadOnly, AddressBound: true}, [3]string{notFound, notFound, notFound}},
		{"admin, publish limited to addresses", &auth.Principal{UserID: 2, UserName: "a", Kind: auth.KindPublish, Admin: true, AddressBound: true}, [3]string{forbidden, forbidden, forbidden}},
		{"admin, publish", &auth.Principal{UserID: 2, UserName: "a", Kind: auth.KindPublish, Admin: true}, [3]string{forbidden, forbidden, forbidden}},
		{"admin, automation", &auth.Principal{UserID: 2, UserName: "a", Kind: auth.KindAutomation, Admin: true}, [3]string{forbidden, forbidden, forbidden}},
		{"admin, granular", &auth.Principal{UserID: 2, UserName: "a", Kind: auth.KindGranular, Admin: true}, [3]string{forbidden, forbidden, forbidden}},
		{"admin, granular bypassing 2FA", &auth.Principal{UserID: 2, UserName: "a", Kind: auth.KindGranular, Admin: true, Bypass2FA: true}, [3]string{forbidden, forbidden, forbidden}},
		{"admin's OIDC-exchanged token", &auth.Principal{UserID: 2, UserName: "a", Kind: auth.KindOIDC, Admin: true,
			Trust: &auth.Trust{Package: "p", Subject: "repo:o/r"}}, [3]string{forbidden, forbidden, forbidden}},
	}
	for _, w := range who {
		for i, a := range actions {
			t.Run(w.name+"/"+string(a), func(t *testing.T) {
				err := DecideAdmin(w.p, a)
				var got string
				switch {
				case err == nil:
					got = ok
				case fault.Is(err, fault.NotFound):
					got = notFound
				case fault.Is(err, fault.Forbidden):
					got = forbidden
				default:
					got = err.Error()
				}
				if got != w.want[i] {
					t.Errorf("DecideAdmin = %q (%v), want %q", got, err, w.want[i])
				}
			})
		}
	}
	if err := DecideAdmin(&auth.Principal{Kind: auth.KindOperator}, AdminAction("format-disk")); err == nil {
		t.Error("an unknown admin action was allowed")
	}
}
