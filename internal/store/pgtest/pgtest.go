// Package pgtest gives tests throwaway PostgreSQL databases on the server
// GATEHOUSE_TEST_POSTGRES names: a URL of a role that may create databases,
// such as postgres://gatehouse:secret@127.0.0.1:5432/postgres?sslmode=disable
// (.ci/run starts such a server). On CI (CI=true) a missing server fails the
// test instead of skipping it, so the PostgreSQL half is never silently
// untested.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// Env names the PostgreSQL server the tests run on.
const Env = "GATEHOUSE_TEST_POSTGRES"

// AdminURL returns the URL in Env. When it is empty it skips t, or, on CI,
// fails it; what says what goes untested.
func AdminURL(t testing.TB, what string) string {
	t.Helper()
	u := os.Getenv(Env)
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is empty on CI: %s must be tested (.ci/run starts a server)", Env, what)
		}
		t.Skipf("%s is empty: set it to a PostgreSQL URL to test %s", Env, what)
	}
	return u
}

// Option changes how NewDatabase creates a database.
type Option func(*options)

type options struct{ icu bool }

// ICUCollation asks for a natural-language default collation (ICU, en-US)
// where the server has ICU (PostgreSQL 15 and later), and the server's
// default elsewhere.
func ICUCollation() Option { return func(o *options) { o.icu = true } }

// NewDatabase creates an empty UTF-8 database named prefix_ and 12 random
// hex digits through adminURL, and drops it when the test ends (WITH
// (FORCE), which ends the sessions a failed test left open). It returns the
// database's URL, which holds the role's password, and a function that
// drops the database at once (dropping twice does nothing).
func NewDatabase(t testing.TB, adminURL, prefix string, opts ...Option) (string, func()) {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	base, err := url.Parse(adminURL)
	if err != nil {
		t.Fatalf("%s is not a URL: %v", Env, err)
	}
	admin, err := sql.Open("pgx", adminURL)
	if err != nil {
		t.Fatalf("%s: %v", Env, err)
	}
	t.Cleanup(func() { admin.Close() })
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := prefix + "_" + hex.EncodeToString(b[:])
	create := `CREATE DATABASE "` + name + `" ENCODING 'UTF8' TEMPLATE template0`
	created := false
	if o.icu {
		_, err := admin.ExecContext(context.Background(), create+` LOCALE_PROVIDER icu ICU_LOCALE 'en-US'`)
		created = err == nil
	}
	if !created {
		if _, err := admin.ExecContext(context.Background(), create); err != nil {
			t.Fatalf("create database %s (%s): %v", name, Env, err)
		}
	}
	var once sync.Once
	drop := func() {
		once.Do(func() {
			if err := dropDatabase(admin, name); err != nil {
				t.Errorf("drop database %s: %v", name, err)
			}
		})
	}
	t.Cleanup(drop)
	u := *base
	u.Path = "/" + name
	return u.String(), drop
}

// dropDatabase drops the test database name. WITH (FORCE) ends the test's
// own leftover sessions, but refuses (SQLSTATE 42501) when an autovacuum
// worker happens to be in the database and the role may not signal it
// (PostgreSQL asks for pg_signal_backend); a plain DROP DATABASE stops
// autovacuum by itself, and waits a few seconds for other sessions. So on
// a refusal the drop is tried plainly, a few times.
func dropDatabase(admin *sql.DB, name string) error {
	ctx := context.Background()
	_, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`)
	for attempt := 0; err != nil && attempt < 5; attempt++ {
		time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
		if _, plain := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS "`+name+`"`); plain == nil {
			return nil
		}
		_, err = admin.ExecContext(ctx, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`)
	}
	return err
}
