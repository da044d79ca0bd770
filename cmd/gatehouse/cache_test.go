package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// TestCacheCommand: gatehouse cache ls lists what is cached from uplinks,
// purge removes one package and refuses a local name, prune removes what
// was not fetched for longer than asked and never a local name.
func TestCacheCommand(t *testing.T) {
	dir := t.TempDir()
	st, err := store.OpenSQLite(t.Context(), filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	q := st.Q()
	now := time.Now().UnixMilli()
	old := time.Now().Add(-40 * 24 * time.Hour).UnixMilli()
	seed := []struct {
		name    string
		fetched int64
	}{{"express", now}, {"left-pad", old}, {"@acme/x", old}, {"lodash", old}}
	for _, s := range seed {
		if err := q.SaveUplinkDocument(t.Context(), store.UplinkDocument{Name: s.name, Kind: store.DocumentFull, Uplink: "npmjs",
			Body: []byte(`{}`), FetchedAt: s.fetched, ChangedAt: s.fetched}); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.SaveUplinkTarball(t.Context(), store.UplinkTarball{Name: "express", Version: "4.18.2", Uplink: "npmjs",
		BlobKey: "k", Size: 2048, FetchedAt: now}); err != nil {
		t.Fatal(err)
	}
	// @acme/x was cached before acme became a local user.
	if _, err := q.CreateUser(t.Context(), store.User{Name: "acme", Email: "acme@example.com"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	gatehouse := func(args ...string) (string, int) {
		t.Helper()
		var out, errs bytes.Buffer
		code := run(append(args, "--data", dir), strings.NewReader(""), &out, &errs)
		return out.String() + errs.String(), code
	}
	out, code := gatehouse("cache", "ls")
	if code != 0 || !strings.Contains(out, "express\tuplink npmjs\t1 tarballs\t2.0 KiB") || !strings.Contains(out, "4 cached packages") {
		t.Errorf("cache ls: %d\n%s", code, out)
	}
	tests := []struct {
		args     []string
		code     int
		says     string
		cachedAt []string // what is cached afterwards
	}{
		{[]string{"cache", "purge", "@acme/x"}, 1, "a local name", []string{"@acme/x", "express", "left-pad", "lodash"}},
		{[]string{"cache", "purge", "not-cached"}, 1, "nothing of not-cached is cached", []string{"@acme/x", "express", "left-pad", "lodash"}},
		{[]string{"cache", "purge", "../x"}, 1, "", []string{"@acme/x", "express", "left-pad", "lodash"}},
		{[]string{"cache", "prune", "--older-than", "soon"}, 1, "want a duration", []string{"@acme/x", "express", "left-pad", "lodash"}},
		{[]string{"cache", "prune", "--older-than", "30d", "--dry-run"}, 0, "would purge 3 of 4", []string{"@acme/x", "express", "left-pad", "lodash"}},
		{[]string{"cache", "purge", "lodash"}, 0, "purged lodash", []string{"@acme/x", "express", "left-pad"}},
		{[]string{"cache", "prune", "--older-than", "30d"}, 0, "kept @acme/x: a local name", []string{"@acme/x", "express"}},
	}
	for _, tt := range tests {
		out, code := gatehouse(tt.args...)
		if code != tt.code || !strings.Contains(out, tt.says) {
			t.Errorf("%v: %d, want %d saying %q\n%s", tt.args, code, tt.code, tt.says, out)
		}
		out, _ = gatehouse("cache", "ls")
		var names []string
		for _, line := range strings.Split(out, "\n") {
			if name, _, ok := strings.Cut(line, "\t"); ok {
				names = append(names, name)
			}
		}
		if strings.Join(names, " ") != strings.Join(tt.cachedAt, " ") {
			t.Errorf("after %v: cached %v, want %v", tt.args, names, tt.cachedAt)
		}
	}
}
