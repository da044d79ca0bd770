package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// Advisory lock keys, the same in every gatehouse process sharing a database.
const (
	// migrationLock is held (per session) while one process migrates.
	migrationLock int64 = 0x6761746568_0001
	// writeLock is held (per transaction) by every transaction, so that
	// transactions take turns as on SQLite: a publish reads the versions and
	// rebuilds the packument without another publish slipping in between.
	writeLock int64 = 0x6761746568_0002
)

// postgresPoolSize is how many connections a process keeps to PostgreSQL,
// open and idle alike. A pool that keeps fewer idle than it opens closes
// a connection whenever a burst of requests thins out and opens one again
// in the next: a new backend process and its SCRAM authentication each
// time, and the statements prepared again. On the big scale store that
// churn (165 new sessions in ten seconds) cost two thirds of the
// throughput and put p99 at half a second (docs/benchmarks.md, "The
// connection pool on PostgreSQL").
const postgresPoolSize = 16

// listenerName is the application_name of a Feed's listening connection, as
// pg_stat_activity shows it.
const listenerName = "gatehouse change listener"

// OpenPostgres connects to the PostgreSQL database named by rawURL
// (postgres://user:password@host:port/dbname?sslmode=...) and applies pending
// migrations, one process at a time.
func OpenPostgres(ctx context.Context, rawURL string) (*Store, error) {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		// pgx leaves the password out of its parse errors.
		return nil, fmt.Errorf("postgres database %s: %w", RedactURL(rawURL), err)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(postgresPoolSize)
	db.SetMaxIdleConns(postgresPoolSize)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to postgres %s: %w", RedactURL(rawURL), err)
	}
	listen := cfg.Copy()
	listen.RuntimeParams["application_name"] = listenerName
	s := &Store{db: db, d: postgresDialect{}, listen: listen, own: newOwnChanges()}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// RedactURL returns a database URL fit for logs: without its password,
// whether in the user part or in a password query parameter.
func RedactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

type postgresDialect struct{}

func (postgresDialect) name() string { return "postgres" }

// rebind numbers the '?' placeholders $1, $2, ...; a '?' inside a quoted
// string or identifier is left alone.
func (postgresDialect) rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	var quote byte // the quote character we are inside, or 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0 // a doubled quote closes and reopens: same result
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// bindArgs turns Go bools into 0 or 1: flags are INTEGER columns, so the
// same literals (handed = 1) work on SQLite and PostgreSQL.
func (postgresDialect) bindArgs(args []any) []any {
	var out []any
	for i, a := range args {
		v, ok := a.(bool)
		if !ok {
			continue
		}
		if out == nil {
			out = append([]any(nil), args...)
		}
		if v {
			out[i] = int64(1)
		} else {
			out[i] = int64(0)
		}
	}
	if out == nil {
		return args
	}
	return out
}

func (postgresDialect) mapError(err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation, primary keys included
			return fault.Wrap(fault.Conflict, err, "already exists")
		case "22021": // character_not_in_repertoire: text that is not UTF-8, or holds NUL
			return fault.Wrap(fault.Invalid, err, "text is not valid UTF-8")
		}
	}
	return err
}

func (postgresDialect) beginTx(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, writeLock)
	return err
}

func (postgresDialect) migrationsTable() string {
	return `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`
}

// lockMigrations takes a session advisory lock on a connection of its own,
// so that nodes starting together migrate one after the other; the others
// then find every migration applied.
func (postgresDialect) lockMigrations(ctx context.Context, db *sql.DB) (func(), error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		conn.Close()
		return nil, err
	}
	return func() {
		// Should the unlock fail, closing the connection ends the session
		// and with it the lock.
		_, err := conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1)`, migrationLock)
		if err != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}, nil
}

// notify sends the payload on the changes channel; PostgreSQL delivers it to
// every listening session when the transaction commits, and drops it on
// rollback.
func (postgresDialect) skipLocked() string { return " FOR UPDATE SKIP LOCKED" }

func (postgresDialect) notify(ctx context.Context, r Runner, payload string) error {
	_, err := r.ExecContext(ctx, `SELECT pg_notify($1, $2)`, changeChannel, payload)
	return err
}
