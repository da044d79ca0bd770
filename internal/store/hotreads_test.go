package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// testHotReadPlans: the reads a document-cache miss makes are answered
// from the covering indexes of migration 0031, never by a scan: on SQLite
// a package by name from packages_meta alone (not the packages row,
// which holds the full packument) and a version's file from
// versions_file alone (not the row, which holds its manifest); on
// PostgreSQL the version's file from versions_file.
func testHotReadPlans(t *testing.T, b backend) {
	s := b.store(t)
	tests := []struct {
		name     string
		query    hintedQuery
		args     []any
		sqlite   []string
		postgres []string
	}{
		{"package by name", packageByNameQuery, []any{"a"},
			[]string{"SEARCH packages USING COVERING INDEX packages_meta (name=?)"}, nil},
		{"abbreviated document", abbreviatedQuery, []any{"a"},
			[]string{"SEARCH p USING COVERING INDEX packages_meta (name=?)", "SEARCH a USING INTEGER PRIMARY KEY (rowid=?)"}, nil},
		{"version's file", versionFileQuery, []any{"1.0.0", "a"},
			[]string{"SEARCH p USING COVERING INDEX packages_meta (name=?)",
				"SEARCH v USING COVERING INDEX versions_file (package_id=? AND version=?)"},
			[]string{"Index Only Scan using versions_file on versions v"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkPlan(t, s, tt.query.of(s.d), tt.args, tt.sqlite, tt.postgres)
		})
	}
}

// TestHinted: each {{index}} becomes SQLite's INDEXED BY and nothing on
// PostgreSQL.
func TestHinted(t *testing.T) {
	tests := []struct{ in, sqlite, postgres string }{
		{"SELECT 1", "SELECT 1", "SELECT 1"},
		{"SELECT a FROM t{{t_a}} WHERE a = ?", "SELECT a FROM t INDEXED BY t_a WHERE a = ?", "SELECT a FROM t WHERE a = ?"},
		{"SELECT * FROM t{{i}} JOIN u{{j}} ON u.x = t.x", "SELECT * FROM t INDEXED BY i JOIN u INDEXED BY j ON u.x = t.x",
			"SELECT * FROM t JOIN u ON u.x = t.x"},
	}
	for _, tt := range tests {
		h := hinted(tt.in)
		if h.sqlite != tt.sqlite || h.postgres != tt.postgres {
			t.Errorf("hinted(%q) = %q, %q; want %q, %q", tt.in, h.sqlite, h.postgres, tt.sqlite, tt.postgres)
		}
	}
}

// testPointReads: the hot reads of one row (a document cache's miss, a
// token not yet cached) run on SQLite on a pool of their own, with a
// context that cannot be cancelled, so that database/sql sets no watcher
// going for them (Queries.point): a cancelled context still reads the row,
// a read is answered while every connection of the main pool is held (by
// writers queueing for the lock, say), and the pool writes nothing. On
// PostgreSQL a cancelled context ends them, and in a transaction so does
// the statement's context on both.
func testPointReads(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()
	alice := mustUser(t, q, "alice")
	p, err := q.CreatePackage(ctx, Package{Name: "point", Access: Public, Rev: 1, CreatedAt: 1, ModifiedAt: 1,
		Packument: []byte(`{"full":1}`), Abbreviated: []byte(`{"abbr":1}`)})
	must(t, err)
	must(t, q.InsertVersion(ctx, Version{PackageID: p.ID, Version: "1.0.0", BlobKey: "k", Size: 3, Manifest: []byte("{}"), PublishedAt: 1}))
	tok, err := q.CreateToken(ctx, Token{Key: "pk", Hash: []byte("point-hash"), UserID: alice.ID, Kind: "publish", Masked: "m", CreatedAt: 1})
	must(t, err)

	// document reads point's abbreviated or full document, which must be want.
	document := func(abbreviated bool, want string) func(ctx context.Context, q Queries) error {
		return func(ctx context.Context, q Queries) error {
			var got string
			err := q.PackageDocumentFunc(ctx, "point", abbreviated, func(_ Package, doc []byte) { got = string(doc) })
			if err == nil && got != want {
				return fmt.Errorf("read %q, want %q", got, want)
			}
			return err
		}
	}
	reads := []struct {
		name string
		read func(ctx context.Context, q Queries) error
	}{
		{"abbreviated document", document(true, `{"abbr":1}`)},
		{"full document", document(false, `{"full":1}`)},
		{"package by name", func(ctx context.Context, q Queries) error {
			got, err := q.PackageByName(ctx, "point")
			if err == nil && got.ID != p.ID {
				return fmt.Errorf("read package %d, want %d", got.ID, p.ID)
			}
			return err
		}},
		{"version's file", func(ctx context.Context, q Queries) error {
			_, v, found, err := q.PackageVersionFile(ctx, "point", "1.0.0")
			if err == nil && (!found || v.BlobKey != "k") {
				return fmt.Errorf("read %+v, found %v", v, found)
			}
			return err
		}},
		{"token and its user", func(ctx context.Context, q Queries) error {
			got, u, err := q.TokenUserByHash(ctx, []byte("point-hash"))
			if err == nil && (got.ID != tok.ID || u.ID != alice.ID) {
				return fmt.Errorf("read token %d of %d", got.ID, u.ID)
			}
			return err
		}},
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for _, r := range reads {
		t.Run(r.name, func(t *testing.T) {
			must(t, r.read(ctx, q))
			err := r.read(cancelled, q)
			switch b.name {
			case "sqlite":
				if err != nil {
					t.Errorf("with a cancelled context: %v, want the row", err)
				}
			default:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("with a cancelled context: %v, want %v", err, context.Canceled)
				}
			}
			err = s.InTx(ctx, func(q Queries) error { return r.read(cancelled, q) })
			if !errors.Is(err, context.Canceled) {
				t.Errorf("in a transaction, with a cancelled context: %v, want %v", err, context.Canceled)
			}
		})
	}
	if b.name == "sqlite" {
		if _, err := s.reads.ExecContext(ctx, `UPDATE packages SET rev = rev + 1`); err == nil {
			t.Error("the point reads' pool wrote")
		}
		// Every connection of the main pool held, as writers waiting for
		// the lock hold theirs: the point reads do not wait for them.
		for range 8 {
			c, err := s.db.Conn(ctx)
			must(t, err)
			t.Cleanup(func() { _ = c.Close() })
		}
		held, stop := context.WithTimeout(ctx, 100*time.Millisecond)
		_, err := s.db.QueryContext(held, `SELECT 1`)
		stop()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("with the main pool held, a query on it: %v, want it to wait", err)
		}
		done := make(chan error, 1)
		go func() {
			var errs []error
			for _, r := range reads {
				if err := r.read(ctx, q); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", r.name, err))
				}
			}
			done <- errors.Join(errs...)
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("with the main pool held: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("with the main pool held, the point reads waited for it")
		}
	}
}
