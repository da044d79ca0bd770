package store

import (
	"bytes"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// testUplinks covers what is cached of packages served from an uplink: a
// packument of each kind stored, revalidated and replaced; tarball records;
// forgetting a package; and which names are local, so never fetched.
func testUplinks(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()

	_, err := q.UplinkDocument(ctx, "express", DocumentAbbreviated)
	wantKind(t, "a packument never cached", err, fault.NotFound)
	_, err = q.CachedUplinkOf(ctx, "express")
	wantKind(t, "the uplink of a package never cached", err, fault.NotFound)

	abbr := UplinkDocument{Name: "express", Kind: DocumentAbbreviated, Uplink: "npmjs", Body: []byte(`{"name":"express"}`),
		ETag: `"e1"`, LastModified: "Mon, 02 Jan 2006 15:04:05 GMT", FetchedAt: 100, ChangedAt: 90}
	must(t, q.SaveUplinkDocument(ctx, abbr))
	full := UplinkDocument{Name: "express", Kind: DocumentFull, Uplink: "npmjs", Body: []byte(`{"name":"express","readme":""}`),
		FetchedAt: 100, ChangedAt: 100}
	must(t, q.SaveUplinkDocument(ctx, full))
	got, err := q.UplinkDocument(ctx, "express", DocumentAbbreviated)
	must(t, err)
	if !bytes.Equal(got.Body, abbr.Body) || got.ETag != abbr.ETag || got.LastModified != abbr.LastModified ||
		got.FetchedAt != 100 || got.ChangedAt != 90 || got.Uplink != "npmjs" {
		t.Fatalf("cached abbreviated packument = %+v, want %+v", got, abbr)
	}
	if got, err := q.UplinkDocument(ctx, "express", DocumentFull); err != nil || string(got.Body) != string(full.Body) || got.ETag != "" {
		t.Fatalf("cached full packument = %+v, %v", got, err)
	}
	if up, err := q.CachedUplinkOf(ctx, "express"); err != nil || up != "npmjs" {
		t.Fatalf("CachedUplinkOf = %q, %v", up, err)
	}

	// A 304 moves fetched_at and keeps a validator it does not replace.
	must(t, q.TouchUplinkDocument(ctx, "express", DocumentAbbreviated, 200, "", ""))
	got, _ = q.UplinkDocument(ctx, "express", DocumentAbbreviated)
	if got.FetchedAt != 200 || got.ETag != `"e1"` || got.LastModified != abbr.LastModified || got.ChangedAt != 90 {
		t.Fatalf("after a 304 without validators: %+v", got)
	}
	must(t, q.TouchUplinkDocument(ctx, "express", DocumentAbbreviated, 300, `"e2"`, "Tue, 03 Jan 2006 15:04:05 GMT"))
	got, _ = q.UplinkDocument(ctx, "express", DocumentAbbreviated)
	if got.FetchedAt != 300 || got.ETag != `"e2"` || got.LastModified != "Tue, 03 Jan 2006 15:04:05 GMT" {
		t.Fatalf("after a 304 with new validators: %+v", got)
	}
	// A new body replaces the old one whole.
	must(t, q.SaveUplinkDocument(ctx, UplinkDocument{Name: "express", Kind: DocumentAbbreviated, Uplink: "other",
		Body: []byte(`{"name":"express","versions":{}}`), FetchedAt: 400, ChangedAt: 400}))
	got, _ = q.UplinkDocument(ctx, "express", DocumentAbbreviated)
	if string(got.Body) != `{"name":"express","versions":{}}` || got.ETag != "" || got.Uplink != "other" || got.ChangedAt != 400 {
		t.Fatalf("after a new body: %+v", got)
	}

	_, err = q.UplinkTarball(ctx, "express", "4.18.2")
	wantKind(t, "a tarball never cached", err, fault.NotFound)
	tgz := UplinkTarball{Name: "express", Version: "4.18.2", Uplink: "npmjs", BlobKey: "sha512/ab/cdef", Size: 123,
		PublishedAt: 1000, FetchedAt: 2000}
	must(t, q.SaveUplinkTarball(ctx, tgz))
	must(t, q.SaveUplinkTarball(ctx, tgz)) // a second node's fetch of the same tarball
	if got, err := q.UplinkTarball(ctx, "express", "4.18.2"); err != nil || got != tgz {
		t.Fatalf("cached tarball = %+v, %v; want %+v", got, err, tgz)
	}
	// gc keeps a cached tarball's blob.
	if refs, err := q.ReferencedBlobs(ctx, []string{"sha512/ab/cdef", "sha512/ab/none"}); err != nil ||
		!refs["sha512/ab/cdef"] || refs["sha512/ab/none"] {
		t.Fatalf("ReferencedBlobs with a cached tarball = %v, %v", refs, err)
	}
	must(t, q.SaveUplinkTarball(ctx, UplinkTarball{Name: "express", Version: "4.18.3", Uplink: "npmjs",
		BlobKey: "sha512/ab/0000", Size: 1, FetchedAt: 1}))
	must(t, q.DeleteUplinkTarball(ctx, "express", "4.18.3"))
	_, err = q.UplinkTarball(ctx, "express", "4.18.3")
	wantKind(t, "a deleted tarball record", err, fault.NotFound)

	// Another package's cache is untouched by forgetting express.
	must(t, q.SaveUplinkDocument(ctx, UplinkDocument{Name: "@types/node", Kind: DocumentAbbreviated, Uplink: "npmjs",
		Body: []byte(`{}`), FetchedAt: 1, ChangedAt: 1}))
	must(t, q.ForgetUplinkPackage(ctx, "express"))
	for _, kind := range []string{DocumentFull, DocumentAbbreviated} {
		_, err = q.UplinkDocument(ctx, "express", kind)
		wantKind(t, "a forgotten packument", err, fault.NotFound)
	}
	_, err = q.UplinkTarball(ctx, "express", "4.18.2")
	wantKind(t, "a forgotten package's tarball", err, fault.NotFound)
	if _, err := q.UplinkDocument(ctx, "@types/node", DocumentAbbreviated); err != nil {
		t.Fatalf("another package's packument went too: %v", err)
	}
	must(t, q.DeleteUplinkDocuments(ctx, "@types/node"))
	_, err = q.UplinkDocument(ctx, "@types/node", DocumentAbbreviated)
	wantKind(t, "deleted packuments", err, fault.NotFound)

	// Local names: a package, a name published once (even if unpublished
	// since), a user's scope, an organization's scope.
	mustUser(t, q, "alice")
	_, err = q.CreateOrg(ctx, "acme")
	must(t, err)
	mustPackage(t, q, "internal-tool", "", "public")
	must(t, q.MarkPublished(ctx, "gone-tool", "1.0.0"))
	tests := []struct {
		name, scope string
		local       bool
	}{
		{"internal-tool", "", true},
		{"gone-tool", "", true},
		{"@alice/anything", "alice", true},
		{"@acme/x", "acme", true},
		{"express", "", false},
		{"@types/node", "types", false},
		{"alice", "", false}, // a user's name is their scope, not an unscoped package
		{"acme", "", false},
		{"internal-tool2", "", false},
	}
	for _, tt := range tests {
		got, err := q.IsLocalName(ctx, tt.name, tt.scope)
		if err != nil || got != tt.local {
			t.Errorf("IsLocalName(%q, %q) = %v, %v; want %v", tt.name, tt.scope, got, err, tt.local)
		}
	}
}

// testCachedPackages covers the listing `gatehouse cache ls` prints: one
// row per package cached from an uplink, with its tarballs' count and
// size and its latest fetch.
func testCachedPackages(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()
	if got, err := q.CachedPackages(ctx); err != nil || len(got) != 0 {
		t.Fatalf("nothing cached: %v, %v", got, err)
	}
	must(t, q.SaveUplinkDocument(ctx, UplinkDocument{Name: "express", Kind: DocumentFull, Uplink: "npmjs", Body: []byte(`{}`), FetchedAt: 100, ChangedAt: 100}))
	must(t, q.SaveUplinkDocument(ctx, UplinkDocument{Name: "express", Kind: DocumentAbbreviated, Uplink: "npmjs", Body: []byte(`{}`), FetchedAt: 150, ChangedAt: 150}))
	must(t, q.SaveUplinkTarball(ctx, UplinkTarball{Name: "express", Version: "4.18.2", Uplink: "npmjs", BlobKey: "k1", Size: 1000, FetchedAt: 120}))
	must(t, q.SaveUplinkTarball(ctx, UplinkTarball{Name: "express", Version: "4.18.3", Uplink: "npmjs", BlobKey: "k2", Size: 24, FetchedAt: 300}))
	must(t, q.SaveUplinkDocument(ctx, UplinkDocument{Name: "@types/node", Kind: DocumentFull, Uplink: "corp", Body: []byte(`{}`), FetchedAt: 50, ChangedAt: 50}))
	got, err := q.CachedPackages(ctx)
	must(t, err)
	want := []CachedPackage{
		{Name: "@types/node", Uplink: "corp", FetchedAt: 50},
		{Name: "express", Uplink: "npmjs", Tarballs: 2, Bytes: 1024, FetchedAt: 300},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("CachedPackages = %+v, want %+v", got, want)
	}
	must(t, q.ForgetUplinkPackage(ctx, "express"))
	if got, err := q.CachedPackages(ctx); err != nil || len(got) != 1 || got[0].Name != "@types/node" {
		t.Fatalf("after forgetting express: %+v, %v", got, err)
	}
}

// testPurgeCachedPackage: a purge forgets a cached package (its records;
// what other nodes hear is tested in internal/server); a local name is refused, and a name not cached is not
// found, both leaving everything as it was.
func testPurgeCachedPackage(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()
	must(t, q.SaveUplinkDocument(ctx, UplinkDocument{Name: "express", Kind: DocumentFull, Uplink: "npmjs", Body: []byte(`{}`), FetchedAt: 1, ChangedAt: 1}))
	must(t, q.SaveUplinkTarball(ctx, UplinkTarball{Name: "express", Version: "1.0.0", Uplink: "npmjs", BlobKey: "k", Size: 1, FetchedAt: 1}))
	if _, err := q.CreateUser(ctx, User{Name: "acme", Email: "acme@example.com"}); err != nil {
		t.Fatal(err)
	}
	// A cached copy under a name that has since become local (the scope's
	// user was created): never purged as a cache.
	must(t, q.SaveUplinkDocument(ctx, UplinkDocument{Name: "@acme/x", Kind: DocumentFull, Uplink: "npmjs", Body: []byte(`{}`), FetchedAt: 1, ChangedAt: 1}))

	wantKind(t, "purging a local name", s.PurgeCachedPackage(ctx, "@acme/x", "acme"), fault.Invalid)
	wantKind(t, "purging a name not cached", s.PurgeCachedPackage(ctx, "left-pad", ""), fault.NotFound)
	if got, _ := q.CachedPackages(ctx); len(got) != 2 {
		t.Fatalf("refused purges changed the cache: %+v", got)
	}
	if refs, err := q.ReferencedBlobs(ctx, []string{"k"}); err != nil || !refs["k"] {
		t.Fatalf("a cached tarball's blob is not referenced (gc would remove it): %v, %v", refs, err)
	}
	must(t, s.PurgeCachedPackage(ctx, "express", ""))
	// Its blob is collectable now.
	if refs, err := q.ReferencedBlobs(ctx, []string{"k"}); err != nil || refs["k"] {
		t.Fatalf("a purged tarball's blob is still referenced: %v, %v", refs, err)
	}
	if got, _ := q.CachedPackages(ctx); len(got) != 1 || got[0].Name != "@acme/x" {
		t.Fatalf("after purging express: %+v", got)
	}
	if _, err := q.UplinkTarball(ctx, "express", "1.0.0"); !fault.Is(err, fault.NotFound) {
		t.Fatalf("express's tarball record after the purge: %v", err)
	}
}
