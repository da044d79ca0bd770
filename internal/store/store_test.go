package store

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestMigrationsMirror checks that every dialect has the same migrations.
func TestMigrationsMirror(t *testing.T) {
	sqlite, postgres := migrationNames(t, "sqlite"), migrationNames(t, "postgres")
	if len(sqlite) == 0 || !slices.Equal(sqlite, postgres) {
		t.Fatalf("migrations differ:\nsqlite   %v\npostgres %v", sqlite, postgres)
	}
}

func TestPostgresRebind(t *testing.T) {
	tests := []struct{ in, want string }{
		{`SELECT 1`, `SELECT 1`},
		{`SELECT a FROM t WHERE b = ? AND c = ?`, `SELECT a FROM t WHERE b = $1 AND c = $2`},
		{`INSERT INTO t (a, b) VALUES (?, ?) RETURNING id`, `INSERT INTO t (a, b) VALUES ($1, $2) RETURNING id`},
		{`WHERE name LIKE ? ESCAPE '\' OR d LIKE ? ESCAPE '\'`, `WHERE name LIKE $1 ESCAPE '\' OR d LIKE $2 ESCAPE '\'`},
		{`SELECT '?', "a?b", ? FROM t WHERE x = 'it''s ?' AND y = ?`, `SELECT '?', "a?b", $1 FROM t WHERE x = 'it''s ?' AND y = $2`},
		{strings.Repeat("?,", 11) + "?", "$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12"},
	}
	for _, tt := range tests {
		if got := (postgresDialect{}).rebind(tt.in); got != tt.want {
			t.Errorf("rebind(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPostgresBindArgs(t *testing.T) {
	in := []any{true, false, "x", int64(3), []byte("b"), nil}
	got := (postgresDialect{}).bindArgs(in)
	want := []any{int64(1), int64(0), "x", int64(3), []byte("b"), nil}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("bindArgs = %v, want %v", got, want)
	}
	if in[0] != true {
		t.Error("bindArgs changed its argument")
	}
	plain := []any{"a", 1}
	if got := (postgresDialect{}).bindArgs(plain); &got[0] != &plain[0] {
		t.Error("bindArgs copied arguments without a bool")
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://gh:s3cret@db.example:5432/gh?sslmode=require", "postgres://gh:xxxxx@db.example:5432/gh?sslmode=require"},
		{"postgresql://gh@db.example/gh", "postgresql://gh@db.example/gh"},
		{"postgres://db.example/gh?user=gh&password=s3cret", "postgres://db.example/gh?password=xxxxx&user=gh"},
		{"postgres://gh:p%40ss@db/gh", "postgres://gh:xxxxx@db/gh"},
		{"postgres://gh:s3cret@db:port/gh", "(unparsable URL)"},
	}
	for _, tt := range tests {
		got := RedactURL(tt.in)
		if got != tt.want || strings.Contains(got, "s3cret") {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
