package main

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/server"
	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/gatehouse-registry/gatehouse/internal/store/pgtest"
)

// TestScaleCacheKey checks that every seeding parameter, the seed's format
// and the schema each change the key's ID, and that the same key gives the
// same ID.
func TestScaleCacheKey(t *testing.T) {
	base := NewScaleCacheKey(smallScale(), "sqlite", "schema-a")
	if base.ID() != NewScaleCacheKey(smallScale(), "sqlite", "schema-a").ID() {
		t.Fatal("the same key gave two IDs")
	}
	if !strings.HasPrefix(base.ID(), "sqlite-50p-200t-") {
		t.Errorf("ID %s does not start with the store and sizes", base.ID())
	}
	cases := []struct {
		name   string
		mutate func(*ScaleCacheKey)
	}{
		{"format", func(k *ScaleCacheKey) { k.Format++ }},
		{"store", func(k *ScaleCacheKey) { k.Store = "postgres" }},
		{"schema", func(k *ScaleCacheKey) { k.Schema = "schema-b" }},
		{"prefix", func(k *ScaleCacheKey) { k.Prefix = "other" }},
		{"packages", func(k *ScaleCacheKey) { k.Packages++ }},
		{"versions", func(k *ScaleCacheKey) { k.Versions++ }},
		{"users", func(k *ScaleCacheKey) { k.Users++ }},
		{"tokens", func(k *ScaleCacheKey) { k.Tokens++ }},
		{"tarballs", func(k *ScaleCacheKey) { k.Tarballs++ }},
		{"readme bytes", func(k *ScaleCacheKey) { k.ReadmeBytes++ }},
		{"sample", func(k *ScaleCacheKey) { k.Sample++ }},
		{"cold", func(k *ScaleCacheKey) { k.Cold++ }},
		{"batch", func(k *ScaleCacheKey) { k.Batch++ }},
		{"token prefix", func(k *ScaleCacheKey) { k.TokenPrefix = "gh_" }},
	}
	seen := map[string]string{base.ID(): "base"}
	for _, tc := range cases {
		k := base
		tc.mutate(&k)
		if k == base {
			t.Fatalf("%s: the mutation changed nothing", tc.name)
		}
		if other, dup := seen[k.ID()]; dup {
			t.Errorf("%s: ID %s is also %s's", tc.name, k.ID(), other)
		}
		seen[k.ID()] = tc.name
	}
	if base.Format != scaleSeedFormat {
		t.Errorf("a new key has format %d, want %d", base.Format, scaleSeedFormat)
	}
	if a, b := CacheDatabase(base.ID()), CacheDatabase(NewScaleCacheKey(smallScale(), "postgres", "x").ID()); a == b ||
		validDatabaseName(a) != nil {
		t.Errorf("cache databases %q and %q: want two valid names", a, b)
	}
}

func TestSchemaHash(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dir, "sqlite"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "sqlite", name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("0001_core.sql", "CREATE TABLE a (x);")
	h1, err := SchemaHash(dir, "sqlite")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := SchemaHash(dir, "sqlite"); again != h1 {
		t.Error("the same files gave two hashes")
	}
	write("0002_more.sql", "CREATE TABLE b (y);")
	h2, _ := SchemaHash(dir, "sqlite")
	write("0002_more.sql", "CREATE TABLE b (z);")
	h3, _ := SchemaHash(dir, "sqlite")
	if h1 == h2 || h2 == h3 {
		t.Errorf("a new migration or a changed one left the hash as it was: %s %s %s", h1, h2, h3)
	}
	if _, err := SchemaHash(dir, "postgres"); err == nil {
		t.Error("a dialect with no folder was accepted")
	}
	// The real migrations, as bench/scale.sh passes them.
	for _, dialect := range []string{"sqlite", "postgres"} {
		if _, err := SchemaHash("../../internal/store/migrations", dialect); err != nil {
			t.Errorf("the store's %s migrations: %v", dialect, err)
		}
	}
}

func TestDatabaseURL(t *testing.T) {
	cases := []struct{ admin, want string }{
		{"postgres://u:p@127.0.0.1:5432/postgres?sslmode=disable", "postgres://u:p@127.0.0.1:5432/gh_run?sslmode=disable"},
		{"postgresql://u@h/", "postgresql://u@h/gh_run"},
		{"postgres://u@h", "postgres://u@h/gh_run"},
	}
	for _, tc := range cases {
		if got, err := DatabaseURL(tc.admin, "gh_run"); err != nil || got != tc.want {
			t.Errorf("DatabaseURL(%s) = %q, %v; want %q", tc.admin, got, err, tc.want)
		}
	}
	for _, name := range []string{"", "Upper", `x"; DROP`, "a-b", strings.Repeat("a", 64)} {
		if _, err := DatabaseURL("postgres://u@h/postgres", name); err == nil {
			t.Errorf("database name %q was accepted", name)
		}
	}
	if _, err := DatabaseURL("mysql://u@h/db", "gh_run"); err == nil {
		t.Error("a URL that is not PostgreSQL's was accepted")
	}
}

// TestSeedScaleCachedSQLite seeds through an empty cache, then reuses the
// kept store in another data folder, then finds a tampered entry, drops it
// and seeds again.
func TestSeedScaleCachedSQLite(t *testing.T) {
	ctx := t.Context()
	c := smallScale()
	dir := t.TempDir()
	cache := ScaleCache{Dir: filepath.Join(dir, "cache"), Migrations: "../../internal/store/migrations"}
	seed := func(name string) (*ScaleState, config.Config, string) {
		t.Helper()
		cfg := config.Config{DataDir: filepath.Join(dir, name)}
		var progress strings.Builder
		st, err := SeedScaleCached(ctx, cfg, c, cache, &progress)
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, progress.String())
		}
		return st, cfg, progress.String()
	}
	first, _, log1 := seed("first")
	if first.Reused || !strings.Contains(log1, "kept a copy") {
		t.Fatalf("the first seeding reused a store or kept none:\n%s", log1)
	}
	schema, err := SchemaHash(cache.Migrations, "sqlite")
	if err != nil {
		t.Fatal(err)
	}
	entry := filepath.Join(cache.Dir, NewScaleCacheKey(c, "sqlite", schema).ID())
	if _, err := os.Stat(filepath.Join(entry, "data", "gatehouse.db")); err != nil {
		t.Fatalf("the entry holds no database: %v", err)
	}

	second, cfg2, log2 := seed("second")
	if !second.Reused || !strings.Contains(log2, "reused") {
		t.Fatalf("the second seeding did not reuse the kept store:\n%s", log2)
	}
	if second.Sample[0] != first.Sample[0] || second.Cold[len(second.Cold)-1] != first.Cold[len(first.Cold)-1] {
		t.Error("the reused state's tokens are not the kept ones")
	}
	if err := CheckSeededStore(ctx, cfg2, c, second); err != nil {
		t.Errorf("the copy fails its check: %v", err)
	}
	// The run's writes go to its copy, never to the kept store.
	db, err := sql.Open("sqlite", filepath.Join(cfg2.DataDir, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "DELETE FROM tokens WHERE id IN (SELECT id FROM tokens LIMIT 5)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := CheckSeededStore(ctx, cfg2, c, second); err == nil {
		t.Error("a store missing five tokens passed the check")
	}

	// Tamper with the kept store itself: the next run notices, drops the
	// entry and seeds again.
	kept, err := sql.Open("sqlite", filepath.Join(entry, "data", "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kept.ExecContext(ctx, "DELETE FROM tokens WHERE id = (SELECT max(id) FROM tokens)"); err != nil {
		t.Fatal(err)
	}
	kept.Close()
	third, cfg3, log3 := seed("third")
	if third.Reused || !strings.Contains(log3, "not usable") || !strings.Contains(log3, "kept a copy") {
		t.Fatalf("a tampered entry was not replaced:\n%s", log3)
	}
	if err := CheckSeededStore(ctx, cfg3, c, third); err != nil {
		t.Errorf("the store seeded again fails its check: %v", err)
	}

	// An entry whose key.json is another key is not used.
	other := c
	other.Users++
	if err := writeJSON(filepath.Join(entry, "key.json"), nil, NewScaleCacheKey(other, "sqlite", schema)); err != nil {
		t.Fatal(err)
	}
	if fourth, _, log4 := seed("fourth"); fourth.Reused || !strings.Contains(log4, "not the key") {
		t.Errorf("an entry under the wrong key was used:\n%s", log4)
	}
}

// TestSeedScaleCachedPostgres does the same on the real PostgreSQL: the
// kept database is a copy made from the seeded one, and a reuse makes the
// run's database from it.
func TestSeedScaleCachedPostgres(t *testing.T) {
	ctx := t.Context()
	admin := pgtest.AdminURL(t, "the seeded-store cache on PostgreSQL")
	c := smallScale()
	c.Tokens = 25_000 // several COPY batches
	dir := t.TempDir()
	cache := ScaleCache{Dir: filepath.Join(dir, "cache"), Migrations: "../../internal/store/migrations", Admin: admin}
	schema, err := SchemaHash(cache.Migrations, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	keptDB := CacheDatabase(NewScaleCacheKey(c, "postgres", schema).ID())
	t.Cleanup(func() {
		if err := dropDatabase(context.Background(), admin, keptDB); err != nil {
			t.Errorf("drop the kept database: %v", err)
		}
	})
	// A kept database from an earlier run of this test, without its entry,
	// is replaced.
	if err := dropDatabase(ctx, admin, keptDB); err != nil {
		t.Fatal(err)
	}
	seed := func(name string) (*ScaleState, config.Config, string) {
		t.Helper()
		url, _ := pgtest.NewDatabase(t, admin, "gatehouse_scalecache")
		cfg := config.Config{DataDir: filepath.Join(dir, name), Database: url}
		var progress strings.Builder
		st, err := SeedScaleCached(ctx, cfg, c, cache, &progress)
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, progress.String())
		}
		return st, cfg, progress.String()
	}
	first, cfg1, log1 := seed("first")
	if first.Reused || first.Store != "postgres" || !strings.Contains(log1, "kept a copy") {
		t.Fatalf("the first seeding reused a store or kept none:\n%s", log1)
	}
	second, cfg2, log2 := seed("second")
	if !second.Reused || !strings.Contains(log2, "reused") {
		t.Fatalf("the second seeding did not reuse the kept store:\n%s", log2)
	}
	if err := CheckSeededStore(ctx, cfg2, c, second); err != nil {
		t.Errorf("the copy fails its check: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cfg2.DataDir, "tarballs")); err != nil {
		t.Errorf("the copy has no tarball folder: %v", err)
	}
	// The copy's database was first used with the seed's server key, which
	// its signing key is sealed with: the copy carries that key, and a
	// server opens its signing with it.
	key1, err1 := os.ReadFile(cfg1.KeyPath())
	key2, err2 := os.ReadFile(cfg2.KeyPath())
	if err1 != nil || err2 != nil || !bytes.Equal(key1, key2) {
		t.Fatalf("the copy's server key is not the seeded store's (%v, %v)", err1, err2)
	}
	db, err := server.OpenStore(ctx, cfg2, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	_, err = server.OpenSigning(ctx, cfg2, db, slog.New(slog.DiscardHandler))
	db.Close()
	if err != nil {
		t.Fatalf("the copy's signing does not open: %v", err)
	}
	sizes, err := MeasureDB(ctx, cfg2)
	if err != nil {
		t.Fatal(err)
	}
	if sizes.Store != "postgres" || sizes.DatabaseBytes <= 0 || sizes.SharedBuffersBytes <= 0 || len(sizes.Tables) == 0 {
		t.Errorf("sizes of the PostgreSQL store = %+v", sizes)
	}
	found := false
	for _, tb := range sizes.Tables {
		found = found || (tb.Name == "tokens" && tb.IndexBytes > 0)
	}
	if !found {
		t.Errorf("the tokens table and its indexes are not among the largest: %+v", sizes.Tables)
	}
}

// TestCopyTokensRefusesDuplicates checks that the PostgreSQL bulk path is
// all or nothing: a batch with a token already there writes none of it.
func TestCopyTokensRefusesDuplicates(t *testing.T) {
	ctx := t.Context()
	admin := pgtest.AdminURL(t, "copying tokens into PostgreSQL")
	url, _ := pgtest.NewDatabase(t, admin, "gatehouse_scalecopy")
	c := smallScale()
	c.Tokens, c.Sample, c.Cold = 30, 5, 0
	cfg := config.Config{DataDir: t.TempDir(), Database: url}
	var progress strings.Builder
	st, err := SeedScale(ctx, cfg, c, &progress)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	if err := CheckSeededStore(ctx, cfg, c, st); err != nil {
		t.Fatalf("the store seeded by COPY fails its check: %v", err)
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var kinds, limited, withCIDR, expiring int
	if err := db.QueryRowContext(ctx, `SELECT count(DISTINCT kind), count(*) FILTER (WHERE grants LIKE '%"packages":[%'),
		count(*) FILTER (WHERE cidr <> '[]'), count(*) FILTER (WHERE expires_at IS NOT NULL) FROM tokens`).
		Scan(&kinds, &limited, &withCIDR, &expiring); err != nil {
		t.Fatal(err)
	}
	// 30 tokens: kinds cycle over 10, so 3 of each of the 10 slots.
	if kinds != 3 || limited != 3 || withCIDR != 3 || expiring != 24 {
		t.Errorf("kinds %d, limited %d, with an IP range %d, expiring %d; want 3, 3, 3, 24", kinds, limited, withCIDR, expiring)
	}
	var rec struct {
		key, kind, masked string
		hash              []byte
		user              int64
	}
	if err := db.QueryRowContext(ctx, `SELECT key, hash, user_id, kind, masked FROM tokens ORDER BY id LIMIT 1`).
		Scan(&rec.key, &rec.hash, &rec.user, &rec.kind, &rec.masked); err != nil {
		t.Fatal(err)
	}
	var before int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM tokens`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	tok := func(key string, hash []byte) store.Token {
		return store.Token{Key: key, Hash: hash, UserID: rec.user, Kind: rec.kind, Masked: rec.masked,
			CIDR: "[]", Grants: "{}", CreatedAt: 1}
	}
	fresh := tok("fresh-key", []byte("0123456789abcdef0123456789abcdef"))
	if err := copyTokens(ctx, db, []store.Token{fresh}); err != nil {
		t.Fatalf("copy one fresh token: %v", err)
	}
	before++
	again := tok("fresh-key-2", []byte("fedcba9876543210fedcba9876543210"))
	dup := tok("another-key", rec.hash)
	if err := copyTokens(ctx, db, []store.Token{again, dup}); err == nil {
		t.Fatal("a batch with a token already stored was copied")
	}
	var after int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM tokens`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("a refused batch left %d of its rows", after-before)
	}
}
