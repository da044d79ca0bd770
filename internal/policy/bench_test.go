package policy

import (
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
)

func BenchmarkDecideGranularRead(b *testing.B) {
	p := &auth.Principal{UserID: 1, UserName: "alice", Kind: auth.KindGranular,
		Grants: &auth.Grants{Scopes: []string{"acme", "alice"}, Packages: []string{"lib", "tool"}, PackagePerm: auth.ReadWrite}}
	pkg := Package{Name: "@acme/app", Scope: "acme", Exists: true, Restricted: true, TeamPermission: "read-only"}
	b.ReportAllocs()
	for b.Loop() {
		if err := Decide(p, Read, pkg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecidePublishDenied(b *testing.B) {
	p := &auth.Principal{UserID: 1, UserName: "alice", Kind: auth.KindReadOnly}
	pkg := Package{Name: "lib", Exists: true, UserIsOwner: true}
	b.ReportAllocs()
	for b.Loop() {
		if err := Decide(p, Publish, pkg); err == nil {
			b.Fatal("allowed")
		}
	}
}
