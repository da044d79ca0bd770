package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/server"
	"github.com/gatehouse-registry/gatehouse/internal/token"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for the admin connection
)

// The seeded-store cache of bench/scale.sh (BENCH_STORE_CACHE): seeding the
// big store takes minutes, so `seed scale -cache DIR` keeps a pristine copy
// of each store it seeds, keyed by everything that decides its content, and
// a later run with the same key copies it instead of seeding.
//
// An entry is the folder DIR/ID (ID from ScaleCacheKey.ID) holding key.json
// (the key, which must match), state.json (the ScaleState, plaintext tokens
// of the throwaway store included) and data/ (the data folder: for SQLite
// the database and the tarballs, for PostgreSQL the tarballs and the server
// key, which the database's signing key is sealed with). A
// PostgreSQL entry's database is a database on the same server named
// CacheDatabase(ID), never served from: a run gets a fresh database copied
// from it (CREATE DATABASE ... TEMPLATE). An entry appears whole or not at
// all (it is built under a temporary name and renamed).

// scaleSeedFormat is the version of what `seed scale` writes: bump it when
// the seeding changes the store it makes (names, documents, token kinds),
// so that older cached stores are no longer used. 2: packages signed at
// import (no signing backlog), with the server key in the data folder.
const scaleSeedFormat = 2

// ScaleCacheKey is everything that decides a seeded store's content.
type ScaleCacheKey struct {
	// Format is scaleSeedFormat of the seed that made the store.
	Format int `json:"format"`
	// Store is sqlite or postgres.
	Store string `json:"store"`
	// Schema is the SHA-256 of the store's migration files (SchemaHash):
	// a store seeded before a new migration is not reused after it.
	Schema string `json:"schema"`
	// The corpus's parameters, as ScaleCorpus has them.
	Prefix      string `json:"prefix"`
	Packages    int    `json:"packages"`
	Versions    int    `json:"versions"`
	Users       int    `json:"users"`
	Tokens      int    `json:"tokens"`
	Tarballs    int    `json:"tarballs"`
	ReadmeBytes int    `json:"readme_bytes"`
	Sample      int    `json:"sample"`
	Cold        int    `json:"cold"`
	Batch       int    `json:"batch"`
	TokenPrefix string `json:"token_prefix"`
}

// NewScaleCacheKey is the key of corpus c seeded into store (sqlite or
// postgres) with the migrations whose hash is schema.
func NewScaleCacheKey(c ScaleCorpus, store, schema string) ScaleCacheKey {
	return ScaleCacheKey{Format: scaleSeedFormat, Store: store, Schema: schema, Prefix: c.Prefix,
		Packages: c.Packages, Versions: c.Versions, Users: c.Users, Tokens: c.Tokens, Tarballs: c.Tarballs,
		ReadmeBytes: c.ReadmeBytes, Sample: c.Sample, Cold: c.Cold, Batch: c.Batch, TokenPrefix: c.TokenPrefix}
}

// ID names the key's entry: the first 20 hex digits of the SHA-256 of its
// JSON, after a readable start (store, packages, tokens).
func (k ScaleCacheKey) ID() string {
	sum := sha256.Sum256(mustCompactJSON(k))
	return fmt.Sprintf("%s-%dp-%dt-%s", k.Store, k.Packages, k.Tokens, hex.EncodeToString(sum[:])[:20])
}

// CacheDatabase is the name of the PostgreSQL database an entry keeps.
func CacheDatabase(id string) string {
	sum := sha256.Sum256([]byte(id))
	return "gatehouse_scale_cache_" + hex.EncodeToString(sum[:])[:16]
}

// SchemaHash is the SHA-256, in hex, of the migration files of a dialect
// (the folder dir/dialect, as internal/store/migrations holds them): each
// file's name and content, in name order.
func SchemaHash(dir, dialect string) (string, error) {
	root := filepath.Join(dir, dialect)
	entries, err := os.ReadDir(root)
	if err != nil {
		return "", fmt.Errorf("migrations: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return "", fmt.Errorf("migrations: no files in %s", root)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			return "", fmt.Errorf("migrations: %w", err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ScaleCache is where `seed scale -cache` keeps seeded stores.
type ScaleCache struct {
	// Dir holds the entries.
	Dir string
	// Migrations is the folder of the store's migration files, one folder
	// per dialect (internal/store/migrations).
	Migrations string
	// Admin is a PostgreSQL URL of a role that may create databases on the
	// server of the run's database (PostgreSQL only).
	Admin string
}

// SeedScaleCached is SeedScale through the cache: when the cache holds a
// store with c's key that passes CheckSeededStore, it copies it into
// cfg (the data folder, and for PostgreSQL the database cfg.Database names,
// which must not exist yet or be empty: it is made again from the kept
// one); otherwise it seeds cfg and keeps a copy. An entry that fails its
// check is removed and the store seeded again.
func SeedScaleCached(ctx context.Context, cfg config.Config, c ScaleCorpus, cache ScaleCache, progress io.Writer) (*ScaleState, error) {
	dialect := "sqlite"
	if cfg.Database != "" {
		dialect = "postgres"
		if cache.Admin == "" {
			return nil, errors.New("cache: a PostgreSQL store needs -admin")
		}
	}
	schema, err := SchemaHash(cache.Migrations, dialect)
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	key := NewScaleCacheKey(c, dialect, schema)
	id := key.ID()
	entry := filepath.Join(cache.Dir, id)
	if err := os.MkdirAll(cache.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	st, err := restoreScale(ctx, cfg, c, cache, key, entry)
	switch {
	case err == nil && st != nil:
		fmt.Fprintf(progress, "seed scale: reused the store kept in %s (seeded in %.1fs)\n", entry, st.Seconds)
		return st, nil
	case err != nil:
		fmt.Fprintf(progress, "seed scale: the store kept in %s is not usable (%v): removing it and seeding again\n", entry, err)
		if err := dropEntry(ctx, cache, entry, dialect); err != nil {
			return nil, err
		}
		if err := resetTarget(ctx, cfg, cache.Admin); err != nil {
			return nil, err
		}
	}
	st, err = SeedScale(ctx, cfg, c, progress)
	if err != nil {
		return nil, err
	}
	if err := keepScale(ctx, cfg, cache, key, entry, st); err != nil {
		return nil, fmt.Errorf("cache: keep the seeded store: %w", err)
	}
	fmt.Fprintf(progress, "seed scale: kept a copy in %s\n", entry)
	return st, nil
}

// restoreScale copies entry's store into cfg and checks it; it returns
// nil and no error when there is no entry.
func restoreScale(ctx context.Context, cfg config.Config, c ScaleCorpus, cache ScaleCache, key ScaleCacheKey, entry string) (*ScaleState, error) {
	var kept ScaleCacheKey
	if ok, err := readJSON(filepath.Join(entry, "key.json"), &kept); err != nil {
		return nil, err
	} else if !ok {
		if _, err := os.Stat(entry); err == nil {
			return nil, errors.New("no key.json")
		}
		return nil, nil
	}
	if kept != key {
		return nil, fmt.Errorf("its key.json (%+v) is not the key it is filed under (%+v)", kept, key)
	}
	var st ScaleState
	if ok, err := readJSON(filepath.Join(entry, "state.json"), &st); err != nil || !ok {
		return nil, fmt.Errorf("state.json: missing or unreadable (%v)", err)
	}
	if err := copyTree(filepath.Join(entry, "data"), cfg.DataDir); err != nil {
		return nil, err
	}
	if key.Store == "postgres" {
		if err := cloneDatabase(ctx, cache.Admin, CacheDatabase(filepath.Base(entry)), databaseName(cfg.Database)); err != nil {
			return nil, err
		}
	}
	if err := CheckSeededStore(ctx, cfg, c, &st); err != nil {
		return nil, err
	}
	st.Reused = true
	return &st, nil
}

// keepScale copies the store just seeded into cfg into a new entry.
func keepScale(ctx context.Context, cfg config.Config, cache ScaleCache, key ScaleCacheKey, entry string, st *ScaleState) error {
	tmp, err := os.MkdirTemp(cache.Dir, ".new-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	data := cfg.DataDir
	if key.Store == "postgres" {
		data = filepath.Join(cfg.DataDir, "tarballs")
		if err := cloneDatabase(ctx, cache.Admin, databaseName(cfg.Database), CacheDatabase(filepath.Base(entry))); err != nil {
			return err
		}
		if err := copyTree(data, filepath.Join(tmp, "data", "tarballs")); err != nil {
			return err
		}
		// The store was first used with this key (the seed signs with it):
		// a run on a copy of the database needs the same one.
		if cfg.KeyFile == "" {
			if err := copyFile(cfg.KeyPath(), filepath.Join(tmp, "data", filepath.Base(cfg.KeyPath()))); err != nil {
				return fmt.Errorf("cache: server key: %w", err)
			}
		}
	} else if err := copyTree(data, filepath.Join(tmp, "data")); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(tmp, "state.json"), nil, st); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(tmp, "key.json"), nil, key); err != nil {
		return err
	}
	return os.Rename(tmp, entry)
}

// dropEntry removes a cache entry and, for PostgreSQL, its database.
func dropEntry(ctx context.Context, cache ScaleCache, entry, dialect string) error {
	if dialect == "postgres" {
		if err := dropDatabase(ctx, cache.Admin, CacheDatabase(filepath.Base(entry))); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(entry); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	return nil
}

// resetTarget empties what a failed restore may have left in cfg: the
// data folder, and the run's database (made again, empty).
func resetTarget(ctx context.Context, cfg config.Config, admin string) error {
	if err := os.RemoveAll(cfg.DataDir); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	if cfg.Database == "" {
		return nil
	}
	name := databaseName(cfg.Database)
	if err := dropDatabase(ctx, admin, name); err != nil {
		return err
	}
	return createDatabase(ctx, admin, name, "")
}

// CheckSeededStore checks that the store in cfg is the one st describes and
// c would seed: as many users, packages and tokens; the first and last
// package there; every kept token (warm and cold) there, by its hash.
func CheckSeededStore(ctx context.Context, cfg config.Config, c ScaleCorpus, st *ScaleState) error {
	if len(st.Sample) != c.Sample || len(st.Cold) != c.Cold {
		return fmt.Errorf("state.json keeps %d warm and %d cold tokens, want %d and %d",
			len(st.Sample), len(st.Cold), c.Sample, c.Cold)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := server.OpenStore(ctx, cfg, quiet)
	if err != nil {
		return err
	}
	defer db.Close()
	for table, want := range map[string]int{"users": c.Users, "packages": c.Packages, "tokens": c.Tokens} {
		var n int
		if err := db.DB().QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			return fmt.Errorf("count %s: %w", table, err)
		}
		if n != want {
			return fmt.Errorf("%d %s in the store, want %d", n, table, want)
		}
	}
	q := db.Q()
	for _, i := range []int{0, c.Packages - 1} {
		if _, err := q.PackageByName(ctx, c.PackageName(i)); err != nil {
			return fmt.Errorf("package %s: %w", c.PackageName(i), err)
		}
	}
	for _, t := range append(append([]SeededToken(nil), st.Sample...), st.Cold...) {
		h := token.Hash(t.Token)
		if _, err := q.TokenByHash(ctx, h[:]); err != nil {
			return fmt.Errorf("a kept token of %s: %w", t.User, err)
		}
	}
	return nil
}

// copyTree copies the regular files and folders under src to dst, which
// must not hold any of them yet.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o750)
		case !d.Type().IsRegular():
			return fmt.Errorf("copy %s: not a regular file", path)
		}
		return copyFile(path, target)
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, info.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}

// databaseName is the database a PostgreSQL URL names.
func databaseName(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(u.Path, "/")
}

// validDatabaseName accepts the names bench/scale.sh and the cache make:
// lowercase letters, digits and underscores, so that quoting them is safe.
func validDatabaseName(name string) error {
	if name == "" || len(name) > 63 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
		return fmt.Errorf("database name %q: want 1 to 63 lowercase letters, digits and underscores", name)
	}
	return nil
}

// adminExec runs statements on the admin connection.
func adminExec(ctx context.Context, admin string, stmts ...string) error {
	db, err := sql.Open("pgx", admin)
	if err != nil {
		return fmt.Errorf("admin connection (%s): %w", redactURL(admin), err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

// createDatabase creates name, empty (UTF-8, from template0) or as a copy
// of template.
func createDatabase(ctx context.Context, admin, name, template string) error {
	if err := validDatabaseName(name); err != nil {
		return err
	}
	stmt := `CREATE DATABASE "` + name + `" ENCODING 'UTF8' TEMPLATE template0`
	if template != "" {
		if err := validDatabaseName(template); err != nil {
			return err
		}
		// FILE_COPY (PostgreSQL 15 and later) copies the files after a
		// checkpoint, rather than every block through the WAL: much
		// faster for a database of gigabytes. Older servers only copy so.
		stmt = `CREATE DATABASE "` + name + `" TEMPLATE "` + template + `"`
		if err := adminExec(ctx, admin, stmt+` STRATEGY FILE_COPY`); err == nil {
			return nil
		}
	}
	return adminExec(ctx, admin, stmt)
}

// dropDatabase drops name if it exists, ending its sessions.
func dropDatabase(ctx context.Context, admin, name string) error {
	if err := validDatabaseName(name); err != nil {
		return err
	}
	return adminExec(ctx, admin, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`)
}

// cloneDatabase makes dst (dropped first if it exists) a copy of src.
func cloneDatabase(ctx context.Context, admin, src, dst string) error {
	if err := dropDatabase(ctx, admin, dst); err != nil {
		return err
	}
	return createDatabase(ctx, admin, dst, src)
}

// redactURL hides a URL's password.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(not a URL)"
	}
	return u.Redacted()
}
