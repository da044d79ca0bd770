package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestMigrationsAreIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		s, err := OpenSQLite(ctx, path)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		var n int
		if err := s.db.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n < 1 {
			t.Fatalf("no migration recorded")
		}
		var mode string
		if err := s.db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
			t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
		}
		s.Close()
	}
}

func TestUsers(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	q := s.Q()
	u, err := q.CreateUser(ctx, User{Name: "alice", Email: "a@example.com", PasswordHash: "h"})
	if err != nil || u.ID == 0 {
		t.Fatalf("create: %v %+v", err, u)
	}
	if _, err := q.CreateUser(ctx, User{Name: "alice", PasswordHash: "h"}); !fault.Is(err, fault.Conflict) {
		t.Fatalf("duplicate name: got %v, want Conflict", err)
	}
	got, err := q.UserByName(ctx, "alice")
	if err != nil || got.ID != u.ID || got.Email != "a@example.com" {
		t.Fatalf("by name: %+v %v", got, err)
	}
	if _, err := q.UserByName(ctx, "bob"); !fault.Is(err, fault.NotFound) {
		t.Fatalf("missing user: got %v, want NotFound", err)
	}
}

func TestTokens(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	q := s.Q()
	alice, _ := q.CreateUser(ctx, User{Name: "alice", PasswordHash: "h"})
	bob, _ := q.CreateUser(ctx, User{Name: "bob", PasswordHash: "h"})
	tok, err := q.CreateToken(ctx, Token{Key: "k1", Hash: []byte("hash-1"), UserID: alice.ID, Kind: "session",
		Masked: "npm_abcd...wxyz", CreatedAt: 1, ExpiresAt: sql.NullInt64{Int64: 99, Valid: true}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := q.TokenByHash(ctx, []byte("hash-1"))
	if err != nil || got.ID != tok.ID || got.Kind != "session" || got.ExpiresAt.Int64 != 99 || got.CIDR != "[]" {
		t.Fatalf("by hash: %+v %v", got, err)
	}
	if _, err := q.CreateToken(ctx, Token{Key: "k2", Hash: []byte("hash-1"), UserID: alice.ID, Kind: "session", Masked: "x"}); !fault.Is(err, fault.Conflict) {
		t.Fatalf("duplicate hash: %v", err)
	}
	if err := q.RevokeToken(ctx, tok.ID, bob.ID); !fault.Is(err, fault.NotFound) {
		t.Fatalf("revoking another user's token: %v, want NotFound", err)
	}
	if err := q.RevokeToken(ctx, tok.ID, alice.ID); err != nil {
		t.Fatal(err)
	}
	if err := q.RevokeToken(ctx, tok.ID, alice.ID); !fault.Is(err, fault.NotFound) {
		t.Fatalf("second revoke: %v, want NotFound", err)
	}
	got, _ = q.TokenByHash(ctx, []byte("hash-1"))
	if !got.RevokedAt.Valid {
		t.Fatal("token not marked revoked")
	}
	if err := q.TouchToken(ctx, tok.ID, 1234, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	got, _ = q.TokenByHash(ctx, []byte("hash-1"))
	if got.LastUsedAt.Int64 != 1234 || got.LastUsedIP != "127.0.0.1" {
		t.Fatalf("touch not recorded: %+v", got)
	}
}

func TestPackagesInTransaction(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	alice, _ := s.Q().CreateUser(ctx, User{Name: "alice", PasswordHash: "h"})
	bob, _ := s.Q().CreateUser(ctx, User{Name: "bob", PasswordHash: "h"})

	var pkgID int64
	err := s.InTx(ctx, func(q Queries) error {
		p, err := q.CreatePackage(ctx, Package{Name: "@alice/secret", Scope: "alice", Access: "restricted", CreatedAt: 1, ModifiedAt: 1})
		if err != nil {
			return err
		}
		pkgID = p.ID
		if err := q.AddOwner(ctx, p.ID, alice.ID); err != nil {
			return err
		}
		if err := q.InsertVersion(ctx, Version{PackageID: p.ID, Version: "1.0.0", Manifest: []byte(`{}`), BlobKey: "b", Size: 3, PublishedAt: 1}); err != nil {
			return err
		}
		if err := q.MarkPublished(ctx, p.Name, "1.0.0"); err != nil {
			return err
		}
		if err := q.SetDistTag(ctx, p.ID, "latest", "1.0.0"); err != nil {
			return err
		}
		p.Description, p.Keywords, p.Packument, p.Abbreviated, p.Rev = "Top secret", "hidden stuff", []byte(`{"full":1}`), []byte(`{"abbr":1}`), 1
		return q.SavePackage(ctx, p)
	})
	if err != nil {
		t.Fatal(err)
	}
	q := s.Q()
	doc, err := q.PackageDocument(ctx, "@alice/secret", true)
	if err != nil || string(doc.Abbreviated) != `{"abbr":1}` || doc.Rev != 1 {
		t.Fatalf("document: %+v %v", doc, err)
	}
	if ok, _ := q.IsOwner(ctx, pkgID, alice.ID); !ok {
		t.Fatal("alice should own the package")
	}
	if ok, _ := q.IsOwner(ctx, pkgID, bob.ID); ok {
		t.Fatal("bob should not own the package")
	}
	if err := q.MarkPublished(ctx, "@alice/secret", "1.0.0"); !fault.Is(err, fault.Conflict) {
		t.Fatalf("second MarkPublished: %v, want Conflict", err)
	}

	// A failed transaction leaves nothing behind.
	err = s.InTx(ctx, func(q Queries) error {
		if err := q.InsertVersion(ctx, Version{PackageID: pkgID, Version: "2.0.0", Manifest: []byte(`{}`), BlobKey: "c", Size: 1, PublishedAt: 2}); err != nil {
			return err
		}
		return q.InsertVersion(ctx, Version{PackageID: pkgID, Version: "1.0.0", Manifest: []byte(`{}`), BlobKey: "c", Size: 1, PublishedAt: 2})
	})
	if !fault.Is(err, fault.Conflict) {
		t.Fatalf("duplicate version: %v, want Conflict", err)
	}
	if _, err := q.VersionOf(ctx, pkgID, "2.0.0"); !fault.Is(err, fault.NotFound) {
		t.Fatalf("rolled-back version is visible: %v", err)
	}

	// Search: restricted packages only for their owners.
	tests := []struct {
		viewer int64
		words  []string
		want   int
	}{
		{alice.ID, []string{"secret"}, 1},
		{alice.ID, []string{"HIDDEN"}, 1},
		{alice.ID, []string{"top", "stuff"}, 1},
		{alice.ID, []string{"nothing"}, 0},
		{bob.ID, []string{"secret"}, 0},
		{0, []string{"secret"}, 0},
		{alice.ID, []string{"%"}, 0},
	}
	for _, tt := range tests {
		res, total, err := q.Search(ctx, tt.words, tt.viewer, 0, 10)
		if err != nil || total != tt.want || len(res) != tt.want {
			t.Errorf("Search(%v, viewer %d) = %d results, total %d, %v; want %d", tt.words, tt.viewer, len(res), total, err, tt.want)
		}
		if tt.want == 1 && res[0].Version != "1.0.0" {
			t.Errorf("latest version in result = %q", res[0].Version)
		}
	}

	// Deleting the package keeps the record that 1.0.0 was published.
	if err := q.DeletePackage(ctx, pkgID); err != nil {
		t.Fatal(err)
	}
	if _, err := q.PackageByName(ctx, "@alice/secret"); !fault.Is(err, fault.NotFound) {
		t.Fatalf("deleted package still there: %v", err)
	}
	if used, _ := q.WasPublished(ctx, "@alice/secret", "1.0.0"); !used {
		t.Fatal("published_versions lost after delete")
	}
	if vs, _ := q.Versions(ctx, pkgID); len(vs) != 0 {
		t.Fatalf("versions survived package delete: %d", len(vs))
	}
}
