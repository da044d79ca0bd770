// Package store keeps gatehouse's metadata in SQL: SQLite by default (pure Go,
// WAL mode, under the data folder) or PostgreSQL when several nodes share one
// database. The queries are the same on both; the few differences live in a
// dialect. Every query method lives on Queries, which runs on the database or
// inside a transaction alike.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/jackc/pgx/v5"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations
var migrationFiles embed.FS

// Runner is what a query needs: the database itself or a transaction.
type Runner interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// dialect holds the few differences between SQL databases. Queries are written
// once, with '?' placeholders, in SQL both databases accept; flags are INTEGER
// 0/1 columns in both, scanned into Go bools.
type dialect interface {
	name() string
	// rebind turns the '?' placeholders of a query into the dialect's own.
	rebind(query string) string
	// bindArgs turns query arguments into values of the dialect's column
	// types: a Go bool becomes the 0 or 1 of an INTEGER flag.
	bindArgs(args []any) []any
	// mapError turns driver errors into fault kinds (unique violation → Conflict).
	mapError(err error) error
	// beginTx runs first in every transaction; it makes transactions take
	// turns, as SQLite's BEGIN IMMEDIATE does.
	beginTx(ctx context.Context, tx *sql.Tx) error
	// migrationsTable is the statement creating the table of applied migrations.
	migrationsTable() string
	// lockMigrations keeps every other process from migrating the same
	// database until unlock is called.
	lockMigrations(ctx context.Context, db *sql.DB) (unlock func(), err error)
	// notify tells other processes about a change when the transaction r
	// runs in commits (see Queries.Publish).
	notify(ctx context.Context, r Runner, payload string) error
	// skipLocked ends a SELECT whose rows a statement then claims: on
	// PostgreSQL, rows another transaction is claiming are skipped, not
	// waited for; SQLite has one writer and needs nothing.
	skipLocked() string
}

// Store is the metadata database.
type Store struct {
	db *sql.DB
	d  dialect
	// stmts keeps statements prepared, on SQLite (pgx keeps its own).
	stmts *stmtCache
	// listen is how a Feed connects to LISTEN for changes; nil on SQLite.
	listen *pgx.ConnConfig
	// own remembers the changes this store published, for its Feed.
	own *ownChanges
	// reads, on SQLite, is a pool of its own for the hot reads of one row
	// (see Queries.point), with its prepared statements; nil on PostgreSQL.
	reads     *sql.DB
	readStmts *stmtCache
}

// pointReadConns is how many connections the SQLite store's pool of point
// reads holds. Each read holds one for a few microseconds; on the pool of
// everything else a read could wait behind writers that hold connections
// while they queue for the write lock.
const pointReadConns = 4

// OpenSQLite opens (creating if needed) the SQLite database at path in WAL mode
// and applies pending migrations.
func OpenSQLite(ctx context.Context, path string) (*Store, error) {
	// synchronous(FULL): an acknowledged publish survives a power cut, not only a crash.
	// _txlock=immediate: write transactions take the write lock at BEGIN, so two
	// writers queue on busy_timeout instead of failing on a lock upgrade.
	dsn := "file:" + filepath.ToSlash(path) +
		"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)" +
		"&_pragma=foreign_keys(1)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(0)
	s := &Store{db: db, d: sqliteDialect{}, stmts: newStmtCache(db), own: newOwnChanges()}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	// query_only: the point reads' pool can write nothing, whatever runs on it.
	reads, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)")
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s for reads: %w", path, err)
	}
	reads.SetMaxOpenConns(pointReadConns)
	reads.SetMaxIdleConns(pointReadConns)
	reads.SetConnMaxIdleTime(0)
	s.reads, s.readStmts = reads, newStmtCache(reads)
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	s.stmts.close()
	if s.reads != nil {
		s.readStmts.close()
		if err := s.reads.Close(); err != nil {
			_ = s.db.Close()
			return fmt.Errorf("close the reads' pool: %w", err)
		}
	}
	return s.db.Close()
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// DB exposes the database handle to tools that seed or inspect it directly
// (benchmarks, tests); the registry itself goes through Queries.
func (s *Store) DB() *sql.DB { return s.db }

// Q returns the queries, run directly on the database.
func (s *Store) Q() Queries {
	return Queries{r: s.db, d: s.d, stmts: s.stmts, reads: s.reads, readStmts: s.readStmts}
}

// InTx runs fn inside one transaction, committed when fn returns nil and rolled
// back otherwise.
func (s *Store) InTx(ctx context.Context, fn func(q Queries) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", s.d.mapError(err))
	}
	if err := s.d.beginTx(ctx, tx); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("begin transaction: %w", s.d.mapError(err))
	}
	var pub []published
	if err := fn(Queries{r: tx, d: s.d, pub: &pub}); err != nil {
		_ = tx.Rollback()
		return err
	}
	// A commit that fails may still have committed: its changes are then
	// taken for another process's, which costs subscribers a reload only.
	settle := s.own.pending(pub)
	err = tx.Commit()
	settle(err == nil)
	if err != nil {
		return fmt.Errorf("commit: %w", s.d.mapError(err))
	}
	return nil
}

// Queries are the store's operations, bound to a Runner.
type Queries struct {
	r Runner
	d dialect
	// stmts, when set (on the database, not in a transaction), runs
	// queries as prepared statements.
	stmts *stmtCache
	// pub, in a transaction, collects the changes it publishes.
	pub *[]published
	// reads and readStmts, on SQLite and not in a transaction, are the
	// point reads' pool (see point).
	reads     *sql.DB
	readStmts *stmtCache
}

// prepareMany prepares query to run for each of many rows: on the
// database, from the store's prepared statements; in a transaction, for
// the transaction alone (closed with it), so that a statement run for each
// row of a batch is parsed once, not once a row. It never waits for a
// connection of the pool inside a transaction: writers waiting for this
// transaction's lock may hold them all. close releases what it prepared.
func (q Queries) prepareMany(ctx context.Context, query string) (st *sql.Stmt, close func(), err error) {
	query = q.d.rebind(query)
	if q.stmts != nil {
		if st := q.stmts.get(ctx, query); st != nil {
			return st, func() {}, nil
		}
	}
	if tx, ok := q.r.(*sql.Tx); ok {
		st, err := tx.PrepareContext(ctx, query)
		if err != nil {
			return nil, nil, q.d.mapError(err)
		}
		return st, func() { _ = st.Close() }, nil
	}
	return nil, func() {}, nil
}

func (q Queries) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	query, args = q.d.rebind(query), q.d.bindArgs(args)
	if st := q.stmts.get(ctx, query); st != nil {
		res, err := st.ExecContext(ctx, args...)
		return res, q.d.mapError(err)
	}
	res, err := q.r.ExecContext(ctx, query, args...)
	return res, q.d.mapError(err)
}

// execBuilt runs a statement built for one call (a multi-row statement
// whose text depends on how many rows it writes) without preparing it, so
// that such statements never fill the cache of prepared ones.
func (q Queries) execBuilt(ctx context.Context, query string, args ...any) (sql.Result, error) {
	res, err := q.r.ExecContext(ctx, q.d.rebind(query), q.d.bindArgs(args)...)
	return res, q.d.mapError(err)
}

// queryBuilt is execBuilt for a statement that returns rows.
func (q Queries) queryBuilt(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	rows, err := q.r.QueryContext(ctx, q.d.rebind(query), q.d.bindArgs(args)...)
	return rows, q.d.mapError(err)
}

func (q Queries) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	query, args = q.d.rebind(query), q.d.bindArgs(args)
	if st := q.stmts.get(ctx, query); st != nil {
		rows, err := st.QueryContext(ctx, args...)
		return rows, q.d.mapError(err)
	}
	rows, err := q.r.QueryContext(ctx, query, args...)
	return rows, q.d.mapError(err)
}

// point returns the queries and context for a hot read of one row (a
// document cache's miss, a token not yet cached). On SQLite, outside a
// transaction, that is the pool of point reads, with a context that cannot
// be cancelled: for a statement whose context can be, database/sql starts
// a goroutine that waits for the end of the context or of the rows, and the
// driver installs a busy handler watching it, about 4 µs a read, a fifth
// of a miss's (bench/seed missfloor, docs/benchmarks.md). Nothing is lost:
// on that pool a read waits for a connection only behind other point reads
// (a few microseconds each, never a writer), a read of one row cannot be
// interrupted mid-step, and busy_timeout bounds its one wait for a lock.
// On PostgreSQL, where a query is a round trip worth cutting short, and in
// a transaction, whose own context is watched and whose reads must see its
// writes, it is q and ctx. The context's values are kept.
func (q Queries) point(ctx context.Context) (Queries, context.Context) {
	if q.reads == nil {
		return q, ctx
	}
	return Queries{r: q.reads, d: q.d, stmts: q.readStmts}, context.WithoutCancel(ctx)
}

func (q Queries) row(ctx context.Context, query string, args ...any) *sql.Row {
	query, args = q.d.rebind(query), q.d.bindArgs(args)
	if st := q.stmts.get(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return q.r.QueryRowContext(ctx, query, args...)
}

// scanErr maps sql.ErrNoRows to a NotFound fault with message what.
func (q Queries) scanErr(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fault.NotFoundf("%s", what)
	}
	return q.d.mapError(err)
}

func (s *Store) migrate(ctx context.Context) error {
	dir := "migrations/" + s.d.name()
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return fmt.Errorf("read migrations: %w", err)
	}
	type migration struct {
		version int
		file    string
	}
	var all []migration
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(prefix)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return fmt.Errorf("migration file %q is not named NNNN_name.sql", e.Name())
		}
		all = append(all, migration{v, e.Name()})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].version < all[j].version })

	unlock, err := s.d.lockMigrations(ctx, s.db)
	if err != nil {
		return fmt.Errorf("lock migrations: %w", err)
	}
	defer unlock()
	if _, err := s.db.ExecContext(ctx, s.d.migrationsTable()); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	for _, m := range all {
		err := s.InTx(ctx, func(q Queries) error {
			var n int
			if err := q.row(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
				return fmt.Errorf("check migration %d: %w", m.version, err)
			}
			if n > 0 {
				return nil
			}
			body, err := migrationFiles.ReadFile(dir + "/" + m.file)
			if err != nil {
				return fmt.Errorf("read migration %s: %w", m.file, err)
			}
			if _, err := q.r.ExecContext(ctx, string(body)); err != nil {
				return fmt.Errorf("apply migration %s: %w", m.file, err)
			}
			_, err = q.exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, m.version, Now())
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// SchemaVersion is the highest migration applied, 0 for none.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", s.d.mapError(err))
	}
	return v, nil
}

// Now is the current time in the store's unit, Unix milliseconds.
func Now() int64 { return time.Now().UnixMilli() }

type sqliteDialect struct{}

func (sqliteDialect) name() string               { return "sqlite" }
func (sqliteDialect) rebind(query string) string { return query }

// bindArgs leaves args alone: the SQLite driver stores a bool as 0 or 1.
func (sqliteDialect) bindArgs(args []any) []any { return args }

// beginTx has nothing to do: _txlock=immediate makes write transactions take turns.
func (sqliteDialect) beginTx(context.Context, *sql.Tx) error { return nil }

func (sqliteDialect) migrationsTable() string {
	return `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`
}

// lockMigrations has nothing to lock: one process owns a SQLite database.
func (sqliteDialect) lockMigrations(context.Context, *sql.DB) (func(), error) { return func() {}, nil }

// notify has nothing to send: the counter Publish bumps is what a Feed on
// SQLite polls.
func (sqliteDialect) notify(context.Context, Runner, string) error { return nil }

func (sqliteDialect) skipLocked() string { return "" }

func (sqliteDialect) mapError(err error) error {
	if err == nil {
		return nil
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fault.Wrap(fault.Conflict, err, "already exists")
		}
	}
	return err
}

// hintedQuery is a query in the text each dialect runs: SQLite is told
// which index to use (INDEXED BY), since without statistics its planner
// prefers a unique index that does not cover the columns read; PostgreSQL
// plans from its own statistics and gets no hint.
type hintedQuery struct{ sqlite, postgres string }

// hinted builds a hintedQuery from query, where each {{index}} names the
// index SQLite is to use for the table before it.
func hinted(query string) hintedQuery {
	h := hintedQuery{sqlite: query, postgres: query}
	for {
		i := strings.Index(h.sqlite, "{{")
		if i < 0 {
			return h
		}
		j := strings.Index(h.sqlite[i:], "}}")
		if j < 0 {
			panic("store: hinted query with an unclosed {{: " + query)
		}
		index := h.sqlite[i+2 : i+j]
		h.sqlite = h.sqlite[:i] + " INDEXED BY " + index + h.sqlite[i+j+2:]
		h.postgres = strings.Replace(h.postgres, "{{"+index+"}}", "", 1)
	}
}

// of is the query's text for dialect d.
func (h hintedQuery) of(d dialect) string {
	if d.name() == "sqlite" {
		return h.sqlite
	}
	return h.postgres
}
