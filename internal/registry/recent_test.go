package registry

import (
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
)

// TestRecentlyPublished: the list holds what each principal may read, the
// credential included, newest first; a restricted package appears only to
// those whose user and credential may both read it.
func TestRecentlyPublished(t *testing.T) {
	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	svc, alice := newTestService(t, start)
	at := start
	svc.now = func() time.Time { return at }
	ctx := t.Context()
	for i, pv := range [][2]string{{"pub", "1.0.0"}, {"@alice/secret", "1.0.0"}, {"@alice/other", "1.0.0"}, {"pub", "1.1.0"}} {
		at = start.Add(time.Duration(i) * time.Minute)
		if err := svc.Publish(ctx, alice, pv[0], publishDoc(t, pv[0], pv[1], packageTarball(t, pv[0], pv[1]),
			map[string]any{"description": "the " + pv[0] + " package"})); err != nil {
			t.Fatalf("publish %s@%s: %v", pv[0], pv[1], err)
		}
	}
	granular := func(g auth.Grants) *auth.Principal {
		return &auth.Principal{UserID: alice.UserID, UserName: "alice", Kind: auth.KindGranular, Grants: &g}
	}
	tests := []struct {
		who  string
		p    *auth.Principal
		n    int
		want []string
	}{
		{"alice's session", alice, 10, []string{"pub@1.1.0", "@alice/other@1.0.0", "@alice/secret@1.0.0"}},
		{"alice's session, two", alice, 2, []string{"pub@1.1.0", "@alice/other@1.0.0"}},
		{"anonymous", &auth.Principal{}, 10, []string{"pub@1.1.0"}},
		{"alice's read-only token", &auth.Principal{UserID: alice.UserID, UserName: "alice", Kind: auth.KindReadOnly}, 10,
			[]string{"pub@1.1.0", "@alice/other@1.0.0", "@alice/secret@1.0.0"}},
		{"a granular token on @alice/secret", granular(auth.Grants{Packages: []string{"@alice/secret"}, PackagePerm: auth.ReadOnly}), 10,
			[]string{"pub@1.1.0", "@alice/secret@1.0.0"}},
		{"a granular token on organizations only", granular(auth.Grants{Orgs: []string{"acme"}, OrgPerm: auth.ReadWrite}), 10,
			[]string{"pub@1.1.0"}},
		{"bob's session", &auth.Principal{UserID: alice.UserID + 100, UserName: "bob", Kind: auth.KindSession}, 10,
			[]string{"pub@1.1.0"}},
	}
	for _, tt := range tests {
		list, err := svc.RecentlyPublished(ctx, tt.p, tt.n)
		if err != nil {
			t.Fatalf("%s: %v", tt.who, err)
		}
		got := []string{}
		for _, l := range list {
			got = append(got, l.Name+"@"+l.Version)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.who, got, tt.want)
		}
	}
	list, err := svc.RecentlyPublished(ctx, alice, 1)
	if err != nil || len(list) != 1 {
		t.Fatalf("one: %v %v", list, err)
	}
	if p := list[0]; p.Description != "the pub package" || !p.At.Equal(start.Add(3*time.Minute)) || p.Restricted {
		t.Errorf("pub listed as %+v", p)
	}
}
