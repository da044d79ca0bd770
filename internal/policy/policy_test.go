package policy

import (
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

type decideCase struct {
	name string
	p    *auth.Principal
	a    Action
	pkg  Package
	want fault.Kind
}

func TestDecide(t *testing.T) {
	anon := &auth.Principal{}
	alice := &auth.Principal{UserID: 1, UserName: "alice", Kind: auth.KindSession}
	aliceRO := &auth.Principal{UserID: 1, UserName: "alice", Kind: auth.KindReadOnly}

	public := Package{Name: "pub", Exists: true}
	publicOwned := Package{Name: "pub", Exists: true, UserIsOwner: true}
	private := Package{Name: "@alice/secret", Scope: "alice", Exists: true, Restricted: true}
	privateOwned := Package{Name: "@alice/secret", Scope: "alice", Exists: true, Restricted: true, UserIsOwner: true}
	missing := Package{Name: "nope"}
	newUnscoped := Package{Name: "fresh"}
	newOwnScope := Package{Name: "@alice/fresh", Scope: "alice"}
	newOtherScope := Package{Name: "@bob/fresh", Scope: "bob"}

	const ok = fault.Kind(-1)
	tests := []decideCase{
		{"anonymous reads public", anon, Read, public, ok},
		{"anonymous reads private", anon, Read, private, fault.NotFound},
		{"anonymous reads missing", anon, Read, missing, fault.NotFound},
		{"non-owner reads private", alice, Read, private, fault.NotFound},
		{"owner reads private", alice, Read, privateOwned, ok},
		{"read-only token reads private it owns", aliceRO, Read, privateOwned, ok},

		{"anonymous publishes", anon, Publish, public, fault.Unauthorized},
		{"anonymous publishes private (401 either way: nothing revealed)", anon, Publish, private, fault.Unauthorized},
		{"anonymous creates", anon, Create, newUnscoped, fault.Unauthorized},
		{"owner publishes", alice, Publish, publicOwned, ok},
		{"non-owner publishes public", alice, Publish, public, fault.Forbidden},
		{"non-owner publishes private", alice, Publish, private, fault.NotFound},
		{"read-only token publishes", aliceRO, Publish, publicOwned, fault.Forbidden},
		{"read-only token creates", aliceRO, Create, newUnscoped, fault.Forbidden},
		{"creates unscoped", alice, Create, newUnscoped, ok},
		{"creates in own scope", alice, Create, newOwnScope, ok},
		{"creates in another's scope (404, like a private name there)", alice, Create, newOtherScope, fault.NotFound},
		{"publish to missing package", alice, Publish, missing, fault.NotFound},
	}
	for _, a := range []Action{Unpublish, Deprecate, DistTag, ChangeOwners} {
		tests = append(tests,
			decideCase{"owner " + string(a), alice, a, publicOwned, ok},
			decideCase{"non-owner " + string(a), alice, a, public, fault.Forbidden},
			decideCase{"anonymous " + string(a), anon, a, public, fault.Unauthorized},
			decideCase{"read-only " + string(a), aliceRO, a, publicOwned, fault.Forbidden},
		)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Decide(tt.p, tt.a, tt.pkg)
			if tt.want == ok {
				if err != nil {
					t.Fatalf("got %v, want allowed", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("allowed, want kind %d", tt.want)
			}
			if got := fault.KindOf(err); got != tt.want {
				t.Fatalf("got kind %d (%v), want %d", got, err, tt.want)
			}
		})
	}
}

func TestDenialMessages(t *testing.T) {
	alice := &auth.Principal{UserID: 1, UserName: "alice", Kind: auth.KindSession}
	err := Decide(alice, Publish, Package{Name: "pub", Exists: true})
	want := `You do not have permission to publish "pub". Are you logged in as the correct user?`
	if e, _ := fault.As(err); e == nil || e.Message != want {
		t.Fatalf("message = %v, want %q", err, want)
	}
	err = Decide(&auth.Principal{}, Publish, Package{Name: "pub", Exists: true})
	if e, _ := fault.As(err); e == nil || e.Message != "Authentication required" || e.Challenge == "" {
		t.Fatalf("anonymous write: %+v", e)
	}
	err = Decide(&auth.Principal{UserID: 1, Kind: auth.KindReadOnly}, Publish, Package{Name: "pub", Exists: true, UserIsOwner: true})
	if e, _ := fault.As(err); e == nil || e.Message != "This token is read-only" {
		t.Fatalf("read-only write: %+v", e)
	}
}
