package store

import (
	"reflect"
	"testing"
)

// testRecentlyPublished checks the recently published list: newest version
// first, each package once, only what the viewer may read as a user, with
// the viewer's rights as Rights reads them, and the limit.
func testRecentlyPublished(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()
	alice, bob, carol, _, readers := acmeWithReaders(t, q)
	pub := mustPackage(t, q, "pub", "", "public")
	other := mustPackage(t, q, "other", "", "public")
	tool := mustPackage(t, q, "@acme/tool", "acme", "restricted")
	secret := mustPackage(t, q, "@acme/secret", "acme", "restricted")
	mine := mustPackage(t, q, "@alice/x", "alice", "restricted")
	must(t, q.AddOwner(ctx, mine.ID, alice.ID))
	must(t, q.GrantTeam(ctx, readers.ID, tool.ID, TeamReadOnly))
	// pub's newest publish is 1.0.1, a fix of an older line, at 90.
	for _, v := range []Version{
		{PackageID: pub.ID, Version: "1.0.0", PublishedAt: 10},
		{PackageID: pub.ID, Version: "2.0.0", PublishedAt: 20},
		{PackageID: other.ID, Version: "0.1.0", PublishedAt: 30},
		{PackageID: tool.ID, Version: "1.0.0", PublishedAt: 50},
		{PackageID: mine.ID, Version: "3.0.0", PublishedAt: 70},
		{PackageID: secret.ID, Version: "1.0.0", PublishedAt: 80},
		{PackageID: pub.ID, Version: "1.0.1", PublishedAt: 90},
	} {
		v.Manifest, v.BlobKey, v.Size = []byte(`{}`), "sha512/aa/"+v.Version, 1
		must(t, q.InsertVersion(ctx, v))
	}
	type row struct {
		name, version string
		at            int64
	}
	tests := []struct {
		who    string
		viewer int64
		limit  int
		want   []row
	}{
		{"anonymous", 0, 10, []row{{"pub", "1.0.1", 90}, {"other", "0.1.0", 30}}},
		{"carol, in no organization", carol.ID, 10, []row{{"pub", "1.0.1", 90}, {"other", "0.1.0", 30}}},
		{"bob, a developer whose team reads @acme/tool", bob.ID, 10,
			[]row{{"pub", "1.0.1", 90}, {"@acme/tool", "1.0.0", 50}, {"other", "0.1.0", 30}}},
		{"alice, owner of acme and of @alice/x", alice.ID, 10, []row{{"pub", "1.0.1", 90}, {"@acme/secret", "1.0.0", 80},
			{"@alice/x", "3.0.0", 70}, {"@acme/tool", "1.0.0", 50}, {"other", "0.1.0", 30}}},
		{"alice, two at most", alice.ID, 2, []row{{"pub", "1.0.1", 90}, {"@acme/secret", "1.0.0", 80}}},
		{"no limit", alice.ID, 0, []row{}},
	}
	for _, tt := range tests {
		list, err := q.RecentlyPublished(ctx, tt.viewer, tt.limit)
		must(t, err)
		got := []row{}
		for _, l := range list {
			got = append(got, row{l.Name, l.Version, l.PublishedAt})
			pkg, err := q.PackageByName(ctx, l.Name)
			must(t, err)
			r, err := q.Rights(ctx, pkg.ID, pkg.Scope, tt.viewer)
			must(t, err)
			if l.Viewer != r || l.Access != Access(pkg.Access) || l.Scope != pkg.Scope {
				t.Errorf("%s: %s listed with %+v (%s, scope %q), the package has %+v (%s, scope %q)",
					tt.who, l.Name, l.Viewer, l.Access, l.Scope, r, pkg.Access, pkg.Scope)
			}
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.who, got, tt.want)
		}
	}
	// An unpublished version leaves the list with its row.
	must(t, q.DeletePackage(ctx, pub.ID))
	list, err := q.RecentlyPublished(ctx, 0, 10)
	must(t, err)
	if len(list) != 1 || list[0].Name != "other" {
		t.Errorf("after deleting pub: %+v", list)
	}
}
