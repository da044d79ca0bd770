package policy

import (
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// TestProxiedMatrix asserts every credential kind and grant against every
// action on packages served from an uplink: express and @types/node,
// proxied from the uplink "npmjs". The user is alice, who owns the scope
// @alice (and may create in it). Each row lists the outcome of each
// column: ok, 401, 403 or 404.
func TestProxiedMatrix(t *testing.T) {
	columns := []string{
		"read express", "read @types/node", "publish express", "dist-tag express", "deprecate express",
		"unpublish express", "owners express", "access express", "create express (on npmjs)", "create new-pkg (on no uplink)",
		"create @alice/express",
	}
	granular := func(g auth.Grants) *auth.Principal {
		return &auth.Principal{UserID: 1, UserName: "alice", Kind: auth.KindGranular, Grants: &g}
	}
	legacy := func(k auth.Kind) *auth.Principal { return &auth.Principal{UserID: 1, UserName: "alice", Kind: k} }
	rows := []struct {
		name string
		p    *auth.Principal
		want []string
	}{
		{"anonymous", &auth.Principal{},
			[]string{"ok", "ok", "401", "401", "401", "401", "401", "401", "401", "401", "401"}},
		{"session", legacy(auth.KindSession),
			[]string{"ok", "ok", "403", "403", "403", "403", "403", "403", "403", "ok", "ok"}},
		{"legacy publish", legacy(auth.KindPublish),
			[]string{"ok", "ok", "403", "403", "403", "403", "403", "403", "403", "ok", "ok"}},
		{"legacy read-only", legacy(auth.KindReadOnly),
			[]string{"ok", "ok", "403", "403", "403", "403", "403", "403", "403", "403", "403"}},
		{"legacy automation", legacy(auth.KindAutomation),
			[]string{"ok", "ok", "403", "403", "403", "403", "403", "403", "403", "ok", "ok"}},
		{"granular read-only on all", granular(auth.Grants{PackagesAll: true, PackagePerm: auth.ReadOnly}),
			[]string{"ok", "ok", "403", "403", "403", "403", "403", "403", "403", "403", "403"}},
		{"granular read-write on all", granular(auth.Grants{PackagesAll: true, PackagePerm: auth.ReadWrite}),
			[]string{"ok", "ok", "403", "403", "403", "403", "403", "403", "403", "ok", "ok"}},
		{"granular stage-only on all", granular(auth.Grants{PackagesAll: true, PackagePerm: auth.ReadWriteStageOnly}),
			[]string{"ok", "ok", "403", "403", "403", "403", "403", "403", "403", "403", "403"}},
		{"granular read-only on @acme", granular(auth.Grants{Scopes: []string{"acme"}, PackagePerm: auth.ReadOnly}),
			[]string{"404", "404", "404", "404", "404", "404", "404", "404", "403", "403", "403"}},
		{"granular read-write on @alice", granular(auth.Grants{Scopes: []string{"alice"}, PackagePerm: auth.ReadWrite}),
			[]string{"404", "404", "404", "404", "404", "404", "404", "404", "403", "403", "ok"}},
		{"granular read-only on @types", granular(auth.Grants{Scopes: []string{"types"}, PackagePerm: auth.ReadOnly}),
			[]string{"404", "ok", "404", "404", "404", "404", "404", "404", "403", "403", "403"}},
		{"granular read-write on express", granular(auth.Grants{Packages: []string{"express"}, PackagePerm: auth.ReadWrite}),
			[]string{"ok", "404", "403", "403", "403", "403", "403", "403", "403", "403", "403"}},
		{"granular no-access on all", granular(auth.Grants{PackagesAll: true, PackagePerm: auth.NoAccess}),
			[]string{"404", "404", "404", "404", "404", "404", "404", "404", "403", "403", "403"}},
		{"granular org only", granular(auth.Grants{Orgs: []string{"acme"}, OrgPerm: auth.ReadWrite}),
			[]string{"404", "404", "404", "404", "404", "404", "404", "404", "403", "403", "403"}},
	}
	express := Package{Name: "express", Exists: true, Proxied: true, Uplink: "npmjs"}
	types := Package{Name: "@types/node", Scope: "types", Exists: true, Proxied: true, Uplink: "npmjs"}
	decide := []func(p *auth.Principal) error{
		func(p *auth.Principal) error { return Decide(p, Read, express) },
		func(p *auth.Principal) error { return Decide(p, Read, types) },
		func(p *auth.Principal) error { return Decide(p, Publish, express) },
		func(p *auth.Principal) error { return Decide(p, DistTag, express) },
		func(p *auth.Principal) error { return Decide(p, Deprecate, express) },
		func(p *auth.Principal) error { return Decide(p, Unpublish, express) },
		func(p *auth.Principal) error { return Decide(p, ChangeOwners, express) },
		func(p *auth.Principal) error { return Decide(p, ChangeAccess, express) },
		func(p *auth.Principal) error { return Decide(p, Create, Package{Name: "express", Uplink: "npmjs"}) },
		func(p *auth.Principal) error { return Decide(p, Create, Package{Name: "new-pkg"}) },
		func(p *auth.Principal) error {
			return Decide(p, Create, Package{Name: "@alice/express", Scope: "alice"})
		},
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

// TestProxiedMessages shows that the refusals say why: a write to a
// proxied package names the uplink it comes from, and a new name that an
// uplink has names the attack it would make possible.
func TestProxiedMessages(t *testing.T) {
	alice := &auth.Principal{UserID: 1, UserName: "alice", Kind: auth.KindSession}
	err := Decide(alice, DistTag, Package{Name: "express", Exists: true, Proxied: true, Uplink: "npmjs"})
	if e, ok := fault.As(err); !ok || !strings.Contains(e.Message, "express is served from uplink npmjs, read-only") {
		t.Errorf("a dist-tag on a proxied package: %v", err)
	}
	err = Decide(alice, Create, Package{Name: "express", Uplink: "npmjs"})
	if e, ok := fault.As(err); !ok || !strings.Contains(e.Message, "express exists on uplink npmjs") ||
		!strings.Contains(e.Message, "dependency confusion") {
		t.Errorf("creating a name an uplink has: %v", err)
	}
}
