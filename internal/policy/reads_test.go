package policy

import (
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
)

func TestParseReadAccess(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want ReadAccess
		ok   bool
	}{{"public", PublicReads, true}, {"authenticated", AuthenticatedReads, true}, {"", "", false}, {"Authenticated", "", false}, {"private", "", false}} {
		got, err := ParseReadAccess(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseReadAccess(%q) = %q, %v", tt.in, got, err)
		}
	}
}

// TestReadReachIsListed: on a private registry the reach that search
// filters by covers exactly the public packages Listed shows (and on a
// public one, every public package), for every kind of credential.
func TestReadReachIsListed(t *testing.T) {
	granular := func(g auth.Grants) *auth.Principal {
		return &auth.Principal{UserID: 1, UserName: "alice", Kind: auth.KindGranular, Grants: &g}
	}
	principals := []*auth.Principal{
		{},
		{UserID: 1, UserName: "alice", Kind: auth.KindSession},
		{UserID: 1, UserName: "alice", Kind: auth.KindReadOnly},
		{UserID: 1, UserName: "alice", Kind: auth.KindGranular},
		granular(auth.Grants{Packages: []string{"lib"}, PackagePerm: auth.ReadOnly}),
		granular(auth.Grants{Scopes: []string{"acme"}, PackagePerm: auth.ReadWrite}),
		granular(auth.Grants{PackagesAll: true, PackagePerm: auth.ReadOnly}),
		granular(auth.Grants{Orgs: []string{"acme"}, OrgPerm: auth.ReadWrite}),
	}
	names := []string{"lib", "other", "@acme/app", "@bob/app"}
	for _, m := range []ReadAccess{PublicReads, AuthenticatedReads} {
		for _, p := range principals {
			reach := ReadReach(p, m)
			if reach.Private != (m == AuthenticatedReads) {
				t.Errorf("%s: reach.Private = %v", m, reach.Private)
			}
			for _, name := range names {
				scope := ""
				if strings.HasPrefix(name, "@") {
					scope = name[1:strings.Index(name, "/")]
				}
				pkg := Package{Name: name, Scope: scope, Exists: true, ReadAccess: m}
				// The store's condition on a public package: always, or
				// within the reach on a private registry.
				covered := !reach.Private || reach.Covers(name, scope)
				if want := Listed(p, pkg); covered != want {
					t.Errorf("%s %v %v: search covers public %s: %v, Listed says %v", m, p.Kind, p.Grants, name, covered, want)
				}
			}
		}
	}
}
