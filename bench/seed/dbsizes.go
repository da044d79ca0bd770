package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/server"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// DBSizes is how much of a store the page caches (the operating system's,
// and PostgreSQL's shared buffers) would have to hold for every read to
// be served from memory: the database as a whole and its largest tables.
type DBSizes struct {
	Store string `json:"store"` // sqlite or postgres
	// DatabaseBytes is the whole database (SQLite: the file's pages in use
	// and free; PostgreSQL: pg_database_size).
	DatabaseBytes int64 `json:"database_bytes"`
	// Tables are the largest tables, largest first, each with its indexes
	// (and for PostgreSQL its TOAST table, where large documents go).
	Tables []TableSize `json:"tables"`
	// SharedBuffersBytes is PostgreSQL's shared_buffers (0 for SQLite).
	SharedBuffersBytes int64 `json:"shared_buffers_bytes,omitempty"`
}

// TableSize is one table's bytes and its indexes' bytes.
type TableSize struct {
	Name       string `json:"name"`
	Bytes      int64  `json:"bytes"`
	IndexBytes int64  `json:"index_bytes"`
}

// dbsizesTables is how many of the largest tables DBSizes lists.
const dbsizesTables = 4

// dbsizesCommand measures the store a data folder (or -database) holds.
func dbsizesCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dbsizes", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "", "gatehouse's data folder (SQLite)")
	database := fs.String("database", "", "PostgreSQL URL (default: SQLite in -data)")
	out := fs.String("out", "", "file to write the JSON to (default: stdout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *data == "" && *database == "" {
		return errors.New("dbsizes: want -data or -database")
	}
	s, err := MeasureDB(ctx, config.Config{DataDir: *data, Database: *database})
	if err != nil {
		return fmt.Errorf("dbsizes: %w", err)
	}
	return writeJSON(*out, stdout, s)
}

// openExistingStore opens the store cfg names, which must exist (a data
// folder that is not there is an error, not a new empty store).
func openExistingStore(ctx context.Context, cfg config.Config) (*store.Store, error) {
	if cfg.Database == "" {
		if _, err := os.Stat(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	return server.OpenStore(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// MeasureDB measures the store cfg names.
func MeasureDB(ctx context.Context, cfg config.Config) (*DBSizes, error) {
	db, err := openExistingStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	s := &DBSizes{Store: "sqlite"}
	var query string
	if cfg.Database != "" {
		s.Store = "postgres"
		if err := db.DB().QueryRowContext(ctx, `SELECT pg_database_size(current_database()),
			(SELECT setting::bigint * pg_size_bytes(unit) FROM pg_settings WHERE name = 'shared_buffers')`).
			Scan(&s.DatabaseBytes, &s.SharedBuffersBytes); err != nil {
			return nil, fmt.Errorf("database size: %w", err)
		}
		query = `SELECT c.relname, pg_total_relation_size(c.oid) - pg_indexes_size(c.oid), pg_indexes_size(c.oid)
			FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE c.relkind = 'r' AND n.nspname = current_schema()`
	} else {
		if err := db.DB().QueryRowContext(ctx, `SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()`).
			Scan(&s.DatabaseBytes); err != nil {
			return nil, fmt.Errorf("database size: %w", err)
		}
		// dbstat has a row per b-tree (table or index); sqlite_schema names
		// each index's table.
		query = `SELECT m.tbl_name, SUM(CASE WHEN m.type = 'table' THEN d.pgsize ELSE 0 END),
			SUM(CASE WHEN m.type = 'index' THEN d.pgsize ELSE 0 END)
			FROM dbstat d JOIN sqlite_schema m ON m.name = d.name GROUP BY m.tbl_name`
	}
	rows, err := db.DB().QueryContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("table sizes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var t TableSize
		if err := rows.Scan(&t.Name, &t.Bytes, &t.IndexBytes); err != nil {
			return nil, fmt.Errorf("table sizes: %w", err)
		}
		s.Tables = append(s.Tables, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("table sizes: %w", err)
	}
	s.Tables = LargestTables(s.Tables, dbsizesTables)
	return s, nil
}

// LargestTables is the n largest of tables (data and indexes together),
// largest first, ties by name.
func LargestTables(tables []TableSize, n int) []TableSize {
	out := append([]TableSize(nil), tables...)
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Bytes+out[i].IndexBytes, out[j].Bytes+out[j].IndexBytes
		if a != b {
			return a > b
		}
		return out[i].Name < out[j].Name
	})
	return out[:min(n, len(out))]
}

// String is the sizes on one line, for the progress output.
func (s *DBSizes) String() string {
	var b strings.Builder
	b.WriteString("database " + bytesText(s.DatabaseBytes))
	for _, t := range s.Tables {
		b.WriteString("; " + t.Name + " " + bytesText(t.Bytes) + " + " + bytesText(t.IndexBytes) + " indexes")
	}
	if s.SharedBuffersBytes > 0 {
		b.WriteString("; shared_buffers " + bytesText(s.SharedBuffersBytes))
	}
	return b.String()
}

// pgdbCommand creates or drops a PostgreSQL database for bench/scale.sh:
//
//	seed pgdb create -admin URL -name NAME   prints the new database's URL
//	seed pgdb drop -admin URL -name NAME
//	seed pgdb ping -admin URL                 prints the server's version
func pgdbCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "create" && args[0] != "drop" && args[0] != "ping") {
		return errors.New("pgdb: want create, drop or ping")
	}
	fs := flag.NewFlagSet("pgdb "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	admin := fs.String("admin", "", "URL of a role that may create databases (required)")
	name := fs.String("name", "", "the database (lowercase letters, digits, underscores; required)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if args[0] == "ping" {
		if *admin == "" {
			return errors.New("pgdb: -admin is required")
		}
		version, err := serverVersion(ctx, *admin)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, version)
		return err
	}
	if *admin == "" || *name == "" {
		return errors.New("pgdb: -admin and -name are required")
	}
	if args[0] == "drop" {
		return dropDatabase(ctx, *admin, *name)
	}
	if err := createDatabase(ctx, *admin, *name, ""); err != nil {
		return err
	}
	u, err := DatabaseURL(*admin, *name)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, u)
	return err
}

// DatabaseURL is admin's URL with its database changed to name.
func DatabaseURL(admin, name string) (string, error) {
	if err := validDatabaseName(name); err != nil {
		return "", err
	}
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("admin URL %s: not a postgres:// URL", redactURL(admin))
	}
	u.Path, u.RawPath = "/"+name, ""
	return u.String(), nil
}

// serverVersion is the PostgreSQL server's version, as SHOW server_version
// gives it; asking it within a few seconds also shows the server is there.
func serverVersion(ctx context.Context, admin string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", admin)
	if err != nil {
		return "", fmt.Errorf("admin connection (%s): %w", redactURL(admin), err)
	}
	defer db.Close()
	var v string
	if err := db.QueryRowContext(ctx, "SHOW server_version").Scan(&v); err != nil {
		return "", fmt.Errorf("PostgreSQL at %s: %w", redactURL(admin), err)
	}
	return v, nil
}
