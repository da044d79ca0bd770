package store

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/store/pgtest"
)

// backend is one database the conformance suite runs on.
type backend struct {
	name string
	// newDatabase makes an empty database for t, removed when t ends, and
	// returns what open takes to reach it.
	newDatabase func(t *testing.T) string
	open        func(ctx context.Context, where string) (*Store, error)
	// shared is true when several processes may open the database at once;
	// the suite then also migrates from several goroutines together.
	shared bool
}

// downgrade runs stmts on s (taking its schema back to that of an older
// gatehouse: they drop what later migrations made and forget those
// migrations), closes it, and opens the database at where again, which
// migrates it. The reopened store is closed when t ends.
func (b backend) downgrade(t *testing.T, s *Store, where string, stmts ...string) *Store {
	t.Helper()
	ctx := t.Context()
	for _, stmt := range stmts {
		if _, err := s.db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	s.Close()
	s, err := b.open(ctx, where)
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// store returns a fresh, migrated store of backend b, closed when t ends.
func (b backend) store(t *testing.T) *Store {
	t.Helper()
	s, err := b.open(t.Context(), b.newDatabase(t))
	if err != nil {
		t.Fatalf("open %s: %v", b.name, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func sqliteBackend() backend {
	return backend{
		name: "sqlite",
		newDatabase: func(t *testing.T) string {
			return filepath.Join(t.TempDir(), "test.db")
		},
		open: OpenSQLite,
	}
}

// postgresBackend creates each test's database on the server at adminURL
// and drops it when the test ends.
func postgresBackend(adminURL string) backend {
	return backend{
		name:   "postgres",
		shared: true,
		newDatabase: func(t *testing.T) string {
			t.Helper()
			// A natural-language default collation, where the server has ICU,
			// shows that the store compares text by byte as SQLite does
			// whatever the database's locale.
			u, _ := pgtest.NewDatabase(t, adminURL, "gatehouse_test", pgtest.ICUCollation())
			return u
		},
		open: OpenPostgres,
	}
}

// TestStore runs the conformance suite on SQLite, and on PostgreSQL when
// GATEHOUSE_TEST_POSTGRES names a server. On CI (CI=true) a missing server
// is a failure, so that the PostgreSQL half is never silently untested.
func TestStore(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { runSuite(t, sqliteBackend()) })
	t.Run("postgres", func(t *testing.T) {
		runSuite(t, postgresBackend(pgtest.AdminURL(t, "the PostgreSQL store")))
	})
}

func runSuite(t *testing.T, b backend) {
	cases := []struct {
		name string
		run  func(t *testing.T, b backend)
	}{
		{"MigrationsTwice", testMigrationsTwice},
		{"MigrationsConcurrently", testMigrationsConcurrently},
		{"MigrationLock", testMigrationLock},
		{"Users", testUsers},
		{"Tokens", testTokens},
		{"TokenLists", testTokenLists},
		{"TokenKeyPrefix", testTokenKeyPrefix},
		{"Packages", testPackages},
		{"AbbreviatedApart", testAbbreviatedApart},
		{"HotReadPlans", testHotReadPlans},
		{"PointReads", testPointReads},
		{"PackageNames", testPackageNames},
		{"PoolKeepsConnections", testPoolKeepsConnections},
		{"Transactions", testTransactions},
		{"TransactionsTakeTurns", testTransactionsTakeTurns},
		{"Search", testSearch},
		{"TwoFactor", testTwoFactor},
		{"RecoveryCodes", testRecoveryCodes},
		{"Lockouts", testLockouts},
		{"PackageMFA", testPackageMFA},
		{"WebAuth", testWebAuth},
		{"Orgs", testOrgs},
		{"Teams", testTeams},
		{"PackageLists", testPackageLists},
		{"RecentlyPublished", testRecentlyPublished},
		{"Changes", testChanges},
		{"ListenerReconnects", testListenerReconnects},
		{"OwnChanges", testOwnChanges},
		{"Settings", testSettings},
		{"BlobReferences", testBlobReferences},
		{"Uplinks", testUplinks},
		{"CachedPackages", testCachedPackages},
		{"PurgeCachedPackage", testPurgeCachedPackage},
		{"Signing", testSigning},
		{"SigningBacklog", testSigningBacklog},
		{"SigningMigration", testSigningMigration},
		{"TrustConfigs", testTrustConfigs},
		{"Exchanges", testExchanges},
		{"Staged", testStaged},
		{"Attestations", testAttestations},
		{"AuditEvents", testAuditEvents},
		{"UserAdmin", testUserAdmin},
		{"TokenAddresses", testTokenAddresses},
		{"TokenUserByHash", testTokenUserByHash},
		{"TouchTokensBatch", testTouchTokensBatch},
		{"TokenAddressesBatch", testTokenAddressesBatch},
		{"AuditEventsBatch", testAuditEventsBatch},
		{"SSOIdentities", testSSOIdentities},
		{"Hooks", testHooks},
		{"HookDeliveries", testHookDeliveries},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, b) })
	}
}

func migrationNames(t *testing.T, dialect string) []string {
	t.Helper()
	entries, err := fs.ReadDir(migrationFiles, "migrations/"+dialect)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func countMigrations(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func testMigrationsTwice(t *testing.T, b backend) {
	where := b.newDatabase(t)
	want := len(migrationNames(t, b.name))
	for i := range 2 {
		s, err := b.open(t.Context(), where)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if n := countMigrations(t, s); n != want {
			t.Errorf("open %d: %d migrations recorded, want %d", i, n, want)
		}
		if b.name == "sqlite" {
			var mode string
			if err := s.db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
				t.Errorf("journal_mode = %q, %v; want wal", mode, err)
			}
		}
		s.Close()
	}
}

func testMigrationsConcurrently(t *testing.T, b backend) {
	if !b.shared {
		t.Skipf("%s belongs to one process", b.name)
	}
	where := b.newDatabase(t)
	const nodes = 4
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() {
			s, err := b.open(t.Context(), where)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: %v", i, err)
		}
	}
	s, err := b.open(t.Context(), where)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, want := countMigrations(t, s), len(migrationNames(t, b.name)); n != want {
		t.Errorf("%d migrations recorded, want %d", n, want)
	}
}

// testMigrationLock holds the migration lock as another node would and
// checks that opening waits for it.
func testMigrationLock(t *testing.T, b backend) {
	if !b.shared {
		t.Skipf("%s belongs to one process", b.name)
	}
	where := b.newDatabase(t)
	other, err := sql.Open("pgx", where)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		t.Fatal(err)
	}
	type result struct {
		s   *Store
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := b.open(t.Context(), where)
		done <- result{s, err}
	}()
	select {
	case r := <-done:
		if r.s != nil {
			r.s.Close()
		}
		t.Fatalf("open returned while another node held the migration lock: %v", r.err)
	case <-time.After(500 * time.Millisecond):
	}
	if _, err := conn.ExecContext(t.Context(), `SELECT pg_advisory_unlock($1)`, migrationLock); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("open after the lock was released: %v", r.err)
		}
		if n, want := countMigrations(t, r.s), len(migrationNames(t, b.name)); n != want {
			t.Errorf("%d migrations recorded, want %d", n, want)
		}
		r.s.Close()
	case <-time.After(30 * time.Second):
		t.Fatal("open still waiting after the lock was released")
	}
}

func mustUser(t *testing.T, q Queries, name string) User {
	t.Helper()
	u, err := q.CreateUser(t.Context(), User{Name: name, Email: name + "@example.com", PasswordHash: "h"})
	if err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
	return u
}

func mustPackage(t *testing.T, q Queries, name, scope string, access Access) Package {
	t.Helper()
	p, err := q.CreatePackage(t.Context(), Package{Name: name, Scope: scope, Access: access, CreatedAt: 1, ModifiedAt: 1})
	if err != nil {
		t.Fatalf("create package %s: %v", name, err)
	}
	return p
}

func wantKind(t *testing.T, what string, err error, k fault.Kind) {
	t.Helper()
	if !fault.Is(err, k) {
		t.Errorf("%s: error %v, want kind %v", what, err, k)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func testUsers(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()
	must(t, s.Ping(ctx))
	u, err := q.CreateUser(ctx, User{Name: "alice", Email: "a@example.com", PasswordHash: "h"})
	if err != nil || u.ID == 0 || u.CreatedAt == 0 || u.UpdatedAt != u.CreatedAt {
		t.Fatalf("create: %v %+v", err, u)
	}
	_, err = q.CreateUser(ctx, User{Name: "alice", PasswordHash: "h"})
	wantKind(t, "duplicate name", err, fault.Conflict)
	bob := mustUser(t, q, "bob")
	if bob.ID == u.ID {
		t.Fatal("two users with one ID")
	}
	got, err := q.UserByName(ctx, "alice")
	if err != nil || got != u {
		t.Fatalf("by name: %+v %v, want %+v", got, err, u)
	}
	got, err = q.UserByID(ctx, u.ID)
	if err != nil || got != u {
		t.Fatalf("by id: %+v %v, want %+v", got, err, u)
	}
	_, err = q.UserByName(ctx, "carol")
	wantKind(t, "missing name", err, fault.NotFound)
	_, err = q.UserByName(ctx, "Alice")
	wantKind(t, "names are case-sensitive", err, fault.NotFound)
	_, err = q.UserByID(ctx, u.ID+bob.ID+100)
	wantKind(t, "missing id", err, fault.NotFound)

	must(t, q.SetPassword(ctx, u.ID, "h2"))
	must(t, q.SetEmail(ctx, u.ID, "alice@example.org"))
	got, _ = q.UserByID(ctx, u.ID)
	if got.PasswordHash != "h2" || got.Email != "alice@example.org" || got.UpdatedAt < u.UpdatedAt {
		t.Fatalf("after SetPassword and SetEmail: %+v", got)
	}
}

func testTokens(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()
	alice, bob := mustUser(t, q, "alice"), mustUser(t, q, "bob")
	tok, err := q.CreateToken(ctx, Token{Key: "k1", Hash: []byte("hash-1"), UserID: alice.ID, Kind: "session",
		Masked: "npm_abcd...wxyz", CreatedAt: 1, ExpiresAt: sql.NullInt64{Int64: 99, Valid: true}})
	if err != nil || tok.ID == 0 {
		t.Fatal(tok, err)
	}
	got, err := q.TokenByHash(ctx, []byte("hash-1"))
	want := tok
	want.CIDR, want.Grants = "[]", "{}"
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("by hash: %+v %v\nwant %+v", got, err, want)
	}

	// Every column round-trips, a bool flag and binary hash included.
	full := Token{Key: "k2", Hash: []byte{0, 1, 0xfe, 0xff}, UserID: alice.ID, Kind: "granular", Name: "ci",
		Description: "for CI", Masked: "npm_1234...5678", CIDR: `["10.0.0.0/8"]`, Grants: `{"packages":["a"]}`,
		Bypass2FA: true, CreatedAt: 2}
	full, err = q.CreateToken(ctx, full)
	must(t, err)
	got, err = q.TokenByHash(ctx, []byte{0, 1, 0xfe, 0xff})
	if err != nil || !reflect.DeepEqual(got, full) {
		t.Fatalf("by hash: %+v %v\nwant %+v", got, err, full)
	}

	_, err = q.CreateToken(ctx, Token{Key: "k3", Hash: []byte("hash-1"), UserID: alice.ID, Kind: "session", Masked: "x"})
	wantKind(t, "duplicate hash", err, fault.Conflict)
	_, err = q.CreateToken(ctx, Token{Key: "k1", Hash: []byte("hash-3"), UserID: alice.ID, Kind: "session", Masked: "x"})
	wantKind(t, "duplicate key", err, fault.Conflict)
	_, err = q.TokenByHash(ctx, []byte("nope"))
	wantKind(t, "missing hash", err, fault.NotFound)

	revocations := func() int64 {
		t.Helper()
		n, err := q.Revocations(ctx)
		must(t, err)
		return n
	}
	if n := revocations(); n != 0 {
		t.Fatalf("revocations = %d at first", n)
	}
	wantKind(t, "revoking another user's token", q.RevokeToken(ctx, tok.ID, bob.ID), fault.NotFound)
	must(t, s.InTx(ctx, func(q Queries) error { return q.RevokeToken(ctx, tok.ID, alice.ID) }))
	wantKind(t, "second revoke", q.RevokeToken(ctx, tok.ID, alice.ID), fault.NotFound)
	if n := revocations(); n != 1 {
		t.Fatalf("revocations = %d after one revocation", n)
	}
	got, _ = q.TokenByHash(ctx, []byte("hash-1"))
	if !got.RevokedAt.Valid || got.RevokedAt.Int64 == 0 {
		t.Fatal("token not marked revoked")
	}
	must(t, q.TouchTokens(ctx, []Touch{{TokenID: full.ID, At: 1234, IP: "2001:db8::1"}}))
	got, _ = q.TokenByHash(ctx, full.Hash)
	if got.LastUsedAt != (sql.NullInt64{Int64: 1234, Valid: true}) || got.LastUsedIP != "2001:db8::1" {
		t.Fatalf("touch not recorded: %+v", got)
	}
	// A batch records each use once, and an older use does not replace a newer one.
	must(t, s.InTx(ctx, func(q Queries) error {
		return q.TouchTokens(ctx, []Touch{{TokenID: full.ID, At: 1000, IP: "10.0.0.1"}, {TokenID: tok.ID, At: 5000, IP: "10.0.0.2"}})
	}))
	got, _ = q.TokenByHash(ctx, full.Hash)
	if got.LastUsedAt.Int64 != 1234 || got.LastUsedIP != "2001:db8::1" {
		t.Fatalf("an older use replaced a newer one: %+v", got)
	}
	got, _ = q.TokenByHash(ctx, []byte("hash-1"))
	if got.LastUsedAt.Int64 != 5000 || got.LastUsedIP != "10.0.0.2" {
		t.Fatalf("batched touch not recorded: %+v", got)
	}
	must(t, s.InTx(ctx, func(q Queries) error {
		return q.TouchTokens(ctx, []Touch{{TokenID: full.ID, At: 9000, IP: "10.0.0.3"}})
	}))
	got, _ = q.TokenByHash(ctx, full.Hash)
	if got.LastUsedAt.Int64 != 9000 || got.LastUsedIP != "10.0.0.3" {
		t.Fatalf("newer batched touch not recorded: %+v", got)
	}
	// Deleting a user takes their tokens along.
	_, err = s.DB().ExecContext(ctx, s.d.rebind(`DELETE FROM users WHERE id = ?`), alice.ID)
	must(t, err)
	_, err = q.TokenByHash(ctx, full.Hash)
	wantKind(t, "token of a deleted user", err, fault.NotFound)
}

func testTokenLists(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()
	alice, bob := mustUser(t, q, "alice"), mustUser(t, q, "bob")
	const now = 1000
	add := func(user User, key, kind string, created int64, expires int64) Token {
		t.Helper()
		tk := Token{Key: key, Hash: []byte("h-" + key), UserID: user.ID, Kind: kind, Masked: "m", CreatedAt: created}
		if expires != 0 {
			tk.ExpiresAt = sql.NullInt64{Int64: expires, Valid: true}
		}
		tk, err := q.CreateToken(ctx, tk)
		must(t, err)
		return tk
	}
	a1 := add(alice, "a1", "publish", 10, 0)
	a2 := add(alice, "a2", "granular", 20, now+100)
	a3 := add(alice, "a3", "read-only", 20, 0) // same time as a2: the higher ID comes first
	a4 := add(alice, "a4", "granular", 30, now-1)
	revoked := add(alice, "a5", "publish", 40, 0)
	must(t, q.RevokeToken(ctx, revoked.ID, alice.ID))
	s1 := add(alice, "s1", "session", 50, now+10)
	add(alice, "s2", "session", 60, now-10)
	add(bob, "b1", "publish", 70, 0)

	page, total, err := q.ListTokens(ctx, alice.ID, 0, 2)
	must(t, err)
	keys := func(ts []Token) []string {
		var out []string
		for _, tk := range ts {
			out = append(out, tk.Key)
		}
		return out
	}
	if total != 4 || !slices.Equal(keys(page), []string{a4.Key, a3.Key}) {
		t.Fatalf("first page: %v of %d", keys(page), total)
	}
	page, total, err = q.ListTokens(ctx, alice.ID, 2, 2)
	must(t, err)
	if total != 4 || !slices.Equal(keys(page), []string{a2.Key, a1.Key}) {
		t.Fatalf("second page: %v of %d", keys(page), total)
	}
	page, _, err = q.ListTokens(ctx, alice.ID, 4, 2)
	if err != nil || len(page) != 0 {
		t.Fatalf("past the end: %v %v", keys(page), err)
	}
	if n, err := q.CountLiveTokens(ctx, alice.ID, now); err != nil || n != 3 {
		t.Fatalf("live tokens = %d, %v; want 3 (a1, a2, a3)", n, err)
	}
	sessions, err := q.ListSessions(ctx, alice.ID, now)
	if err != nil || !slices.Equal(keys(sessions), []string{s1.Key}) {
		t.Fatalf("sessions: %v %v", keys(sessions), err)
	}

	// Purging removes what expired before the cutoff, sessions included, and
	// nothing of other users.
	must(t, q.PurgeExpiredTokens(ctx, alice.ID, now))
	page, total, _ = q.ListTokens(ctx, alice.ID, 0, 10)
	if total != 3 || !slices.Equal(keys(page), []string{a3.Key, a2.Key, a1.Key}) {
		t.Fatalf("after purge: %v of %d", keys(page), total)
	}
	if _, err := q.TokenByHash(ctx, []byte("h-s2")); !fault.Is(err, fault.NotFound) {
		t.Errorf("expired session survived the purge: %v", err)
	}
	if _, err := q.TokenByHash(ctx, []byte("h-b1")); err != nil {
		t.Errorf("bob's token purged: %v", err)
	}
}

func testTokenKeyPrefix(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()
	alice, bob := mustUser(t, q, "alice"), mustUser(t, q, "bob")
	add := func(user User, key string) Token {
		t.Helper()
		tk, err := q.CreateToken(ctx, Token{Key: key, Hash: []byte(key), UserID: user.ID, Kind: "publish", Masked: "m", CreatedAt: 1})
		must(t, err)
		return tk
	}
	// Keys are UUIDs; hyphens must sort by byte, not be skipped as a
	// natural-language collation would.
	a := add(alice, "0a1b2c3d-1111-4000-8000-000000000001")
	add(alice, "0a1b2c3d-2222-4000-8000-000000000002")
	c := add(alice, "0a1b2c3d1-333-4000-8000-000000000003")
	bb := add(bob, "ffee0000-1111-4000-8000-000000000004")

	tests := []struct {
		user   int64
		prefix string
		want   int64      // the token found, or 0
		kind   fault.Kind // the error otherwise
	}{
		{alice.ID, a.Key, a.ID, 0},
		{alice.ID, "0a1b2c3d-1", a.ID, 0},
		{alice.ID, "0a1b2c3d1", c.ID, 0},
		{alice.ID, "0a1b2c3d-", 0, fault.Conflict},
		{alice.ID, "0a1b2c3d", 0, fault.Conflict},
		{alice.ID, "0a1b2c3e", 0, fault.NotFound},
		{alice.ID, "ffee0000", 0, fault.NotFound}, // bob's
		{0, "ffee0000", bb.ID, 0},                 // any user's
		{alice.ID, "0A1B2C3D-1", 0, fault.NotFound},
		{alice.ID, "0a1b2c3d-1\xff", 0, fault.NotFound},
	}
	for _, tt := range tests {
		got, err := q.TokenByKeyPrefix(ctx, tt.user, tt.prefix)
		if tt.want != 0 {
			if err != nil || got.ID != tt.want {
				t.Errorf("TokenByKeyPrefix(%d, %q) = %d, %v; want %d", tt.user, tt.prefix, got.ID, err, tt.want)
			}
			continue
		}
		wantKind(t, fmt.Sprintf("TokenByKeyPrefix(%d, %q)", tt.user, tt.prefix), err, tt.kind)
	}
	must(t, q.RevokeToken(ctx, a.ID, alice.ID))
	_, err := q.TokenByKeyPrefix(ctx, alice.ID, a.Key)
	wantKind(t, "revoked token by key", err, fault.NotFound)
}

func testPackages(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()
	carol, bob := mustUser(t, q, "carol"), mustUser(t, q, "bob")

	p := mustPackage(t, q, "@carol/lib", "carol", "restricted")
	if p.ID == 0 {
		t.Fatal("no package ID")
	}
	_, err := q.CreatePackage(ctx, Package{Name: "@carol/lib", Scope: "carol", Access: "public"})
	wantKind(t, "duplicate package", err, fault.Conflict)
	_, err = q.PackageByName(ctx, "@carol/other")
	wantKind(t, "missing package", err, fault.NotFound)
	_, err = q.PackageDocument(ctx, "@carol/other", false)
	wantKind(t, "missing document", err, fault.NotFound)

	p.Description, p.Keywords, p.Rev, p.ModifiedAt = "A library", "lib util", 3, 5
	p.Packument, p.Abbreviated = []byte(`{"full":true}`), []byte(`{"abbr":true}`)
	must(t, q.SavePackage(ctx, p))
	meta, err := q.PackageByName(ctx, p.Name)
	wantMeta := p
	wantMeta.Packument, wantMeta.Abbreviated = nil, nil
	if err != nil || !reflect.DeepEqual(meta, wantMeta) {
		t.Fatalf("by name: %+v %v\nwant %+v", meta, err, wantMeta)
	}
	full, err := q.PackageDocument(ctx, p.Name, false)
	if err != nil || string(full.Packument) != `{"full":true}` || full.Abbreviated != nil || full.Rev != 3 {
		t.Fatalf("full document: %+v %v", full, err)
	}
	abbr, err := q.PackageDocument(ctx, p.Name, true)
	if err != nil || string(abbr.Abbreviated) != `{"abbr":true}` || abbr.Packument != nil {
		t.Fatalf("abbreviated document: %+v %v", abbr, err)
	}
	must(t, q.SetPackageAccess(ctx, p.ID, "public"))
	if meta, _ := q.PackageByName(ctx, p.Name); meta.Access != "public" {
		t.Fatalf("access = %q after SetPackageAccess", meta.Access)
	}

	// Versions.
	v1 := Version{PackageID: p.ID, Version: "1.0.0", Manifest: []byte(`{"v":1}`), BlobKey: "sha512-a", Size: 1 << 40, PublishedAt: 7}
	v2 := Version{PackageID: p.ID, Version: "2.0.0-beta.1", Manifest: []byte(`{"v":2}`), BlobKey: "sha512-b", Size: 2, PublishedAt: 8}
	must(t, q.InsertVersion(ctx, v1))
	must(t, q.InsertVersion(ctx, v2))
	wantKind(t, "duplicate version", q.InsertVersion(ctx, v1), fault.Conflict)
	got, err := q.VersionOf(ctx, p.ID, "1.0.0")
	if err != nil || !reflect.DeepEqual(got, v1) {
		t.Fatalf("VersionOf: %+v %v", got, err)
	}
	_, err = q.VersionOf(ctx, p.ID, "3.0.0")
	wantKind(t, "missing version", err, fault.NotFound)
	file, err := q.VersionFile(ctx, p.ID, "1.0.0")
	if want := (Version{PackageID: p.ID, Version: "1.0.0", BlobKey: v1.BlobKey, Size: v1.Size, PublishedAt: v1.PublishedAt}); err != nil || !reflect.DeepEqual(file, want) {
		t.Fatalf("VersionFile: %+v %v, want %+v", file, err, want)
	}
	_, err = q.VersionFile(ctx, p.ID, "3.0.0")
	wantKind(t, "missing version's file", err, fault.NotFound)
	// The row and the version's file in one query.
	joinedPkg, joined, found, err := q.PackageVersionFile(ctx, p.Name, "1.0.0")
	if wantRow, _ := q.PackageByName(ctx, p.Name); err != nil || !found || !reflect.DeepEqual(joinedPkg, wantRow) || !reflect.DeepEqual(joined, file) {
		t.Fatalf("PackageVersionFile: %+v %+v %v %v, want %+v %+v", joinedPkg, joined, found, err, wantRow, file)
	}
	joinedPkg, joined, found, err = q.PackageVersionFile(ctx, p.Name, "3.0.0")
	if err != nil || found || joinedPkg.ID != p.ID || joinedPkg.Name != p.Name || !reflect.DeepEqual(joined, Version{}) {
		t.Fatalf("PackageVersionFile of a missing version: %+v %+v %v %v", joinedPkg, joined, found, err)
	}
	_, _, _, err = q.PackageVersionFile(ctx, "@carol/other", "1.0.0")
	wantKind(t, "PackageVersionFile of a missing package", err, fault.NotFound)
	must(t, q.UpdateVersionManifest(ctx, p.ID, "1.0.0", []byte(`{"deprecated":"x"}`)))
	all, err := q.Versions(ctx, p.ID)
	must(t, err)
	slices.SortFunc(all, func(a, b Version) int {
		if a.Version < b.Version {
			return -1
		}
		return 1
	})
	v1.Manifest = []byte(`{"deprecated":"x"}`)
	if !reflect.DeepEqual(all, []Version{v1, v2}) {
		t.Fatalf("versions: %+v", all)
	}
	must(t, q.DeleteVersion(ctx, p.ID, "2.0.0-beta.1"))
	if all, _ := q.Versions(ctx, p.ID); len(all) != 1 {
		t.Fatalf("%d versions after delete", len(all))
	}

	// Published versions are remembered forever.
	must(t, q.MarkPublished(ctx, p.Name, "1.0.0"))
	wantKind(t, "second MarkPublished", q.MarkPublished(ctx, p.Name, "1.0.0"), fault.Conflict)
	if ok, err := q.WasPublished(ctx, p.Name, "1.0.0"); err != nil || !ok {
		t.Fatalf("WasPublished 1.0.0 = %v, %v", ok, err)
	}
	if ok, err := q.WasPublished(ctx, p.Name, "1.0.1"); err != nil || ok {
		t.Fatalf("WasPublished 1.0.1 = %v, %v", ok, err)
	}
	// Build metadata does not make another version (npm compares versions
	// without it): 1.0.0+x is 1.0.0, and 2.0.0 is 2.0.0+x.
	for _, v := range []string{"1.0.0+x", "1.0.0+build.5"} {
		if ok, err := q.WasPublished(ctx, p.Name, v); err != nil || !ok {
			t.Fatalf("WasPublished %s after 1.0.0 = %v, %v", v, ok, err)
		}
	}
	wantKind(t, "MarkPublished 1.0.0+x after 1.0.0", q.MarkPublished(ctx, p.Name, "1.0.0+x"), fault.Conflict)
	must(t, q.MarkPublished(ctx, p.Name, "2.0.0+x"))
	for _, v := range []string{"2.0.0", "2.0.0+y"} {
		if ok, err := q.WasPublished(ctx, p.Name, v); err != nil || !ok {
			t.Fatalf("WasPublished %s after 2.0.0+x = %v, %v", v, ok, err)
		}
	}
	wantKind(t, "MarkPublished 2.0.0 after 2.0.0+x", q.MarkPublished(ctx, p.Name, "2.0.0"), fault.Conflict)
	// A row written with its build metadata, as before, counts the same.
	if _, err := q.exec(ctx, `INSERT INTO published_versions (name, version) VALUES (?, ?)`, p.Name, "3.0.0-Rc.1+old"); err != nil {
		t.Fatal(err)
	}
	for v, want := range map[string]bool{"3.0.0-Rc.1": true, "3.0.0-Rc.1+new": true, "3.0.0-rc.1": false, "3.0.0": false, "3.0.0-Rc.10": false} {
		if ok, err := q.WasPublished(ctx, p.Name, v); err != nil || ok != want {
			t.Fatalf("WasPublished %s after an old 3.0.0-Rc.1+old = %v, %v; want %v", v, ok, err, want)
		}
	}

	// Dist-tags.
	must(t, q.SetDistTag(ctx, p.ID, "latest", "1.0.0"))
	must(t, q.SetDistTag(ctx, p.ID, "beta", "2.0.0-beta.1"))
	must(t, q.SetDistTag(ctx, p.ID, "beta", "1.0.0"))
	tags, err := q.DistTags(ctx, p.ID)
	if err != nil || !reflect.DeepEqual(tags, map[string]string{"latest": "1.0.0", "beta": "1.0.0"}) {
		t.Fatalf("dist-tags: %v %v", tags, err)
	}
	must(t, q.DeleteDistTag(ctx, p.ID, "beta"))
	if tags, _ := q.DistTags(ctx, p.ID); !reflect.DeepEqual(tags, map[string]string{"latest": "1.0.0"}) {
		t.Fatalf("dist-tags after delete: %v", tags)
	}

	// Owners, by name.
	must(t, q.AddOwner(ctx, p.ID, carol.ID))
	must(t, q.AddOwner(ctx, p.ID, bob.ID))
	must(t, q.AddOwner(ctx, p.ID, carol.ID))
	owners, err := q.Owners(ctx, p.ID)
	wantOwners := []Owner{{bob.ID, "bob", "bob@example.com"}, {carol.ID, "carol", "carol@example.com"}}
	if err != nil || !reflect.DeepEqual(owners, wantOwners) {
		t.Fatalf("owners: %+v %v", owners, err)
	}
	if ok, err := q.IsOwner(ctx, p.ID, bob.ID); err != nil || !ok {
		t.Fatalf("IsOwner bob = %v, %v", ok, err)
	}
	must(t, q.RemoveOwner(ctx, p.ID, bob.ID))
	if ok, _ := q.IsOwner(ctx, p.ID, bob.ID); ok {
		t.Fatal("bob still owns the package")
	}

	// Deleting the package takes its versions, tags and owners, and keeps
	// the record that 1.0.0 was published.
	must(t, q.DeletePackage(ctx, p.ID))
	_, err = q.PackageByName(ctx, p.Name)
	wantKind(t, "deleted package", err, fault.NotFound)
	if vs, _ := q.Versions(ctx, p.ID); len(vs) != 0 {
		t.Fatalf("versions survived package delete: %d", len(vs))
	}
	if tags, _ := q.DistTags(ctx, p.ID); len(tags) != 0 {
		t.Fatalf("dist-tags survived package delete: %v", tags)
	}
	if owners, _ := q.Owners(ctx, p.ID); len(owners) != 0 {
		t.Fatalf("owners survived package delete: %v", owners)
	}
	if used, _ := q.WasPublished(ctx, p.Name, "1.0.0"); !used {
		t.Fatal("published_versions lost after delete")
	}
}

func testTransactions(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	alice := mustUser(t, s.Q(), "alice")
	var pkgID int64
	must(t, s.InTx(ctx, func(q Queries) error {
		p, err := q.CreatePackage(ctx, Package{Name: "secret", Access: "restricted", CreatedAt: 1, ModifiedAt: 1})
		if err != nil {
			return err
		}
		pkgID = p.ID
		if err := q.AddOwner(ctx, p.ID, alice.ID); err != nil {
			return err
		}
		return q.InsertVersion(ctx, Version{PackageID: p.ID, Version: "1.0.0", Manifest: []byte(`{}`), BlobKey: "b", Size: 3, PublishedAt: 1})
	}))
	if _, err := s.Q().VersionOf(ctx, pkgID, "1.0.0"); err != nil {
		t.Fatalf("committed version: %v", err)
	}

	// A failed transaction leaves nothing behind, and its error keeps its kind.
	err := s.InTx(ctx, func(q Queries) error {
		if err := q.InsertVersion(ctx, Version{PackageID: pkgID, Version: "2.0.0", Manifest: []byte(`{}`), BlobKey: "c", Size: 1, PublishedAt: 2}); err != nil {
			return err
		}
		return q.InsertVersion(ctx, Version{PackageID: pkgID, Version: "1.0.0", Manifest: []byte(`{}`), BlobKey: "c", Size: 1, PublishedAt: 2})
	})
	wantKind(t, "duplicate version in a transaction", err, fault.Conflict)
	_, err = s.Q().VersionOf(ctx, pkgID, "2.0.0")
	wantKind(t, "rolled-back version", err, fault.NotFound)

	err = s.InTx(ctx, func(q Queries) error {
		if err := q.SetDistTag(ctx, pkgID, "latest", "1.0.0"); err != nil {
			return err
		}
		return fault.Invalidf("changed my mind")
	})
	wantKind(t, "error of fn", err, fault.Invalid)
	if tags, _ := s.Q().DistTags(ctx, pkgID); len(tags) != 0 {
		t.Fatalf("rolled-back dist-tag: %v", tags)
	}
}

// testTransactionsTakeTurns runs read-modify-write transactions together:
// none may lose another's update (a publish rebuilds the packument from
// what it reads).
func testTransactionsTakeTurns(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	p := mustPackage(t, s.Q(), "counted", "", "public")
	const workers, rounds = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for range workers {
		wg.Go(func() {
			for range rounds {
				errs <- s.InTx(ctx, func(q Queries) error {
					cur, err := q.PackageByName(ctx, p.Name)
					if err != nil {
						return err
					}
					cur.Rev++
					return q.SavePackage(ctx, cur)
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Q().PackageByName(ctx, p.Name)
	if err != nil || got.Rev != workers*rounds {
		t.Fatalf("rev = %d, %v; want %d", got.Rev, err, workers*rounds)
	}
}

func testSearch(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()
	alice, bob, dave, erin := mustUser(t, q, "alice"), mustUser(t, q, "bob"), mustUser(t, q, "dave"), mustUser(t, q, "erin")

	save := func(p Package, desc, keywords string) Package {
		t.Helper()
		p.Description, p.Keywords = desc, keywords
		must(t, q.SavePackage(ctx, p))
		return p
	}
	secret := save(mustPackage(t, q, "@alice/secret", "alice", "restricted"), "Top SECRET things", "hidden stuff")
	must(t, q.AddOwner(ctx, secret.ID, alice.ID))
	must(t, q.SetDistTag(ctx, secret.ID, "latest", "1.0.0"))
	save(mustPackage(t, q, "left-pad", "", "public"), "Pads strings on the left", "pad string")
	save(mustPackage(t, q, "pad", "", "public"), "Just pad", "")
	save(mustPackage(t, q, "padding-100%", "", "public"), "Literally 100% pad_ding", "")
	acme := save(mustPackage(t, q, "@acme/tool", "acme", "restricted"), "The acme tool", "")

	// bob reaches @acme/tool through a team, dave administers acme, erin is
	// a plain member of acme.
	org, err := q.CreateOrg(ctx, "acme")
	must(t, err)
	must(t, q.SetMember(ctx, org.ID, dave.ID, "admin"))
	must(t, q.SetMember(ctx, org.ID, erin.ID, "developer"))
	must(t, q.SetMember(ctx, org.ID, bob.ID, "developer"))
	team, err := q.CreateTeam(ctx, org.ID, "readers", "")
	must(t, err)
	must(t, q.AddTeamMember(ctx, team.ID, bob.ID))
	must(t, q.GrantTeam(ctx, team.ID, acme.ID, "read-only"))

	names := func(rs []SearchResult) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Name)
		}
		return out
	}
	tests := []struct {
		viewer int64
		words  []string
		want   []string
	}{
		{alice.ID, []string{"secret"}, []string{"@alice/secret"}},
		{alice.ID, []string{"HIDDEN"}, []string{"@alice/secret"}},
		{alice.ID, []string{"top", "stuff"}, []string{"@alice/secret"}},
		{alice.ID, []string{"top", "nothing"}, nil},
		{bob.ID, []string{"secret"}, nil},
		{0, []string{"secret"}, nil},
		{0, []string{"pad"}, []string{"pad", "left-pad", "padding-100%"}}, // exact name first, then shortest
		{0, []string{"100%"}, []string{"padding-100%"}},
		{0, []string{"%"}, []string{"padding-100%"}},
		{0, []string{"pad_"}, []string{"padding-100%"}},
		{0, []string{"d_n"}, nil}, // "_" is no wildcard: "din" does not match
		{0, []string{"tool"}, nil},
		{alice.ID, []string{"tool"}, nil},
		{bob.ID, []string{"tool"}, []string{"@acme/tool"}},  // through a team
		{dave.ID, []string{"tool"}, []string{"@acme/tool"}}, // an admin of the scope's organization
		{erin.ID, []string{"tool"}, nil},                    // a plain member
	}
	for _, tt := range tests {
		res, total, err := q.Search(ctx, tt.words, tt.viewer, Reach{All: true}, 0, 10)
		if err != nil || total != len(tt.want) || !slices.Equal(names(res), tt.want) {
			t.Errorf("Search(%q, viewer %d) = %v, total %d, %v; want %v", tt.words, tt.viewer, names(res), total, err, tt.want)
		}
	}
	// A credential that reaches less (a granular token) finds only the
	// restricted packages it reaches, public ones always.
	reaches := []struct {
		what   string
		viewer int64
		reach  Reach
		words  []string
		want   []string
	}{
		{"nothing", alice.ID, Reach{}, []string{"secret"}, nil},
		{"nothing, public", alice.ID, Reach{}, []string{"pad"}, []string{"pad", "left-pad", "padding-100%"}},
		{"the package", alice.ID, Reach{Names: []string{"@alice/secret"}}, []string{"secret"}, []string{"@alice/secret"}},
		{"another package", alice.ID, Reach{Names: []string{"@alice/other"}}, []string{"secret"}, nil},
		{"its scope", alice.ID, Reach{Scopes: []string{"alice"}}, []string{"secret"}, []string{"@alice/secret"}},
		{"another scope", alice.ID, Reach{Scopes: []string{"acme"}}, []string{"secret"}, nil},
		{"another scope, its packages", dave.ID, Reach{Scopes: []string{"acme"}}, []string{"acme"}, []string{"@acme/tool"}},
		{"a name and a scope", dave.ID, Reach{Names: []string{"@alice/secret"}, Scopes: []string{"acme"}}, []string{"tool"}, []string{"@acme/tool"}},
		{"a scope the user cannot read", erin.ID, Reach{Scopes: []string{"acme"}}, []string{"tool"}, nil},
		// On a private registry the reach limits public packages too.
		{"private: nothing, public", alice.ID, Reach{Private: true}, []string{"pad"}, nil},
		{"private: all, public", alice.ID, Reach{All: true, Private: true}, []string{"pad"}, []string{"pad", "left-pad", "padding-100%"}},
		{"private: a public name", alice.ID, Reach{Names: []string{"left-pad"}, Private: true}, []string{"pad"}, []string{"left-pad"}},
		{"private: a name and a scope", dave.ID, Reach{Names: []string{"pad"}, Scopes: []string{"acme"}, Private: true},
			[]string{""}, []string{"pad", "@acme/tool"}},
		{"private: the user's restricted package", alice.ID, Reach{Scopes: []string{"alice"}, Private: true}, []string{"secret"}, []string{"@alice/secret"}},
		{"private: a scope the user cannot read", erin.ID, Reach{Scopes: []string{"acme"}, Private: true}, []string{"tool"}, nil},
	}
	for _, tt := range reaches {
		res, total, err := q.Search(ctx, tt.words, tt.viewer, tt.reach, 0, 10)
		if err != nil || total != len(tt.want) || !slices.Equal(names(res), tt.want) {
			t.Errorf("Search(%q, viewer %d, reach %s) = %v, total %d, %v; want %v", tt.words, tt.viewer, tt.what, names(res), total, err, tt.want)
		}
	}
	res, _, _ := q.Search(ctx, []string{"secret"}, alice.ID, Reach{All: true}, 0, 10)
	if len(res) != 1 || res[0].Version != "1.0.0" || res[0].Description != "Top SECRET things" || res[0].Access != "restricted" {
		t.Errorf("result = %+v", res)
	}
	res, _, _ = q.Search(ctx, []string{"left"}, 0, Reach{}, 0, 10)
	if len(res) != 1 || res[0].Version != "" {
		t.Errorf("a package without latest: %+v", res)
	}
	res, total, err := q.Search(ctx, []string{"pad"}, 0, Reach{}, 1, 1)
	if err != nil || total != 3 || !slices.Equal(names(res), []string{"left-pad"}) {
		t.Errorf("second page of one: %v of %d, %v", names(res), total, err)
	}
}

func testTwoFactor(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()
	alice := mustUser(t, q, "alice")
	tf, err := q.TwoFactorOf(ctx, alice.ID)
	if err != nil || !reflect.DeepEqual(tf, TwoFactor{}) || tf.Enabled() {
		t.Fatalf("new user: %+v %v", tf, err)
	}
	_, err = q.TwoFactorOf(ctx, alice.ID+1000)
	wantKind(t, "missing user", err, fault.NotFound)

	pending := TwoFactor{Mode: "auth-and-writes", Pending: true, Secret: []byte{0, 0xff, 7}, LastStep: 0}
	must(t, q.SetTwoFactor(ctx, alice.ID, pending))
	tf, err = q.TwoFactorOf(ctx, alice.ID)
	if err != nil || !reflect.DeepEqual(tf, pending) || tf.Enabled() {
		t.Fatalf("pending: %+v %v", tf, err)
	}
	on := pending
	on.Pending, on.LastStep = false, 56_000_000
	must(t, q.SetTwoFactor(ctx, alice.ID, on))
	tf, _ = q.TwoFactorOf(ctx, alice.ID)
	if !reflect.DeepEqual(tf, on) || !tf.Enabled() {
		t.Fatalf("enabled: %+v", tf)
	}

	// Each step is used once, and never one older than the last.
	for _, st := range []struct {
		step int64
		ok   bool
	}{{56_000_001, true}, {56_000_001, false}, {56_000_000, false}, {56_000_003, true}, {56_000_002, false}} {
		ok, err := q.UseStep(ctx, alice.ID, st.step)
		if err != nil || ok != st.ok {
			t.Errorf("UseStep(%d) = %v, %v; want %v", st.step, ok, err, st.ok)
		}
	}

	must(t, q.SetTwoFactor(ctx, alice.ID, TwoFactor{}))
	tf, _ = q.TwoFactorOf(ctx, alice.ID)
	if !reflect.DeepEqual(tf, TwoFactor{}) {
		t.Fatalf("disabled: %+v", tf)
	}
}

func testRecoveryCodes(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()
	alice, bob := mustUser(t, q, "alice"), mustUser(t, q, "bob")
	unused := func(u User) int {
		t.Helper()
		n, err := q.UnusedRecoveryCodes(ctx, u.ID)
		must(t, err)
		return n
	}
	use := func(u User, code string) bool {
		t.Helper()
		ok, err := q.UseRecoveryCode(ctx, u.ID, []byte(code))
		must(t, err)
		return ok
	}
	if unused(alice) != 0 {
		t.Fatal("codes before any were made")
	}
	must(t, q.ReplaceRecoveryCodes(ctx, alice.ID, [][]byte{[]byte("c1"), []byte("c2"), {0, 0xff}}))
	if n := unused(alice); n != 3 {
		t.Fatalf("unused = %d, want 3", n)
	}
	if !use(alice, "c2") || use(alice, "c2") || use(bob, "c1") || use(alice, "c9") {
		t.Fatal("a code is used once, by its owner")
	}
	if !use(alice, "\x00\xff") {
		t.Fatal("binary code not found")
	}
	if n := unused(alice); n != 1 {
		t.Fatalf("unused = %d, want 1", n)
	}
	must(t, q.ReplaceRecoveryCodes(ctx, alice.ID, [][]byte{[]byte("c4")}))
	if unused(alice) != 1 || use(alice, "c1") || !use(alice, "c4") {
		t.Fatal("replacing codes did not drop the old ones")
	}
}

// testLockouts: attempt counters. Every reservation is counted once, in
// parallel too (each gets a count of its own, as the lockout needs to
// refuse all but the first five of a burst); a lock holds the count, an
// ended lock or a quiet period starts again; a success resets only the
// count it was given.
func testLockouts(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()
	alice := mustUser(t, q, "alice")
	k := AttemptKey{UserID: alice.ID, Path: "otp", Client: "192.0.2.1"}
	if a, err := q.AttemptsOf(ctx, k); err != nil || a != (Attempts{}) {
		t.Fatalf("no attempts: %+v %v", a, err)
	}
	const n = 200
	counts := make([]int, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := q.ReserveAttempt(ctx, k, 1000, 0)
			if err != nil {
				errs <- err
				return
			}
			counts[i] = a.Failures
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	slices.Sort(counts)
	for i, c := range counts {
		if c != i+1 {
			t.Fatalf("%d parallel reservations: counts %v, want 1 to %d each once", n, counts, n)
		}
	}
	// Another client and another path have counters of their own.
	other := AttemptKey{UserID: alice.ID, Path: "otp", Client: AllClients}
	if a, err := q.ReserveAttempt(ctx, other, 1000, 0); err != nil || a.Failures != 1 {
		t.Fatalf("another client's counter: %+v %v", a, err)
	}
	// A success with a stale count keeps the counter; with the current one resets it.
	must(t, q.AttemptSucceeded(ctx, k, 5, 1001))
	if a, _ := q.AttemptsOf(ctx, k); a.Failures != n || a.LastSuccess != 1001 {
		t.Fatalf("after a success with a stale count: %+v", a)
	}
	// A lock is set once, holds the count, and ends.
	if ok, err := q.LockAttempts(ctx, k, 1002, 5000); err != nil || !ok {
		t.Fatalf("lock: %v %v", ok, err)
	}
	if ok, err := q.LockAttempts(ctx, k, 1003, 9000); err != nil || ok {
		t.Fatalf("a second lock while locked: %v %v", ok, err)
	}
	if a, err := q.ReserveAttempt(ctx, k, 4000, 0); err != nil || a.Failures != n || a.LockedUntil != 5000 || a.Strikes != 1 {
		t.Fatalf("reserve while locked: %+v %v", a, err)
	}
	a, err := q.ReserveAttempt(ctx, k, 5000, 0)
	if err != nil || a.Failures != 1 || a.LockedUntil != 0 || a.Strikes != 1 || a.LastAttempt != 5000 {
		t.Fatalf("reserve after the lock ended: %+v %v", a, err)
	}
	must(t, q.AttemptSucceeded(ctx, k, 1, 5001))
	if a, _ := q.AttemptsOf(ctx, k); a.Failures != 0 || a.Strikes != 0 || a.LastSuccess != 5001 {
		t.Fatalf("after a success with the current count: %+v", a)
	}
	// A quiet period starts the count again and forgets the strikes.
	for range 3 {
		if _, err := q.ReserveAttempt(ctx, k, 6000, 0); err != nil {
			t.Fatal(err)
		}
	}
	must2(t)(q.LockAttempts(ctx, k, 6000, 6500))
	if a, err := q.ReserveAttempt(ctx, k, 90_000, 80_000); err != nil || a.Failures != 1 || a.Strikes != 0 {
		t.Fatalf("reserve after a quiet period: %+v %v", a, err)
	}
	// Purging keeps locked counters and counters that saw a success.
	bob := mustUser(t, q, "bob")
	for i, c := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"} {
		bk := AttemptKey{UserID: bob.ID, Path: "password", Client: c}
		if _, err := q.ReserveAttempt(ctx, bk, 100, 0); err != nil {
			t.Fatal(err)
		}
		switch i {
		case 1:
			must2(t)(q.LockAttempts(ctx, bk, 100, 1_000_000))
		case 2:
			must(t, q.AttemptSucceeded(ctx, bk, 1, 100))
		}
	}
	must(t, q.PurgeAttempts(ctx, bob.ID, 200, 150, 50))
	for i, c := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"} {
		a, err := q.AttemptsOf(ctx, AttemptKey{UserID: bob.ID, Path: "password", Client: c})
		if err != nil || (a == Attempts{}) != (i == 0) {
			t.Fatalf("after purging, %s: %+v %v", c, a, err)
		}
	}
	if a, _ := q.AttemptsOf(ctx, k); a.Failures != 1 {
		t.Fatalf("purging bob's counters touched alice's: %+v", a)
	}
}

// must2 fails t when a call returning a value and an error fails.
func must2(t *testing.T) func(bool, error) {
	return func(_ bool, err error) {
		t.Helper()
		must(t, err)
	}
}

func testPackageMFA(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()
	p := mustPackage(t, q, "lib", "", "public")
	m, err := q.PackageMFAOf(ctx, p.ID)
	if err != nil || m != (PackageMFA{PublishRequiresTFA: false, AutomationOverridesTFA: true}) {
		t.Fatalf("default: %+v %v", m, err)
	}
	for _, want := range []PackageMFA{{true, false}, {true, true}, {false, false}} {
		must(t, q.SetPackageMFA(ctx, p.ID, want))
		if got, err := q.PackageMFAOf(ctx, p.ID); err != nil || got != want {
			t.Fatalf("set %+v, got %+v %v", want, got, err)
		}
	}
	_, err = q.PackageMFAOf(ctx, p.ID+1000)
	wantKind(t, "missing package", err, fault.NotFound)
}

func testWebAuth(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()
	alice, bob := mustUser(t, q, "alice"), mustUser(t, q, "bob")
	const now = 10_000

	login, err := q.CreateWebAuth(ctx, WebAuth{LoginHash: []byte("l1"), DoneHash: []byte("d1"), Kind: "login",
		Command: "login", CreatedAt: now, ExpiresAt: now + 600, ClientIP: "192.0.2.7"})
	if err != nil || login.ID == 0 {
		t.Fatal(login, err)
	}
	_, err = q.CreateWebAuth(ctx, WebAuth{LoginHash: []byte("l1"), DoneHash: []byte("d9"), Kind: "login", CreatedAt: now, ExpiresAt: now})
	wantKind(t, "duplicate login hash", err, fault.Conflict)
	got, err := q.WebAuthByLogin(ctx, []byte("l1"))
	if err != nil || !reflect.DeepEqual(got, login) || got.ClientIP != "192.0.2.7" {
		t.Fatalf("by login: %+v %v\nwant %+v", got, err, login)
	}
	got, err = q.WebAuthByDone(ctx, []byte("d1"))
	if err != nil || got.ID != login.ID || got.UserID.Valid || got.Result != nil || got.Handed || got.OTPUsed {
		t.Fatalf("by done: %+v %v", got, err)
	}
	_, err = q.WebAuthByDone(ctx, []byte("l1"))
	wantKind(t, "login hash as done hash", err, fault.NotFound)

	if ok, err := q.FinishWebAuth(ctx, login.ID, alice.ID, []byte("sealed"), nil); err != nil || !ok {
		t.Fatalf("finish: %v %v", ok, err)
	}
	if ok, _ := q.FinishWebAuth(ctx, login.ID, bob.ID, []byte("other"), nil); ok {
		t.Fatal("finished twice")
	}
	got, _ = q.WebAuthByDone(ctx, []byte("d1"))
	if got.UserID != (sql.NullInt64{Int64: alice.ID, Valid: true}) || string(got.Result) != "sealed" || got.OTPHash != nil {
		t.Fatalf("finished: %+v", got)
	}
	if ok, err := q.HandOverWebAuth(ctx, login.ID); err != nil || !ok {
		t.Fatalf("hand over: %v %v", ok, err)
	}
	if ok, _ := q.HandOverWebAuth(ctx, login.ID); ok {
		t.Fatal("handed over twice")
	}
	got, _ = q.WebAuthByDone(ctx, []byte("d1"))
	if got.Result != nil || !got.Handed {
		t.Fatalf("handed over: %+v", got)
	}
	if ok, _ := q.FinishWebAuth(ctx, login.ID, alice.ID, []byte("again"), nil); ok {
		t.Fatal("finished after hand-over")
	}

	// A web OTP is used once, by its user, before it expires.
	otp, err := q.CreateWebAuth(ctx, WebAuth{LoginHash: []byte("l2"), DoneHash: []byte("d2"), Kind: "otp",
		UserID: sql.NullInt64{Int64: alice.ID, Valid: true}, Command: "publish", CreatedAt: now, ExpiresAt: now + 600})
	must(t, err)
	if ok, err := q.FinishWebAuth(ctx, otp.ID, alice.ID, nil, []byte("code")); err != nil || !ok {
		t.Fatalf("finish otp: %v %v", ok, err)
	}
	stale, err := q.CreateWebAuth(ctx, WebAuth{LoginHash: []byte("l3"), DoneHash: []byte("d3"), Kind: "otp",
		UserID: sql.NullInt64{Int64: alice.ID, Valid: true}, CreatedAt: now - 700, ExpiresAt: now - 100})
	must(t, err)
	if ok, _ := q.FinishWebAuth(ctx, stale.ID, alice.ID, nil, []byte("old")); !ok {
		t.Fatal("finish stale otp")
	}
	for _, c := range []struct {
		user int64
		code string
		ok   bool
	}{{bob.ID, "code", false}, {alice.ID, "old", false}, {alice.ID, "code", true}, {alice.ID, "code", false}} {
		if ok, err := q.UseWebOTP(ctx, c.user, []byte(c.code), now); err != nil || ok != c.ok {
			t.Errorf("UseWebOTP(%d, %q) = %v, %v; want %v", c.user, c.code, ok, err, c.ok)
		}
	}
	if got, _ := q.WebAuthByLogin(ctx, []byte("l2")); !got.OTPUsed || string(got.OTPHash) != "code" {
		t.Fatalf("used otp: %+v", got)
	}

	must(t, q.PurgeWebAuth(ctx, now))
	_, err = q.WebAuthByLogin(ctx, []byte("l3"))
	wantKind(t, "purged", err, fault.NotFound)
	if _, err := q.WebAuthByLogin(ctx, []byte("l2")); err != nil {
		t.Fatalf("unexpired confirmation purged: %v", err)
	}

	// Live confirmations are counted per client address and in all.
	for i, c := range []struct {
		client  string
		expires int64
	}{{"192.0.2.1", now + 1000}, {"192.0.2.1", now + 1000}, {"192.0.2.1", now - 1}, {"192.0.2.2", now + 1000}} {
		w, err := q.CreateWebAuth(ctx, WebAuth{LoginHash: []byte(fmt.Sprint("cl", i)), DoneHash: []byte(fmt.Sprint("cd", i)),
			Kind: "login", CreatedAt: now, ExpiresAt: c.expires, Client: c.client})
		must(t, err)
		if got, _ := q.WebAuthByLogin(ctx, w.LoginHash); got.Client != c.client {
			t.Fatalf("client read back %q, want %q", got.Client, c.client)
		}
	}
	live := 2 // the two of 192.0.2.1 that have not expired
	mine, all, err := q.LiveWebAuth(ctx, "192.0.2.1", now)
	if err != nil || mine != live || all < live+1 {
		t.Fatalf("LiveWebAuth = %d, %d, %v; want %d of the client and at least %d in all", mine, all, err, live, live+1)
	}
}

func testOrgs(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()
	alice, bob, carol := mustUser(t, q, "alice"), mustUser(t, q, "bob"), mustUser(t, q, "carol")
	zed := mustUser(t, q, "Zed") // upper case sorts first, by byte
	acme, err := q.CreateOrg(ctx, "acme")
	if err != nil || acme.ID == 0 || acme.CreatedAt == 0 {
		t.Fatal(acme, err)
	}
	_, err = q.CreateOrg(ctx, "acme")
	wantKind(t, "duplicate org", err, fault.Conflict)
	beta, err := q.CreateOrg(ctx, "beta")
	must(t, err)
	if got, err := q.OrgByName(ctx, "acme"); err != nil || got != acme {
		t.Fatalf("by name: %+v %v", got, err)
	}
	_, err = q.OrgByName(ctx, "gamma")
	wantKind(t, "missing org", err, fault.NotFound)

	must(t, q.SetMember(ctx, acme.ID, carol.ID, "owner"))
	must(t, q.SetMember(ctx, acme.ID, alice.ID, "developer"))
	must(t, q.SetMember(ctx, acme.ID, alice.ID, "admin"))
	must(t, q.SetMember(ctx, acme.ID, zed.ID, "developer"))
	must(t, q.SetMember(ctx, beta.ID, alice.ID, "owner"))
	members, err := q.Members(ctx, acme.ID)
	want := []Member{{zed.ID, "Zed", "developer"}, {alice.ID, "alice", "admin"}, {carol.ID, "carol", "owner"}}
	if err != nil || !reflect.DeepEqual(members, want) {
		t.Fatalf("members: %+v %v", members, err)
	}
	orgs, err := q.OrgsOf(ctx, alice.ID)
	if err != nil || !reflect.DeepEqual(orgs, []Membership{{acme, "admin"}, {beta, "owner"}}) {
		t.Fatalf("orgs of alice: %+v %v", orgs, err)
	}
	for _, c := range []struct {
		org  int64
		user int64
		want Role
	}{{acme.ID, alice.ID, "admin"}, {acme.ID, bob.ID, ""}, {beta.ID, carol.ID, ""}} {
		if role, err := q.RoleIn(ctx, c.org, c.user); err != nil || role != c.want {
			t.Errorf("RoleIn(%d, %d) = %q, %v; want %q", c.org, c.user, role, err, c.want)
		}
	}
	for _, c := range []struct {
		scope string
		user  int64
		want  Role
	}{{"acme", carol.ID, "owner"}, {"acme", bob.ID, ""}, {"alice", alice.ID, ""}} {
		if role, err := q.ScopeRole(ctx, c.scope, c.user); err != nil || role != c.want {
			t.Errorf("ScopeRole(%q, %d) = %q, %v; want %q", c.scope, c.user, role, err, c.want)
		}
	}

	// Leaving an organization leaves its teams, not other organizations'.
	devs, err := q.CreateTeam(ctx, acme.ID, "developers", "")
	must(t, err)
	betaDevs, err := q.CreateTeam(ctx, beta.ID, "developers", "")
	must(t, err)
	must(t, q.AddTeamMember(ctx, devs.ID, alice.ID))
	must(t, q.AddTeamMember(ctx, betaDevs.ID, alice.ID))
	must(t, q.RemoveMember(ctx, acme.ID, alice.ID))
	if role, _ := q.RoleIn(ctx, acme.ID, alice.ID); role != "" {
		t.Fatalf("still a member: %q", role)
	}
	if m, _ := q.TeamMembers(ctx, devs.ID); len(m) != 0 {
		t.Fatalf("still in the team: %v", m)
	}
	if m, _ := q.TeamMembers(ctx, betaDevs.ID); !slices.Equal(m, []string{"alice"}) {
		t.Fatalf("left another organization's team: %v", m)
	}
}

func testTeams(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()
	alice, bob, carol := mustUser(t, q, "alice"), mustUser(t, q, "bob"), mustUser(t, q, "carol")
	acme, err := q.CreateOrg(ctx, "acme")
	must(t, err)
	other, err := q.CreateOrg(ctx, "other")
	must(t, err)
	readers, err := q.CreateTeam(ctx, acme.ID, "readers", "read things")
	if err != nil || readers.ID == 0 {
		t.Fatal(readers, err)
	}
	writers, err := q.CreateTeam(ctx, acme.ID, "writers", "")
	must(t, err)
	_, err = q.CreateTeam(ctx, acme.ID, "readers", "")
	wantKind(t, "duplicate team", err, fault.Conflict)
	if _, err := q.CreateTeam(ctx, other.ID, "readers", ""); err != nil {
		t.Fatalf("same team name in another org: %v", err)
	}
	if got, err := q.TeamByName(ctx, acme.ID, "readers"); err != nil || got != readers {
		t.Fatalf("by name: %+v %v", got, err)
	}
	_, err = q.TeamByName(ctx, acme.ID, "nobody")
	wantKind(t, "missing team", err, fault.NotFound)
	teams, err := q.Teams(ctx, acme.ID)
	if err != nil || !reflect.DeepEqual(teams, []Team{readers, writers}) {
		t.Fatalf("teams: %+v %v", teams, err)
	}

	must(t, q.AddTeamMember(ctx, readers.ID, carol.ID))
	must(t, q.AddTeamMember(ctx, readers.ID, bob.ID))
	must(t, q.AddTeamMember(ctx, readers.ID, bob.ID))
	must(t, q.AddTeamMember(ctx, writers.ID, bob.ID))
	if m, err := q.TeamMembers(ctx, readers.ID); err != nil || !slices.Equal(m, []string{"bob", "carol"}) {
		t.Fatalf("team members: %v %v", m, err)
	}

	tool := mustPackage(t, q, "@acme/tool", "acme", "restricted")
	lib := mustPackage(t, q, "@acme/lib", "acme", "restricted")
	mine := mustPackage(t, q, "mine", "", "public")
	must(t, q.AddOwner(ctx, mine.ID, bob.ID))
	must(t, q.AddOwner(ctx, lib.ID, alice.ID))
	must(t, q.GrantTeam(ctx, readers.ID, tool.ID, "read-write"))
	must(t, q.GrantTeam(ctx, readers.ID, tool.ID, "read-only")) // replaces
	must(t, q.GrantTeam(ctx, readers.ID, lib.ID, "read-only"))
	must(t, q.GrantTeam(ctx, writers.ID, lib.ID, "read-write"))
	must(t, q.GrantTeam(ctx, readers.ID, mine.ID, "read-only"))

	check := func(what string, got map[string]string, err error, want map[string]string) {
		t.Helper()
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, %v; want %v", what, got, err, want)
		}
	}
	got, err := q.TeamPackages(ctx, readers.ID)
	check("TeamPackages(readers)", got, err, map[string]string{"@acme/tool": "read-only", "@acme/lib": "read-only", "mine": "read-only"})
	got, err = q.ScopePackages(ctx, "acme")
	check("ScopePackages(acme)", got, err, map[string]string{"@acme/tool": "read-write", "@acme/lib": "read-write"})
	// The stronger permission wins: owner over team, read-write over read-only.
	got, err = q.UserPackages(ctx, bob.ID)
	check("UserPackages(bob)", got, err, map[string]string{"@acme/tool": "read-only", "@acme/lib": "read-write", "mine": "read-write"})
	got, err = q.UserPackages(ctx, carol.ID)
	check("UserPackages(carol)", got, err, map[string]string{"@acme/tool": "read-only", "@acme/lib": "read-only", "mine": "read-only"})
	got, err = q.Collaborators(ctx, lib.ID)
	check("Collaborators(lib)", got, err, map[string]string{"alice": "read-write", "bob": "read-write", "carol": "read-only"})
	got, err = q.Collaborators(ctx, mine.ID)
	check("Collaborators(mine)", got, err, map[string]string{"bob": "read-write", "carol": "read-only"})

	for _, c := range []struct {
		pkg, user int64
		want      TeamPermission
	}{{lib.ID, bob.ID, "read-write"}, {lib.ID, carol.ID, "read-only"}, {lib.ID, alice.ID, ""}, {tool.ID, bob.ID, "read-only"}} {
		if perm, err := q.TeamPermission(ctx, c.pkg, c.user); err != nil || perm != c.want {
			t.Errorf("TeamPermission(%d, %d) = %q, %v; want %q", c.pkg, c.user, perm, err, c.want)
		}
	}

	// Rights reads in one query what IsOwner, ScopeRole and TeamPermission
	// read apart; an unscoped package has no organization role or team grant.
	wantRights := map[[2]int64]Rights{
		{lib.ID, bob.ID}:    {TeamPermission: "read-write"},
		{lib.ID, alice.ID}:  {Owner: true},
		{lib.ID, carol.ID}:  {TeamPermission: "read-only"},
		{tool.ID, bob.ID}:   {TeamPermission: "read-only"},
		{mine.ID, bob.ID}:   {Owner: true},
		{mine.ID, carol.ID}: {},
	}
	for _, pkg := range []Package{lib, tool, mine} {
		for _, user := range []User{alice, bob, carol} {
			got, err := q.Rights(ctx, pkg.ID, pkg.Scope, user.ID)
			must(t, err)
			owner, err := q.IsOwner(ctx, pkg.ID, user.ID)
			must(t, err)
			want := Rights{Owner: owner}
			if pkg.Scope != "" {
				if want.OrgRole, err = q.ScopeRole(ctx, pkg.Scope, user.ID); err != nil {
					t.Fatal(err)
				}
				if want.TeamPermission, err = q.TeamPermission(ctx, pkg.ID, user.ID); err != nil {
					t.Fatal(err)
				}
			}
			if got != want {
				t.Errorf("Rights(%s, %s) = %+v; the single reads say %+v", pkg.Name, user.Name, got, want)
			}
			if w, ok := wantRights[[2]int64{pkg.ID, user.ID}]; ok && (got.Owner != w.Owner || got.TeamPermission != w.TeamPermission) {
				t.Errorf("Rights(%s, %s) = %+v; want owner %v, team permission %q", pkg.Name, user.Name, got, w.Owner, w.TeamPermission)
			}
		}
	}

	must(t, q.RevokeTeam(ctx, writers.ID, lib.ID))
	if perm, _ := q.TeamPermission(ctx, lib.ID, bob.ID); perm != "read-only" {
		t.Errorf("after revoke: %q", perm)
	}
	must(t, q.RemoveTeamMember(ctx, readers.ID, carol.ID))
	if got, _ := q.UserPackages(ctx, carol.ID); len(got) != 0 {
		t.Errorf("carol reaches packages after leaving the team: %v", got)
	}
	must(t, q.DeleteTeam(ctx, readers.ID))
	_, err = q.TeamByName(ctx, acme.ID, "readers")
	wantKind(t, "deleted team", err, fault.NotFound)
	if got, _ := q.UserPackages(ctx, bob.ID); !reflect.DeepEqual(got, map[string]string{"mine": "read-write"}) {
		t.Errorf("bob after the team was deleted: %v", got)
	}
	// Deleting a package takes its grants along.
	must(t, q.GrantTeam(ctx, writers.ID, tool.ID, "read-write"))
	must(t, q.DeletePackage(ctx, tool.ID))
	if got, _ := q.TeamPackages(ctx, writers.ID); len(got) != 0 {
		t.Errorf("grants of a deleted package: %v", got)
	}
}

// acmeWithReaders makes the users alice, bob and carol and the organization
// acme, which alice owns and bob is a developer of, with a team readers
// that bob is in.
func acmeWithReaders(t *testing.T, q Queries) (alice, bob, carol User, acme Org, readers Team) {
	t.Helper()
	ctx := t.Context()
	alice, bob, carol = mustUser(t, q, "alice"), mustUser(t, q, "bob"), mustUser(t, q, "carol")
	acme, err := q.CreateOrg(ctx, "acme")
	must(t, err)
	must(t, q.SetMember(ctx, acme.ID, alice.ID, RoleOwner))
	must(t, q.SetMember(ctx, acme.ID, bob.ID, RoleDeveloper))
	readers, err = q.CreateTeam(ctx, acme.ID, "readers", "")
	must(t, err)
	must(t, q.AddTeamMember(ctx, readers.ID, bob.ID))
	return alice, bob, carol, acme, readers
}

// testPackageLists checks the user and scope package lists: what each lists,
// and that the viewer's rights on each package are those Rights reads.
func testPackageLists(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()
	alice, bob, carol, _, readers := acmeWithReaders(t, q)
	tool := mustPackage(t, q, "@acme/tool", "acme", "restricted")
	lib := mustPackage(t, q, "@acme/lib", "acme", "restricted")
	mustPackage(t, q, "@acme/pub", "acme", "public")
	mine := mustPackage(t, q, "mine", "", "public")
	mustPackage(t, q, "@other/x", "other", "public")
	must(t, q.AddOwner(ctx, lib.ID, alice.ID))
	must(t, q.AddOwner(ctx, mine.ID, bob.ID))
	must(t, q.GrantTeam(ctx, readers.ID, tool.ID, TeamReadOnly))
	must(t, q.GrantTeam(ctx, readers.ID, lib.ID, TeamReadWrite))
	// A grant on an unscoped package counts for the listed user, but never
	// as the viewer's right (Rights ignores it too).
	must(t, q.GrantTeam(ctx, readers.ID, mine.ID, TeamReadOnly))

	type row struct {
		name   string
		access Access
		perm   TeamPermission
		viewer Rights
	}
	rows := func(list []ListedPackage) []row {
		out := []row{}
		for _, l := range list {
			out = append(out, row{l.Name, l.Access, l.Permission, l.Viewer})
		}
		return out
	}
	tests := []struct {
		what string
		list func() ([]ListedPackage, error)
		want []row
	}{
		{"acme seen by bob", func() ([]ListedPackage, error) { return q.PackagesInScope(ctx, "acme", bob.ID) }, []row{
			{"@acme/lib", Restricted, "", Rights{OrgRole: RoleDeveloper, TeamPermission: TeamReadWrite}},
			{"@acme/pub", Public, "", Rights{OrgRole: RoleDeveloper}},
			{"@acme/tool", Restricted, "", Rights{OrgRole: RoleDeveloper, TeamPermission: TeamReadOnly}},
		}},
		{"acme seen by alice", func() ([]ListedPackage, error) { return q.PackagesInScope(ctx, "acme", alice.ID) }, []row{
			{"@acme/lib", Restricted, "", Rights{Owner: true, OrgRole: RoleOwner}},
			{"@acme/pub", Public, "", Rights{OrgRole: RoleOwner}},
			{"@acme/tool", Restricted, "", Rights{OrgRole: RoleOwner}},
		}},
		{"acme seen by no one", func() ([]ListedPackage, error) { return q.PackagesInScope(ctx, "acme", 0) }, []row{
			{"@acme/lib", Restricted, "", Rights{}},
			{"@acme/pub", Public, "", Rights{}},
			{"@acme/tool", Restricted, "", Rights{}},
		}},
		{"empty scope", func() ([]ListedPackage, error) { return q.PackagesInScope(ctx, "nobody", bob.ID) }, []row{}},
		{"bob's seen by bob", func() ([]ListedPackage, error) { return q.PackagesOf(ctx, bob.ID, bob.ID) }, []row{
			{"@acme/lib", Restricted, TeamReadWrite, Rights{OrgRole: RoleDeveloper, TeamPermission: TeamReadWrite}},
			{"@acme/tool", Restricted, TeamReadOnly, Rights{OrgRole: RoleDeveloper, TeamPermission: TeamReadOnly}},
			{"mine", Public, TeamReadWrite, Rights{Owner: true}},
		}},
		{"bob's seen by carol", func() ([]ListedPackage, error) { return q.PackagesOf(ctx, bob.ID, carol.ID) }, []row{
			{"@acme/lib", Restricted, TeamReadWrite, Rights{}},
			{"@acme/tool", Restricted, TeamReadOnly, Rights{}},
			{"mine", Public, TeamReadWrite, Rights{}},
		}},
		{"alice's seen by bob", func() ([]ListedPackage, error) { return q.PackagesOf(ctx, alice.ID, bob.ID) }, []row{
			{"@acme/lib", Restricted, TeamReadWrite, Rights{OrgRole: RoleDeveloper, TeamPermission: TeamReadWrite}},
		}},
		{"carol's", func() ([]ListedPackage, error) { return q.PackagesOf(ctx, carol.ID, bob.ID) }, []row{}},
	}
	for _, tt := range tests {
		list, err := tt.list()
		must(t, err)
		if got := rows(list); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.what, got, tt.want)
		}
	}
	// The viewer's rights in a list are what Rights reads for the package.
	for _, viewer := range []User{alice, bob, carol} {
		list, err := q.PackagesOf(ctx, bob.ID, viewer.ID)
		must(t, err)
		scoped, err := q.PackagesInScope(ctx, "acme", viewer.ID)
		must(t, err)
		for _, l := range append(list, scoped...) {
			pkg, err := q.PackageByName(ctx, l.Name)
			must(t, err)
			r, err := q.Rights(ctx, pkg.ID, pkg.Scope, viewer.ID)
			must(t, err)
			if l.Viewer != r {
				t.Errorf("%s seen by %s: listed with %+v, Rights says %+v", l.Name, viewer.Name, l.Viewer, r)
			}
		}
	}
}

func testBlobReferences(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()
	a, err := q.CreatePackage(ctx, Package{Name: "a", Access: "public", CreatedAt: 1, ModifiedAt: 1})
	must(t, err)
	bpkg, err := q.CreatePackage(ctx, Package{Name: "b", Access: "public", CreatedAt: 1, ModifiedAt: 1})
	must(t, err)
	// "shared" serves two versions of two packages (the same bytes).
	for _, v := range []Version{
		{PackageID: a.ID, Version: "1.0.0", BlobKey: "sha512/aa/one"},
		{PackageID: a.ID, Version: "2.0.0", BlobKey: "sha512/bb/shared"},
		{PackageID: bpkg.ID, Version: "1.0.0", BlobKey: "sha512/bb/shared"},
	} {
		v.Manifest, v.Size, v.PublishedAt = []byte(`{}`), 1, 1
		must(t, q.InsertVersion(ctx, v))
	}
	check := func(when string, keys []string, want map[string]bool) {
		t.Helper()
		got, err := q.ReferencedBlobs(ctx, keys)
		if err != nil {
			t.Fatalf("%s: ReferencedBlobs: %v", when, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: ReferencedBlobs(%q) = %v, want %v", when, keys, got, want)
		}
	}
	check("no keys", nil, map[string]bool{})
	check("all", []string{"sha512/aa/one", "sha512/bb/shared", "sha512/cc/orphan"},
		map[string]bool{"sha512/aa/one": true, "sha512/bb/shared": true})
	check("case and prefix differ", []string{"SHA512/AA/ONE", "sha512/aa/on", "sha512/aa/one "}, map[string]bool{})

	// More keys than one batch: the referenced ones are found in any batch.
	var many []string
	for i := range 1234 {
		many = append(many, fmt.Sprintf("sha512/zz/%04d", i))
	}
	many[3], many[777], many[1233] = "sha512/aa/one", "sha512/bb/shared", "sha512/aa/one"
	check("three batches", many, map[string]bool{"sha512/aa/one": true, "sha512/bb/shared": true})

	// A shared blob stays referenced until its last version goes.
	must(t, q.DeleteVersion(ctx, a.ID, "2.0.0"))
	check("one user of shared left", []string{"sha512/bb/shared"}, map[string]bool{"sha512/bb/shared": true})
	must(t, q.DeletePackage(ctx, bpkg.ID))
	check("no user of shared left", []string{"sha512/bb/shared", "sha512/aa/one"}, map[string]bool{"sha512/aa/one": true})

	// Inside a transaction, an uncommitted version counts for that transaction.
	must(t, s.InTx(ctx, func(tq Queries) error {
		if err := tq.InsertVersion(ctx, Version{PackageID: a.ID, Version: "3.0.0", Manifest: []byte(`{}`), BlobKey: "sha512/cc/new", Size: 1, PublishedAt: 2}); err != nil {
			return err
		}
		got, err := tq.ReferencedBlobs(ctx, []string{"sha512/cc/new"})
		if err != nil || !got["sha512/cc/new"] {
			t.Errorf("inside the transaction: %v, %v", got, err)
		}
		return nil
	}))
	check("after commit", []string{"sha512/cc/new"}, map[string]bool{"sha512/cc/new": true})
}

// testTrustConfigs: one trust configuration per package (a second is a
// Conflict), read back whole, deleted only by its own package and id, and
// gone with its package; the tokens exchanged under one are found by it.
func testTrustConfigs(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()
	alice := mustUser(t, q, "alice")
	lib := mustPackage(t, q, "lib", "", "public")
	other := mustPackage(t, q, "other", "", "public")
	_, err := q.TrustConfigOf(ctx, lib.ID)
	wantKind(t, "no configuration yet", err, fault.NotFound)
	c := TrustConfig{ID: "11111111-1111-4111-8111-111111111111", PackageID: lib.ID, Type: "github",
		Issuer: "https://ci.example", Claims: `{"repository":"o/r","workflow_ref":{"file":"p.yml"}}`,
		Permissions: `["createPackage"]`, CreatedBy: alice.ID, CreatedAt: 5}
	must(t, q.CreateTrustConfig(ctx, c))
	got, err := q.TrustConfigOf(ctx, lib.ID)
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("read back %+v %v\nwant %+v", got, err, c)
	}
	second := c
	second.ID = "22222222-2222-4222-8222-222222222222"
	wantKind(t, "a second configuration", q.CreateTrustConfig(ctx, second), fault.Conflict)
	wantKind(t, "another package's id", q.DeleteTrustConfig(ctx, other.ID, c.ID), fault.NotFound)
	wantKind(t, "an unknown id", q.DeleteTrustConfig(ctx, lib.ID, second.ID), fault.NotFound)

	grants := `{"package":"lib","permissions":["createPackage"],"config_id":"` + c.ID + `"}`
	mine, err := q.CreateToken(ctx, Token{Key: "t1", Hash: []byte("h-t1"), UserID: alice.ID, Kind: "oidc", Masked: "m", Grants: grants, CreatedAt: 1})
	must(t, err)
	_, err = q.CreateToken(ctx, Token{Key: "t2", Hash: []byte("h-t2"), UserID: alice.ID, Kind: "oidc", Masked: "m",
		Grants: `{"package":"lib","config_id":"` + second.ID + `"}`, CreatedAt: 1})
	must(t, err)
	revoked, err := q.CreateToken(ctx, Token{Key: "t3", Hash: []byte("h-t3"), UserID: alice.ID, Kind: "oidc", Masked: "m", Grants: grants, CreatedAt: 1})
	must(t, err)
	must(t, q.RevokeToken(ctx, revoked.ID, alice.ID))
	live, err := q.LiveTrustTokens(ctx, alice.ID, c.ID)
	if err != nil || len(live) != 1 || live[0].ID != mine.ID {
		t.Fatalf("live tokens of the configuration: %+v %v", live, err)
	}

	bob := mustUser(t, q, "bob")
	if names, err := q.TrustedPackagesBy(ctx, alice.ID); err != nil || !slices.Equal(names, []string{"lib"}) {
		t.Fatalf("packages whose trust alice configured: %v %v", names, err)
	}
	if names, err := q.TrustedPackagesBy(ctx, bob.ID); err != nil || len(names) != 0 {
		t.Fatalf("packages whose trust bob configured: %v %v", names, err)
	}

	must(t, q.DeleteTrustConfig(ctx, lib.ID, c.ID))
	_, err = q.TrustConfigOf(ctx, lib.ID)
	wantKind(t, "deleted", err, fault.NotFound)
	must(t, q.CreateTrustConfig(ctx, second))
	_, err = s.db.ExecContext(ctx, q.d.rebind(`DELETE FROM packages WHERE id = ?`), lib.ID)
	must(t, err)
	_, err = q.TrustConfigOf(ctx, lib.ID)
	wantKind(t, "gone with its package", err, fault.NotFound)
}

// testExchanges: an exchanged token's key is taken once, on any number of
// connections at once, until it expires.
func testExchanges(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()
	key := []byte{0, 1, 2, 0xff}
	first, err := q.UseExchange(ctx, key, 2000, 1000)
	must(t, err)
	again, err := q.UseExchange(ctx, key, 2000, 1500)
	must(t, err)
	if !first || again {
		t.Fatalf("first %v, again %v: want true, false", first, again)
	}
	// Past its expiry the record is dropped (the token itself is refused as
	// expired by then); the key may be taken again.
	later, err := q.UseExchange(ctx, key, 5000, 2001)
	must(t, err)
	if !later {
		t.Fatal("an expired record still blocks its key")
	}
	// Many at once: exactly one wins.
	var wins sync.WaitGroup
	var mu sync.Mutex
	won := 0
	race := []byte("raced")
	for range 8 {
		wins.Add(1)
		go func() {
			defer wins.Done()
			ok, err := s.Q().UseExchange(ctx, race, 9000, 3000)
			if err != nil {
				t.Error(err)
				return
			}
			if ok {
				mu.Lock()
				won++
				mu.Unlock()
			}
		}()
	}
	wins.Wait()
	if won != 1 {
		t.Fatalf("%d exchanges of one token succeeded at once, want 1", won)
	}
}
