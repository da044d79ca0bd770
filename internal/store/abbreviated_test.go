package store

import (
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// testAbbreviatedApart checks that the abbreviated document lives in its
// own table: written by CreatePackage and SavePackage, read by
// PackageDocument, gone with its package, and filled by migration 0030
// from the packages column an older gatehouse kept it in.
func testAbbreviatedApart(t *testing.T, b backend) {
	where := b.newDatabase(t)
	s, err := b.open(t.Context(), where)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	q := s.Q()

	created, err := q.CreatePackage(ctx, Package{Name: "made", Access: Public, Rev: 1,
		Packument: []byte(`{"made":"full"}`), Abbreviated: []byte(`{"made":"abbr"}`)})
	must(t, err)
	if got, err := q.PackageDocument(ctx, "made", true); err != nil || string(got.Abbreviated) != `{"made":"abbr"}` {
		t.Fatalf("abbreviated after CreatePackage: %q %v", got.Abbreviated, err)
	}
	empty := mustPackage(t, q, "empty", "", Public)
	if got, err := q.PackageDocument(ctx, "empty", true); err != nil || len(got.Abbreviated) != 0 || got.ID != empty.ID {
		t.Fatalf("abbreviated of a package created without documents: %+v %v", got, err)
	}
	created.Packument, created.Abbreviated, created.Rev = []byte(`{"v":2}`), []byte(`{"a":2}`), 2
	must(t, q.SavePackage(ctx, created))
	if got, err := q.PackageDocument(ctx, "made", true); err != nil || string(got.Abbreviated) != `{"a":2}` || got.Rev != 2 {
		t.Fatalf("abbreviated after SavePackage: %+v %v", got, err)
	}
	if got, err := q.PackageDocument(ctx, "made", false); err != nil || string(got.Packument) != `{"v":2}` {
		t.Fatalf("full after SavePackage: %+v %v", got, err)
	}
	// PackageDocument's bytes are its own: reads after it leave them as
	// they were (the driver's buffer, which PackageDocumentFunc passes on,
	// is reused by later reads on PostgreSQL).
	kept, err := q.PackageDocument(ctx, "made", false)
	must(t, err)
	var seen []string
	for range 3 {
		must(t, q.PackageDocumentFunc(ctx, "made", true, func(p Package, doc []byte) {
			seen = append(seen, p.Name+" "+string(doc))
		}))
	}
	if string(kept.Packument) != `{"v":2}` || len(seen) != 3 || seen[2] != `made {"a":2}` {
		t.Fatalf("after more reads: kept %q, seen %q", kept.Packument, seen)
	}
	err = q.PackageDocumentFunc(ctx, "nothing", true, func(Package, []byte) { t.Error("use called for a missing package") })
	wantKind(t, "missing package's document", err, fault.NotFound)

	must(t, q.DeletePackage(ctx, empty.ID))
	var n int
	must(t, s.db.QueryRowContext(ctx, s.d.rebind(`SELECT COUNT(*) FROM package_abbreviated WHERE package_id = ?`), empty.ID).Scan(&n))
	if n != 0 {
		t.Fatalf("%d abbreviated rows left for a deleted package", n)
	}
	_, err = q.PackageDocument(ctx, "empty", true)
	wantKind(t, "deleted package's abbreviated document", err, fault.NotFound)

	// Back to the schema before 0030, as a database of an older gatehouse,
	// with a package written there.
	s = b.downgrade(t, s, where,
		`ALTER TABLE packages ADD COLUMN abbreviated `+map[string]string{"sqlite": "BLOB", "postgres": "BYTEA"}[b.name]+` NOT NULL DEFAULT ''`,
		`UPDATE packages SET abbreviated = `+map[string]string{"sqlite": `CAST('{"made":"old"}' AS BLOB)`, "postgres": `convert_to('{"made":"old"}', 'UTF8')`}[b.name],
		`DROP TABLE package_abbreviated`,
		`DELETE FROM schema_migrations WHERE version = 30`)
	got, err := s.Q().PackageDocument(ctx, "made", true)
	if err != nil || string(got.Abbreviated) != `{"made":"old"}` || got.ID != created.ID || got.Rev != 2 {
		t.Fatalf("abbreviated after migration: %+v %v", got, err)
	}
	if got, err := s.Q().PackageDocument(ctx, "made", false); err != nil || string(got.Packument) != `{"v":2}` {
		t.Fatalf("full after migration: %+v %v", got, err)
	}
}
