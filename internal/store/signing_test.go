package store

import (
	"database/sql"
	"reflect"
	"slices"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

func testSigning(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()

	_, err := q.SigningKeyInUse(ctx)
	wantKind(t, "no key yet", err, fault.NotFound)
	keys, err := q.SigningKeys(ctx)
	if err != nil || len(keys) != 0 {
		t.Fatalf("keys of a new database: %v %v", keys, err)
	}

	first := SigningKey{KeyID: "SHA256:first", PublicKey: []byte{1, 2}, SealedPrivateKey: []byte{3, 4}, CreatedAt: 10}
	must(t, q.InsertSigningKey(ctx, first))
	got, err := q.SigningKeyInUse(ctx)
	if err != nil || !reflect.DeepEqual(got, first) {
		t.Fatalf("in use: %+v %v", got, err)
	}
	// A second key in use, or a key id twice, is refused.
	err = q.InsertSigningKey(ctx, SigningKey{KeyID: "SHA256:second", PublicKey: []byte{5}, SealedPrivateKey: []byte{6}, CreatedAt: 20})
	wantKind(t, "two keys in use", err, fault.Conflict)
	err = q.InsertSigningKey(ctx, SigningKey{KeyID: "SHA256:first", PublicKey: []byte{5}, SealedPrivateKey: []byte{6}, CreatedAt: 20,
		ExpiresAt: sql.NullInt64{Int64: 30, Valid: true}})
	wantKind(t, "a key id twice", err, fault.Conflict)

	// LastSignedAt only grows.
	must(t, q.NoteSigned(ctx, first.KeyID, 50))
	must(t, q.NoteSigned(ctx, first.KeyID, 40))
	got, _ = q.SigningKeyByID(ctx, first.KeyID)
	if got.LastSignedAt != 50 {
		t.Errorf("last signed %d, want 50", got.LastSignedAt)
	}

	must(t, q.ExpireSigningKey(ctx, first.KeyID, 60))
	wantKind(t, "expire an expired key", q.ExpireSigningKey(ctx, first.KeyID, 70), fault.NotFound)
	wantKind(t, "expire an unknown key", q.ExpireSigningKey(ctx, "SHA256:none", 70), fault.NotFound)
	_, err = q.SigningKeyInUse(ctx)
	wantKind(t, "no key in use after expiry", err, fault.NotFound)
	second := SigningKey{KeyID: "SHA256:second", PublicKey: []byte{5}, SealedPrivateKey: []byte{6}, CreatedAt: 10}
	must(t, q.InsertSigningKey(ctx, second))
	_, err = q.SigningKeyByID(ctx, "SHA256:none")
	wantKind(t, "unknown key", err, fault.NotFound)

	keys, err = q.SigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range keys {
		ids = append(ids, k.KeyID)
	}
	// Made at the same time: the expired one first, the one in use last.
	if !slices.Equal(ids, []string{"SHA256:first", "SHA256:second"}) || !keys[0].ExpiresAt.Valid ||
		keys[0].ExpiresAt.Int64 != 60 || keys[1].ExpiresAt.Valid {
		t.Fatalf("keys %+v", keys)
	}
}

func testSigningBacklog(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()
	a := mustPackage(t, q, "a", "", Public)
	bb := mustPackage(t, q, "b", "", Public)
	c := mustPackage(t, q, "c", "", Public)
	for _, p := range []Package{c, a, bb, a} {
		must(t, q.AddSigningBacklog(ctx, p.ID))
	}
	if n, err := q.SigningBacklogSize(ctx); err != nil || n != 3 {
		t.Fatalf("size %d %v, want 3", n, err)
	}
	page, err := q.SigningBacklog(ctx, 0, 2)
	if err != nil || len(page) != 2 || page[0] != (BacklogEntry{a.ID, "a"}) || page[1] != (BacklogEntry{bb.ID, "b"}) {
		t.Fatalf("first page %+v %v", page, err)
	}
	page, err = q.SigningBacklog(ctx, page[1].ID, 2)
	if err != nil || len(page) != 1 || page[0] != (BacklogEntry{c.ID, "c"}) {
		t.Fatalf("second page %+v %v", page, err)
	}
	took, err := q.TakeSigningBacklog(ctx, a.ID)
	if err != nil || !took {
		t.Fatalf("take a: %v %v", took, err)
	}
	took, err = q.TakeSigningBacklog(ctx, a.ID)
	if err != nil || took {
		t.Fatalf("take a again: %v %v", took, err)
	}
	// A package deleted leaves the backlog with it.
	must(t, q.DeletePackage(ctx, c.ID))
	page, err = q.SigningBacklog(ctx, 0, 10)
	if err != nil || len(page) != 1 || page[0].Name != "b" {
		t.Fatalf("after take and delete: %+v %v", page, err)
	}
}

// testSigningMigration: migration 0019 puts every package that exists when
// it runs on the signing backlog (they were published unsigned).
func testSigningMigration(t *testing.T, b backend) {
	where := b.newDatabase(t)
	s, err := b.open(t.Context(), where)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	q := s.Q()
	old1 := mustPackage(t, q, "old-one", "", Public)
	old2 := mustPackage(t, q, "@x/old-two", "x", Restricted)
	// Back to the schema before 0019, as a database of an older gatehouse.
	s = b.downgrade(t, s, where, `DROP TABLE signing_backlog`, `DROP TABLE signing_keys`,
		`DELETE FROM schema_migrations WHERE version = 19`)
	page, err := s.Q().SigningBacklog(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []BacklogEntry{{old1.ID, old1.Name}, {old2.ID, old2.Name}}
	if !reflect.DeepEqual(page, want) {
		t.Fatalf("backlog after migration %+v, want %+v", page, want)
	}
}
