package store

import (
	"slices"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// testStaged checks staged versions: the round trip, the version number
// they hold, who a list shows each one to (the rule policy.DecideStaged
// states), paging with an exact total, deletion, and their tarballs
// counting as referenced.
func testStaged(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()
	alice, bob, carol, _, readers := acmeWithReaders(t, q)
	lib := mustPackage(t, q, "@acme/lib", "acme", "restricted")
	tool := mustPackage(t, q, "@acme/tool", "acme", "restricted")
	mine := mustPackage(t, q, "mine", "", "public")
	must(t, q.AddOwner(ctx, mine.ID, bob.ID))
	must(t, q.GrantTeam(ctx, readers.ID, lib.ID, TeamReadWrite))
	must(t, q.GrantTeam(ctx, readers.ID, tool.ID, TeamReadOnly))
	row := func(id, name, scope, version string, actor User, at int64) Staged {
		return Staged{ID: id, Name: name, Scope: scope, Version: version, Tags: []byte(`{"latest":"` + version + `"}`),
			Manifest: []byte(`{"name":"` + name + `"}`), BlobKey: "sha512/st/" + id, Size: 10, Shasum: "abc",
			Integrity: "sha512-x", FileCount: 2, UnpackedSize: 20, ActorID: actor.ID, ActorType: "user", CreatedAt: at}
	}
	s1 := row("00000000-0000-4000-8000-000000000001", "@acme/lib", "acme", "1.0.0", bob, 1)
	s1.Provenance = []byte(`{"mediaType":"x"}`)
	s1.Access = Restricted
	s2 := row("00000000-0000-4000-8000-000000000002", "@acme/new", "acme", "1.0.0", bob, 2)
	s3 := row("00000000-0000-4000-8000-000000000003", "mine", "", "2.0.0", carol, 3)
	s4 := row("00000000-0000-4000-8000-000000000004", "@acme/tool", "acme", "1.0.0", alice, 4)
	for _, st := range []Staged{s1, s2, s3, s4} {
		must(t, q.InsertStaged(ctx, st))
	}
	dup := row("00000000-0000-4000-8000-000000000005", "@acme/lib", "acme", "1.0.0+build", alice, 5)
	wantKind(t, "a second stage of a version", q.InsertStaged(ctx, dup), fault.Conflict)

	got, err := q.StagedByID(ctx, s1.ID)
	must(t, err)
	if got.Name != s1.Name || got.Version != "1.0.0" || got.ActorName != "bob" || string(got.Provenance) != string(s1.Provenance) ||
		got.Access != Restricted || got.FileCount != 2 || got.UnpackedSize != 20 || string(got.Tags) != string(s1.Tags) ||
		string(got.Manifest) != string(s1.Manifest) || got.BlobKey != s1.BlobKey {
		t.Errorf("StagedByID = %+v, want %+v", got, s1)
	}
	if got.PackageAccess != Restricted {
		t.Errorf("the package access of a staged version of @acme/lib = %q, want restricted", got.PackageAccess)
	}
	if got, err := q.StagedByID(ctx, s2.ID); err != nil || got.Provenance != nil || got.PackageAccess != "" {
		t.Errorf("a staged version of a new name without provenance: %v, provenance %q, package access %q",
			err, got.Provenance, got.PackageAccess)
	}
	for _, v := range []string{"1.0.0", "1.0.0+other"} {
		if staged, err := q.IsStaged(ctx, "@acme/lib", v); err != nil || !staged {
			t.Errorf("IsStaged(@acme/lib, %s) = %v, %v", v, staged, err)
		}
	}
	if staged, err := q.IsStaged(ctx, "@acme/lib", "1.0.1"); err != nil || staged {
		t.Errorf("IsStaged(@acme/lib, 1.0.1) = %v, %v", staged, err)
	}

	ids := func(f StagedFilter, page, perPage int) ([]string, int) {
		t.Helper()
		rows, total, err := q.StagedList(ctx, f, page, perPage)
		must(t, err)
		var out []string
		for _, r := range rows {
			out = append(out, r.ID[len(r.ID)-1:])
		}
		return out, total
	}
	all := Reach{All: true}
	tests := []struct {
		name  string
		f     StagedFilter
		want  []string
		total int
	}{
		{"org owner: the org's, a new org name's, her own", StagedFilter{Viewer: alice.ID, Reach: all}, []string{"4", "2", "1"}, 3},
		{"read-write team member and owner", StagedFilter{Viewer: bob.ID, Reach: all}, []string{"3", "2", "1"}, 3},
		{"the stager only", StagedFilter{Viewer: carol.ID, Reach: all}, []string{"3"}, 1},
		{"credential reaching one name", StagedFilter{Viewer: bob.ID, Reach: Reach{Names: []string{"mine"}}}, []string{"3"}, 1},
		{"credential reaching a scope", StagedFilter{Viewer: bob.ID, Reach: Reach{Scopes: []string{"acme"}}}, []string{"2", "1"}, 2},
		{"credential reaching nothing", StagedFilter{Viewer: bob.ID}, nil, 0},
		{"package filter", StagedFilter{Viewer: alice.ID, Reach: all, Package: "@acme/lib"}, []string{"1"}, 1},
		{"actor filter", StagedFilter{Viewer: alice.ID, Reach: all, Actor: alice.ID}, []string{"4"}, 1},
		{"anonymous", StagedFilter{Reach: all}, nil, 0},
	}
	for _, tt := range tests {
		got, total := ids(tt.f, 0, 100)
		if !slices.Equal(got, tt.want) || total != tt.total {
			t.Errorf("%s: %v (total %d), want %v (total %d)", tt.name, got, total, tt.want, tt.total)
		}
	}
	if got, total := ids(StagedFilter{Viewer: alice.ID, Reach: all}, 1, 2); !slices.Equal(got, []string{"1"}) || total != 3 {
		t.Errorf("second page of 2: %v (total %d), want [1] (total 3)", got, total)
	}

	refs, err := q.ReferencedBlobs(ctx, []string{s3.BlobKey, "sha512/st/none"})
	must(t, err)
	if !refs[s3.BlobKey] || refs["sha512/st/none"] {
		t.Errorf("ReferencedBlobs = %v, want the staged tarball only", refs)
	}
	must(t, q.DeleteStaged(ctx, s3.ID))
	wantKind(t, "a deleted staged version", func() error { _, err := q.StagedByID(ctx, s3.ID); return err }(), fault.NotFound)
	wantKind(t, "a second delete", q.DeleteStaged(ctx, s3.ID), fault.NotFound)
	if refs, err := q.ReferencedBlobs(ctx, []string{s3.BlobKey}); err != nil || refs[s3.BlobKey] {
		t.Errorf("a rejected staged version's tarball is still referenced: %v, %v", refs, err)
	}
}

// testAttestations checks a version's provenance: stored, read, absent for
// other versions, and removed with its version.
func testAttestations(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()
	p := mustPackage(t, q, "prov", "", "public")
	must(t, q.InsertVersion(ctx, Version{PackageID: p.ID, Version: "1.0.0", Manifest: []byte("{}"), BlobKey: "sha512/aa/b", PublishedAt: 1}))
	must(t, q.PutAttestation(ctx, p.ID, "1.0.0", Attestation{PredicateType: "https://slsa.dev/provenance/v1", Bundle: []byte(`{"a":1}`)}))
	a, err := q.AttestationOf(ctx, p.ID, "1.0.0")
	must(t, err)
	if a.PredicateType != "https://slsa.dev/provenance/v1" || string(a.Bundle) != `{"a":1}` {
		t.Errorf("AttestationOf = %+v", a)
	}
	_, err = q.AttestationOf(ctx, p.ID, "2.0.0")
	wantKind(t, "a version without provenance", err, fault.NotFound)
	must(t, q.DeleteVersion(ctx, p.ID, "1.0.0"))
	_, err = q.AttestationOf(ctx, p.ID, "1.0.0")
	wantKind(t, "the provenance of a deleted version", err, fault.NotFound)
}
