package store

import "testing"

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
