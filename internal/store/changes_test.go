package store

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// changeWait bounds how long a test waits for a change to arrive: the
// promise is a second.
const changeWait = time.Second

// follow starts a feed on s whose changes go to the returned channel, and
// waits for its first delivery (AnyChange).
func follow(t *testing.T, s *Store) (*Feed, <-chan Change) {
	t.Helper()
	feed := NewFeed(s, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { feed.Close() })
	ch := make(chan Change, 1024)
	feed.Subscribe(func(c Change) {
		select {
		case ch <- c:
		default:
			t.Errorf("change %+v dropped: the test's channel is full", c)
		}
	})
	feed.Start()
	select {
	case c := <-ch:
		if c.Kind != AnyChange {
			t.Fatalf("first delivery %+v, want AnyChange", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the feed delivered nothing within 10s of its start")
	}
	return feed, ch
}

// nextChange returns the next change other than AnyChange, failing the test
// when none comes within changeWait.
func nextChange(t *testing.T, ch <-chan Change) Change {
	t.Helper()
	timeout := time.After(changeWait)
	for {
		select {
		case c := <-ch:
			if c.Kind != AnyChange {
				return c
			}
		case <-timeout:
			t.Fatalf("no change arrived within %v", changeWait)
		}
	}
}

// waitAnyChange waits up to within for AnyChange, skipping other changes.
func waitAnyChange(t *testing.T, ch <-chan Change, within time.Duration, what string) {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case c := <-ch:
			if c.Kind == AnyChange {
				return
			}
		case <-timeout:
			t.Fatalf("no AnyChange within %v %s", within, what)
		}
	}
}

// twoNodes opens two stores on one new database, as two processes would,
// and follows the changes of the second.
func twoNodes(t *testing.T, b backend) (writer, reader *Store, changes <-chan Change) {
	t.Helper()
	where := b.newDatabase(t)
	open := func() *Store {
		s, err := b.open(t.Context(), where)
		if err != nil {
			t.Fatalf("open %s: %v", b.name, err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	writer, reader = open(), open()
	_, changes = follow(t, reader)
	return writer, reader, changes
}

// testChanges publishes changes through one store and reads them from
// another's feed: committed changes arrive, rolled-back ones never do. On
// PostgreSQL they arrive as notifications, naming what changed; on SQLite the
// counters are polled, which tells only the kind.
func testChanges(t *testing.T, b backend) {
	writer, _, changes := twoNodes(t, b)
	ctx := t.Context()
	q := writer.Q()
	alice := mustUser(t, q, "alice")
	tok, err := q.CreateToken(ctx, Token{Key: "k1", Hash: []byte("0123456789abcdef0123456789abcdef"), UserID: alice.ID,
		Kind: "publish", Masked: "npm_x"})
	must(t, err)
	key := func(k string) string {
		if b.shared {
			return k
		}
		return ""
	}

	rollback := errors.New("roll back")
	err = writer.InTx(ctx, func(q Queries) error {
		must(t, q.RevokeToken(ctx, tok.ID, alice.ID))
		must(t, q.Publish(ctx, Change{Kind: PackageChanged, Key: "rolled-back"}))
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatalf("InTx = %v, want the rollback", err)
	}
	must(t, writer.InTx(ctx, func(q Queries) error {
		return q.Publish(ctx, Change{Kind: PackageChanged, Key: "@scope/marker"})
	}))
	// Changes arrive in commit order: the marker comes first, so nothing
	// came of the rolled-back transaction.
	if c, want := nextChange(t, changes), (Change{Kind: PackageChanged, Key: key("@scope/marker")}); c != want {
		t.Fatalf("after a rollback and a commit: got %+v, want %+v", c, want)
	}

	tests := []struct {
		name   string
		change func(q Queries) error
		want   Change
	}{
		{"token revoked", func(q Queries) error { return q.RevokeToken(ctx, tok.ID, alice.ID) },
			Change{Kind: TokenRevoked, Key: key(hex.EncodeToString(tok.Hash))}},
		{"user changed", func(q Queries) error { return q.SetEmail(ctx, alice.ID, "alice@example.org") },
			Change{Kind: UserChanged, Key: key(strconv.FormatInt(alice.ID, 10))}},
		{"package changed", func(q Queries) error { return q.Publish(ctx, Change{Kind: PackageChanged, Key: "demo"}) },
			Change{Kind: PackageChanged, Key: key("demo")}},
		{"cached uplink package changed", func(q Queries) error { return q.Publish(ctx, Change{Kind: UplinkChanged, Key: "@types/node"}) },
			Change{Kind: UplinkChanged, Key: key("@types/node")}},
		{"a scope taken", func(q Queries) error { return q.Publish(ctx, ScopeTaken("types")) },
			Change{Kind: UplinkChanged, Key: key("@types/")}},
	}
	for _, tt := range tests {
		start := time.Now()
		must(t, writer.InTx(ctx, tt.change))
		if c := nextChange(t, changes); c != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, c, tt.want)
		}
		t.Logf("%s: arrived after %v", tt.name, time.Since(start))
	}
	if err := q.Publish(ctx, Change{Kind: AnyChange}); err == nil {
		t.Error("AnyChange was published: it is the feed's own, never a stored change")
	}
}

// listenerPID finds the backend of s's feed listener, waiting up to 10s for
// one other than not (0 for any).
func listenerPID(t *testing.T, s *Store, not int) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var pid int
		err := s.db.QueryRowContext(t.Context(), `SELECT pid FROM pg_stat_activity
			WHERE application_name = $1 AND datname = current_database() AND pid <> $2`, listenerName, not).Scan(&pid)
		if err == nil {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no change listener connected (other than %d) within 10s: %v", not, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testListenerReconnects kills the feed's listening connection, as a
// restarted server or a cut network would: subscribers are told AnyChange at
// once; while the listener cannot come back (the database refuses new
// connections) the counters are polled, so changes still arrive; once it may
// connect again it does, tells AnyChange again, and notifications arrive
// again, naming what changed.
func testListenerReconnects(t *testing.T, b backend) {
	if !b.shared {
		t.Skipf("%s has no listener: its feed polls", b.name)
	}
	writer, reader, changes := twoNodes(t, b)
	ctx := t.Context()
	// Each store keeps an idle connection, so neither needs a new one
	// while the database refuses them.
	for _, s := range []*Store{writer, reader} {
		if _, err := s.readCounters(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var dbName string
	if err := writer.db.QueryRowContext(ctx, `SELECT current_database()`).Scan(&dbName); err != nil {
		t.Fatal(err)
	}
	limit := func(n int) {
		t.Helper()
		if _, err := writer.db.ExecContext(context.WithoutCancel(ctx),
			fmt.Sprintf(`ALTER DATABASE %q CONNECTION LIMIT %d`, dbName, n)); err != nil {
			t.Fatal(err)
		}
	}
	first := listenerPID(t, reader, 0)
	limit(0)
	t.Cleanup(func() { limit(-1) })
	var ok bool
	if err := writer.db.QueryRowContext(ctx, `SELECT pg_terminate_backend($1)`, first).Scan(&ok); err != nil || !ok {
		t.Fatalf("pg_terminate_backend(%d) = %v, %v", first, ok, err)
	}
	waitAnyChange(t, changes, 2*time.Second, "after the listener's connection was killed")

	must(t, writer.InTx(ctx, func(q Queries) error { return q.Publish(ctx, Change{Kind: PackageChanged, Key: "while-down"}) }))
	if c, want := nextChange(t, changes), (Change{Kind: PackageChanged}); c != want {
		t.Fatalf("while the listener is down: got %+v, want %+v (from the counters)", c, want)
	}

	limit(-1)
	second := listenerPID(t, reader, first)
	waitAnyChange(t, changes, 10*time.Second, "after the listener connected again")
	t.Logf("listener backend %d killed, %d took over", first, second)
	must(t, writer.InTx(ctx, func(q Queries) error { return q.Publish(ctx, Change{Kind: PackageChanged, Key: "back"}) }))
	if c, want := nextChange(t, changes), (Change{Kind: PackageChanged, Key: "back"}); c != want {
		t.Fatalf("after reconnecting: got %+v, want %+v (a notification)", c, want)
	}
}

// testSettings stores a setting once: a second value for the same name does
// not replace the first, and both callers learn the first.
func testSettings(t *testing.T, b backend) {
	s := b.store(t)
	q := s.Q()
	got, err := q.InitSetting(t.Context(), "server_key_check", "first")
	if err != nil || got != "first" {
		t.Fatalf("first InitSetting = %q, %v", got, err)
	}
	got, err = q.InitSetting(t.Context(), "server_key_check", "second")
	if err != nil || got != "first" {
		t.Fatalf("second InitSetting = %q, %v; want the first value kept", got, err)
	}
	got, err = q.InitSetting(t.Context(), "other", "x")
	if err != nil || got != "x" {
		t.Fatalf("another setting = %q, %v", got, err)
	}

	// PutSetting replaces; Setting reads; a name never stored is NotFound.
	_, err = q.Setting(t.Context(), "never")
	wantKind(t, "a setting never stored", err, fault.NotFound)
	must(t, q.PutSetting(t.Context(), "cached", "one"))
	must(t, q.PutSetting(t.Context(), "cached", "two"))
	if got, err := q.Setting(t.Context(), "cached"); err != nil || got != "two" {
		t.Fatalf("Setting after two puts = %q, %v; want two", got, err)
	}
	if got, err := q.Setting(t.Context(), "server_key_check"); err != nil || got != "first" {
		t.Fatalf("Setting of an InitSetting value = %q, %v", got, err)
	}
}
