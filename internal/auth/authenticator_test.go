package auth

import (
	"context"
	"database/sql"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/gatehouse-registry/gatehouse/internal/token"
)

type fixture struct {
	st     *store.Store
	authn  *Authenticator
	format token.Format
	user   store.User
	now    time.Time
	legacy bool
	heard  *recorder
}

// recorder keeps what an Observer is told, in order.
type recorder struct {
	results []string
	lookups []string // "token hit", "token miss"
}

func (r *recorder) TokenAuthentication(result string) { r.results = append(r.results, result) }

func (r *recorder) CacheLookup(cache string, hit bool) {
	if hit {
		r.lookups = append(r.lookups, cache+" hit")
	} else {
		r.lookups = append(r.lookups, cache+" miss")
	}
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(tb.TempDir(), "a.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	u, err := st.Q().CreateUser(context.Background(), store.User{Name: "alice", PasswordHash: "x"})
	if err != nil {
		tb.Fatal(err)
	}
	feed := store.NewFeed(st, slog.New(slog.DiscardHandler))
	tb.Cleanup(func() { feed.Close() })
	f := &fixture{st: st, format: token.NewFormat(""), user: u, now: time.Now(), legacy: true, heard: &recorder{}}
	f.authn = NewAuthenticator(st, f.format, feed, func() time.Time { return f.now }, func() bool { return f.legacy }, f.heard, nil)
	tb.Cleanup(f.authn.Close)
	// The feed's first delivery (AnyChange) empties the cache: wait for it
	// before the tests fill the cache.
	started := make(chan struct{})
	var once sync.Once
	stop := feed.Subscribe(func(store.Change) { once.Do(func() { close(started) }) })
	feed.Start()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		tb.Fatal("the change feed delivered nothing within 5s of its start")
	}
	stop()
	return f
}

// issue stores a token with settings from t and returns its string.
func (f *fixture) issue(tb testing.TB, t store.Token) string {
	tb.Helper()
	raw, err := f.format.Generate()
	if err != nil {
		tb.Fatal(err)
	}
	h := token.Hash(raw)
	t.Hash, t.Key, t.UserID, t.Masked = h[:], raw[4:40], f.user.ID, token.Mask(raw)
	if t.Kind == "" {
		t.Kind = string(KindGranular)
	}
	if t.CreatedAt == 0 {
		t.CreatedAt = f.now.UnixMilli()
	}
	if _, err := f.st.Q().CreateToken(context.Background(), t); err != nil {
		tb.Fatal(err)
	}
	return raw
}

var loopback = netip.MustParseAddr("127.0.0.1")

func TestBearer(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	granular := f.issue(t, store.Token{Grants: `{"packages":["demo"],"packages_and_scopes_permission":"read-write"}`})
	ranged := f.issue(t, store.Token{Kind: "read-only", CIDR: `["10.0.0.0/8","2001:db8::/32"]`})
	expired := f.issue(t, store.Token{Kind: "read-only", ExpiresAt: sql.NullInt64{Int64: f.now.Add(-time.Second).UnixMilli(), Valid: true}})
	unknown, _ := f.format.Generate()

	p, err := f.authn.Bearer(ctx, granular, loopback)
	if err != nil || p.UserName != "alice" || p.Kind != KindGranular || p.Grants == nil || !p.Grants.CoversPackage("demo") || p.ClientIP != loopback {
		t.Fatalf("granular: %+v %v", p, err)
	}
	tests := []struct {
		name      string
		raw       string
		ip        string
		challenge string // "" means accepted
	}{
		{"inside an IPv4 range", ranged, "10.1.2.3", ""},
		{"inside an IPv6 range", ranged, "2001:db8::9", ""},
		{"outside the ranges", ranged, "127.0.0.1", "ipaddress"},
		{"unknown address fails closed", ranged, "", "ipaddress"},
		{"expired", expired, "127.0.0.1", `Bearer realm="gatehouse"`},
		{"unknown token", unknown, "127.0.0.1", `Bearer realm="gatehouse"`},
		{"bad checksum", granular[:39] + flip(granular[39]), "127.0.0.1", `Bearer realm="gatehouse"`},
		{"not a token", "hello", "127.0.0.1", `Bearer realm="gatehouse"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ip netip.Addr
			if tt.ip != "" {
				ip = netip.MustParseAddr(tt.ip)
			}
			_, err := f.authn.Bearer(ctx, tt.raw, ip)
			if tt.challenge == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			e, ok := fault.As(err)
			if !ok || e.Kind != fault.Unauthorized || e.Challenge != tt.challenge {
				t.Fatalf("got %v, want 401 with challenge %q", err, tt.challenge)
			}
		})
	}
}

// TestBearerResults checks what the Observer hears: one result per check,
// naming why a token was refused, and whether the token cache held it.
func TestBearerResults(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ranged := f.issue(t, store.Token{CIDR: `["10.0.0.0/8"]`,
		Grants: `{"packages_all":true,"packages_and_scopes_permission":"read-only"}`})
	legacy := f.issue(t, store.Token{Kind: "publish"})
	expired := f.issue(t, store.Token{Kind: "read-only", ExpiresAt: sql.NullInt64{Int64: f.now.Add(-time.Second).UnixMilli(), Valid: true}})
	revoked := f.issue(t, store.Token{Kind: "read-only"})
	h := token.Hash(revoked)
	rec, err := f.st.Q().TokenByHash(ctx, h[:])
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.InTx(ctx, func(q store.Queries) error { return q.RevokeToken(ctx, rec.ID, f.user.ID) }); err != nil {
		t.Fatal(err)
	}
	unknown, _ := f.format.Generate()
	inside := netip.MustParseAddr("10.9.8.7")

	steps := []struct {
		name   string
		raw    string
		ip     netip.Addr
		legacy bool
		result string
		lookup string // "" when no cache look-up is made
	}{
		{"first use loads the token", ranged, inside, true, ResultOK, "token miss"},
		{"second use comes from the cache", ranged, inside, true, ResultOK, "token hit"},
		{"outside the IP ranges", ranged, loopback, true, ResultIPDenied, "token hit"},
		{"malformed: no look-up at all", "npm_hello", loopback, true, ResultBadChecksum, ""},
		{"bad checksum", ranged[:39] + flip(ranged[39]), inside, true, ResultBadChecksum, ""},
		{"unknown", unknown, loopback, true, ResultUnknown, "token miss"},
		{"revoked", revoked, loopback, true, ResultRevoked, "token miss"},
		{"expired", expired, loopback, true, ResultExpired, "token miss"},
		{"legacy token allowed", legacy, loopback, true, ResultOK, "token miss"},
		{"legacy token while legacy tokens are disabled", legacy, loopback, false, ResultLegacyDisabled, "token hit"},
	}
	for _, st := range steps {
		f.heard.results, f.heard.lookups = nil, nil
		f.legacy = st.legacy
		_, err := f.authn.Bearer(ctx, st.raw, st.ip)
		if (err == nil) != (st.result == ResultOK) {
			t.Errorf("%s: Bearer error = %v, want result %s", st.name, err, st.result)
		}
		if len(f.heard.results) != 1 || f.heard.results[0] != st.result {
			t.Errorf("%s: observer heard results %q, want [%s]", st.name, f.heard.results, st.result)
		}
		var wantLookups []string
		if st.lookup != "" {
			wantLookups = []string{st.lookup}
		}
		if strings.Join(f.heard.lookups, ",") != strings.Join(wantLookups, ",") {
			t.Errorf("%s: observer heard cache look-ups %q, want %q", st.name, f.heard.lookups, wantLookups)
		}
	}

	// A store that fails is an error, not an unknown token.
	f.heard.results = nil
	f.st.Close()
	if _, err := f.authn.Bearer(ctx, unknown, loopback); err == nil || fault.Is(err, fault.Unauthorized) {
		t.Errorf("Bearer on a closed store = %v, want an internal error", err)
	}
	if len(f.heard.results) != 1 || f.heard.results[0] != ResultError {
		t.Errorf("closed store: observer heard %q, want [%s]", f.heard.results, ResultError)
	}
}

func flip(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}

func TestRevocationReachesTheCache(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	raw := f.issue(t, store.Token{Kind: "publish"})
	if _, err := f.authn.Bearer(ctx, raw, loopback); err != nil {
		t.Fatal(err)
	}
	h := token.Hash(raw)
	rec, _ := f.st.Q().TokenByHash(ctx, h[:])
	// Revoked by another process: only the store changes, and the change
	// feed (polling the counters, on SQLite) tells the cache.
	if err := f.st.InTx(ctx, func(q store.Queries) error { return q.RevokeToken(ctx, rec.ID, f.user.ID) }); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		_, err := f.authn.Bearer(ctx, raw, loopback)
		if fault.Is(err, fault.Unauthorized) {
			t.Logf("refused %v after the revocation", time.Since(start))
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Since(start) > time.Second {
			t.Fatal("a token revoked elsewhere still works a second later")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestUserChangeReachesTheCache changes a user's email as another process
// would: the cached principal shows the new one within a second.
func TestUserChangeReachesTheCache(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	raw := f.issue(t, store.Token{Kind: "publish"})
	if p, err := f.authn.Bearer(ctx, raw, loopback); err != nil || p.Email != "" {
		t.Fatalf("%+v %v", p, err)
	}
	if err := f.st.InTx(ctx, func(q store.Queries) error { return q.SetEmail(ctx, f.user.ID, "alice@example.org") }); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Second)
	for {
		p, err := f.authn.Bearer(ctx, raw, loopback)
		if err != nil {
			t.Fatal(err)
		}
		if p.Email == "alice@example.org" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cached principal still has email %q a second after the change", p.Email)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestChangesDropWhatTheyName feeds changes to the cache: a revoked token's
// change drops that token alone; a change that names no token, a user
// change, and AnyChange drop every token.
func TestChangesDropWhatTheyName(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	one, two := f.issue(t, store.Token{Kind: "publish"}), f.issue(t, store.Token{Kind: "read-only"})
	h1, h2 := token.Hash(one), token.Hash(two)
	tests := []struct {
		change       store.Change
		keep1, keep2 bool
	}{
		{store.Change{Kind: store.TokenRevoked, Key: hex.EncodeToString(h1[:])}, false, true},
		{store.Change{Kind: store.TokenRevoked, Key: hex.EncodeToString(h2[:])}, true, false},
		{store.Change{Kind: store.TokenRevoked}, false, false},
		{store.Change{Kind: store.TokenRevoked, Key: "not hex"}, false, false},
		{store.Change{Kind: store.UserChanged, Key: "1"}, false, false},
		{store.Change{Kind: store.AnyChange}, false, false},
		{store.Change{Kind: store.PackageChanged, Key: "demo"}, true, true},
	}
	for _, tt := range tests {
		for _, raw := range []string{one, two} {
			if _, err := f.authn.Bearer(ctx, raw, loopback); err != nil {
				t.Fatal(err)
			}
		}
		f.authn.changed(tt.change)
		f.authn.mu.RLock()
		_, kept1 := f.authn.cache[h1]
		_, kept2 := f.authn.cache[h2]
		f.authn.mu.RUnlock()
		if kept1 != tt.keep1 || kept2 != tt.keep2 {
			t.Errorf("after %+v: token one kept %v, two kept %v; want %v, %v", tt.change, kept1, kept2, tt.keep1, tt.keep2)
		}
	}
}

// TestLoadRacingARevocation reads a token from the store, lets the cache be
// invalidated, and only then finishes the load, as a request that raced a
// revocation would: what it read is not kept.
func TestLoadRacingARevocation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	raw := f.issue(t, store.Token{Kind: "publish"})
	h := token.Hash(raw)
	f.authn.mu.RLock()
	gen := f.authn.gen
	f.authn.mu.RUnlock()
	f.authn.Forget(h[:])
	if _, _, err := f.authn.load(ctx, h, gen); err != nil {
		t.Fatal(err)
	}
	f.authn.mu.RLock()
	_, kept := f.authn.cache[h]
	f.authn.mu.RUnlock()
	if kept {
		t.Fatal("a token read before an invalidation was cached after it")
	}
	if _, _, err := f.authn.load(ctx, h, f.authn.gen); err != nil {
		t.Fatal(err)
	}
	if _, kept := f.authn.cache[h]; !kept {
		t.Fatal("a token read with no invalidation since was not cached")
	}
}

func TestLastUsedIsThrottled(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	raw := f.issue(t, store.Token{Kind: "publish"})
	h := token.Hash(raw)
	lastUsed := func() int64 {
		rec, _ := f.st.Q().TokenByHash(ctx, h[:])
		return rec.LastUsedAt.Int64
	}
	flush := func() {
		t.Helper()
		if err := f.authn.FlushLastUse(ctx); err != nil {
			t.Fatal(err)
		}
	}
	start := f.now
	_, _ = f.authn.Bearer(ctx, raw, loopback)
	flush()
	if lastUsed() != start.UnixMilli() {
		t.Fatalf("first use not recorded")
	}
	f.now = start.Add(30 * time.Second)
	_, _ = f.authn.Bearer(ctx, raw, loopback)
	flush()
	if lastUsed() != start.UnixMilli() {
		t.Fatalf("a second use within the minute wrote to the database")
	}
	f.now = start.Add(61 * time.Second)
	_, _ = f.authn.Bearer(ctx, raw, netip.MustParseAddr("127.0.0.2"))
	flush()
	rec, _ := f.st.Q().TokenByHash(ctx, h[:])
	if rec.LastUsedAt.Int64 != f.now.UnixMilli() || rec.LastUsedIP != "127.0.0.2" {
		t.Fatalf("use after a minute not recorded: %+v", rec)
	}
}

// A use is written off the request path: not by the request itself, but by
// the background writer within a few seconds, and by Close at the latest.
func TestLastUseWrittenInBackground(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	lastUsed := func(raw string) int64 {
		h := token.Hash(raw)
		rec, err := f.st.Q().TokenByHash(ctx, h[:])
		if err != nil {
			t.Fatal(err)
		}
		return rec.LastUsedAt.Int64
	}
	// Held by the writer's lock, a flush cannot start: the request must
	// still be answered, with nothing written yet.
	f.authn.touches.flushMu.Lock()
	first := f.issue(t, store.Token{Kind: "publish"})
	if _, err := f.authn.Bearer(ctx, first, loopback); err != nil {
		f.authn.touches.flushMu.Unlock()
		t.Fatal(err)
	}
	if got := lastUsed(first); got != 0 {
		f.authn.touches.flushMu.Unlock()
		t.Fatalf("the request wrote its last use itself (%d)", got)
	}
	f.authn.touches.flushMu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for lastUsed(first) != f.now.UnixMilli() {
		if time.Now().After(deadline) {
			t.Fatal("the background writer did not record the use within 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Many tokens at once: one batch, all recorded; Close writes what waits.
	var raws []string
	for i := 0; i < 50; i++ {
		raws = append(raws, f.issue(t, store.Token{Kind: "read-only"}))
	}
	for _, raw := range raws {
		if _, err := f.authn.Bearer(ctx, raw, loopback); err != nil {
			t.Fatal(err)
		}
	}
	f.authn.Close()
	for i, raw := range raws {
		if lastUsed(raw) != f.now.UnixMilli() {
			t.Fatalf("token %d: use not written by Close", i)
		}
	}
	f.authn.Close() // a second Close is harmless
}

func BenchmarkBearerValidGranular(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	raw := f.issue(b, store.Token{Grants: `{"packages_all":true,"packages_and_scopes_permission":"read-write"}`,
		CIDR: `["127.0.0.0/8"]`})
	if _, err := f.authn.Bearer(ctx, raw, loopback); err != nil {
		b.Fatal(err)
	}
	f.authn.obs = silentObserver{} // the fixture's recorder keeps every result: not what is measured
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.authn.Bearer(ctx, raw, loopback); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBearerBadChecksum(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	raw, _ := f.format.Generate()
	bad := raw[:39] + flip(raw[39])
	f.authn.obs = silentObserver{}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.authn.Bearer(ctx, bad, loopback); err == nil {
			b.Fatal("accepted")
		}
	}
}
