package store

import (
	"slices"
	"testing"
)

// testPackageNames: PackageNames pages through every package's name, each
// once, in the order the database sorts them, whatever the names hold
// (scopes, capitals of legacy names, dots, dashes), and a page of a name
// past the last is empty. The scan reads the index on name, never the
// table.
func testPackageNames(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()
	names := []string{"zz", "a", "a-b", "a.b", "@scope/x", "@scope/a", "JSONStream", "jsonstream", "b", "@other/z", "a_b"}
	for _, n := range names {
		mustPackage(t, q, n, "", Public)
	}
	for _, limit := range []int{1, 2, 3, len(names), len(names) + 5} {
		var got []string
		after := ""
		for pages := 0; ; pages++ {
			if pages > len(names)+1 {
				t.Fatalf("limit %d: more pages than names: %q", limit, got)
			}
			page, err := q.PackageNames(ctx, after, limit)
			must(t, err)
			if len(page) > limit {
				t.Fatalf("limit %d: a page of %d names: %q", limit, len(page), page)
			}
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			after = page[len(page)-1]
		}
		if len(got) != len(names) {
			t.Fatalf("limit %d: %d names, want %d: %q", limit, len(got), len(names), got)
		}
		// Byte order: names are compared byte by byte on both databases
		// (SQLite's BINARY collation, PostgreSQL's "C" on this column).
		want := slices.Clone(names)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("limit %d: names %q, want %q in order", limit, got, want)
		}
	}
	all, err := q.PackageNames(ctx, "", 100)
	must(t, err)
	last := all[len(all)-1]
	if page, err := q.PackageNames(ctx, last, 10); err != nil || len(page) != 0 {
		t.Fatalf("the page after the last name: %q %v", page, err)
	}
	checkPlan(t, s, packageNamesQuery, []any{"", 10},
		[]string{"SEARCH packages USING COVERING INDEX sqlite_autoindex_packages_1 (name>?)"},
		[]string{"Index Only Scan using packages_name_key on packages"})
}
