package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/gatehouse-registry/gatehouse/internal/token"
)

// clock is a settable time for the tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newLog(t *testing.T, retention time.Duration) (*Log, *store.Store, *clock) {
	t.Helper()
	st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	return New(st, Options{Format: token.NewFormat(""), Retention: retention, Now: c.now}), st, c
}

func all(t *testing.T, st *store.Store) []store.AuditEvent {
	t.Helper()
	rows, err := st.Q().AuditEvents(t.Context(), store.AuditFilter{}, store.AuditPage{Limit: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func requestCtx() context.Context {
	ctx := auth.WithClientIP(context.Background(), netip.MustParseAddr("::ffff:192.0.2.7"))
	return WithRequestID(ctx, "req-42")
}

// TestRecordCommitsWithTheChange: an event recorded in a transaction that
// rolls back is not written; one that commits is, with the request's
// address and id and the log's clock.
func TestRecordCommitsWithTheChange(t *testing.T) {
	l, st, c := newLog(t, 0)
	ctx := requestCtx()
	p := &auth.Principal{UserID: 3, UserName: "alice", TokenKey: "k-1", Kind: auth.KindSession, OIDCSubject: "sub"}
	failed := errors.New("the change failed")
	err := st.InTx(ctx, func(q store.Queries) error {
		if err := l.Record(ctx, q, Event{Action: TokenCreate, Actor: ActorOf(p)}); err != nil {
			return err
		}
		return failed
	})
	if !errors.Is(err, failed) || len(all(t, st)) != 0 {
		t.Fatalf("rolled back: %v, %d events", err, len(all(t, st)))
	}
	err = st.InTx(ctx, func(q store.Queries) error {
		return l.Record(ctx, q, Event{Action: TokenCreate, Actor: ActorOf(p), Target: Target{Token: "k-2"}})
	})
	rows := all(t, st)
	if err != nil || len(rows) != 1 {
		t.Fatalf("committed: %v, %d events", err, len(rows))
	}
	r := rows[0]
	want := store.AuditEvent{ID: r.ID, At: c.now().UnixMilli(), LastAt: c.now().UnixMilli(), Count: 1,
		Action: "token.create", Outcome: "success", ActorID: 3, ActorName: "alice", TokenKey: "k-1", TokenKind: "session",
		OIDCSubject: "sub", ClientIP: "192.0.2.7", RequestID: "req-42", TargetToken: "k-2"}
	if r != want {
		t.Fatalf("row:\n%+v\nwant\n%+v", r, want)
	}
}

// TestTokensAreMasked: a token string that reaches an event's text is
// written masked; other text is left alone.
func TestTokensAreMasked(t *testing.T) {
	l, st, _ := newLog(t, 0)
	raw, err := token.NewFormat("").Generate()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	err = st.InTx(ctx, func(q store.Queries) error {
		return l.Record(ctx, q, Event{Action: TokenRevoke, Reason: "x" + raw + "y", Detail: "npm_ is a prefix, npm_short is not a token " + raw,
			Target: Target{Token: raw, Package: raw}})
	})
	if err != nil {
		t.Fatal(err)
	}
	l.Refused(ctx, Event{Action: SignIn, Target: Target{User: raw}})
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rows := all(t, st)
	b, _ := json.Marshal(rows)
	if strings.Contains(string(b), raw) || !strings.Contains(string(b), token.Mask(raw)) {
		t.Fatalf("token not masked: %s", b)
	}
	if !strings.Contains(rows[0].Detail, "npm_ is a prefix, npm_short is not a token") {
		t.Errorf("text around the token changed: %q", rows[0].Detail)
	}
}

// TestRefusalsFold: the same refusal repeated is one row with a count; a
// flood of distinct refusals writes at most refusalRows rows a minute, the
// rest folded into one row per action, account and address (foldedRows of
// them) and past that one row per action, written when the minute ends.
func TestRefusalsFold(t *testing.T) {
	l, st, c := newLog(t, 0)
	ctx := requestCtx()
	same := Event{Action: SignIn, Reason: "Incorrect username or password", Target: Target{UserID: 5, User: "bob"}}
	for range 25 {
		l.Refused(ctx, same)
		c.add(time.Millisecond)
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rows := all(t, st)
	if len(rows) != 1 || rows[0].Count != 25 || rows[0].Outcome != "failure" || rows[0].LastAt-rows[0].At != 24 ||
		rows[0].TargetUser != "bob" || rows[0].ClientIP != "192.0.2.7" {
		t.Fatalf("repeated refusal: %+v", rows)
	}

	// A flood from 5,000 addresses within one minute.
	for i := range 5000 {
		ctx := auth.WithClientIP(context.Background(), netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
		l.Refused(ctx, Event{Action: SignIn, Reason: "wrong", Target: Target{User: fmt.Sprintf("u%d", i%7)}})
		l.Refused(ctx, Event{Action: TokenCreate, Reason: "wrong"})
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(all(t, st)); n != refusalRows {
		t.Fatalf("rows after the flood, within the minute: %d, want %d", n, refusalRows)
	}
	c.add(window)
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rows = all(t, st)
	if len(rows) != refusalRows+foldedRows+2 {
		t.Fatalf("rows once the minute is over: %d, want %d", len(rows), refusalRows+foldedRows+2)
	}
	var counted int64
	folded := map[string]int64{}
	byClient := 0
	for _, r := range rows {
		counted += r.Count
		if r.Reason != OverflowReason {
			continue
		}
		if r.ClientIP == "" && r.TargetUser == "" {
			folded[r.Action] = r.Count
		} else {
			byClient++
		}
	}
	if counted != 25+10000 || len(folded) != 2 || byClient != foldedRows {
		t.Errorf("refusals counted: %d (want %d); folded by action: %v; folded rows naming an address: %d (want %d)",
			counted, 25+10000, folded, byClient, foldedRows)
	}

	// A new minute has a new budget.
	l.Refused(ctx, Event{Action: SignIn, Reason: "wrong", Target: Target{User: "later"}})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(all(t, st)); n != refusalRows+foldedRows+3 {
		t.Fatalf("rows after a refusal in the next minute: %d", n)
	}
}

// TestRefusalsOneAddressCannotHideOthers: an attacker who floods refusals
// from one address spends only that address's share of the minute's rows:
// password guesses against an account from another address are still
// written one by one, with the account and the address; the attacker's own
// guesses, past its share, are folded by account and address, not into a
// row that names nobody.
func TestRefusalsOneAddressCannotHideOthers(t *testing.T) {
	l, st, c := newLog(t, 0)
	attacker := auth.WithClientIP(context.Background(), netip.MustParseAddr("198.51.100.9"))
	for i := range 500 {
		l.Refused(attacker, Event{Action: PackagePublish, Reason: "forbidden", Target: Target{Package: fmt.Sprintf("noise-%d", i)}})
	}
	other := auth.WithClientIP(context.Background(), netip.MustParseAddr("203.0.113.4"))
	for range 3 {
		l.Refused(other, Event{Action: SignIn, Reason: "Incorrect username or password", Target: Target{UserID: 1, User: "alice"}})
		l.Refused(attacker, Event{Action: SignIn, Reason: "Incorrect username or password", Target: Target{UserID: 1, User: "alice"}})
	}
	if err := l.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows := all(t, st)
	if len(rows) != clientRows+1 {
		t.Fatalf("rows within the minute: %d, want the attacker's %d and the other address's 1", len(rows), clientRows)
	}
	found := false
	for _, r := range rows {
		if r.Action == string(SignIn) && r.TargetUser == "alice" && r.ClientIP == "203.0.113.4" && r.Count == 3 {
			found = true
		}
	}
	if !found {
		t.Errorf("the other address's guesses against alice are not one row of 3 naming her and the address: %+v", rows)
	}
	c.add(window)
	if err := l.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var guesses, noise int64
	for _, r := range all(t, st) {
		switch {
		case r.Reason != OverflowReason:
		case r.Action == string(SignIn) && r.TargetUser == "alice" && r.ClientIP == "198.51.100.9":
			guesses += r.Count
		case r.Action == string(PackagePublish) && r.ClientIP == "198.51.100.9":
			noise += r.Count
		case r.ClientIP == "" && r.TargetUser == "":
			t.Errorf("a row folded past naming anyone, with two fold keys in use: %+v", r)
		}
	}
	if guesses != 3 || noise != 500-clientRows {
		t.Errorf("the attacker's folded rows: guesses against alice %d (want 3), noise %d (want %d)", guesses, noise, 500-clientRows)
	}
}

// TestRefusedNeverBlocks: noting refusals from many goroutines while the
// log flushes loses none of them.
func TestRefusedNeverBlocks(t *testing.T) {
	l, st, _ := newLog(t, 0)
	ctx := requestCtx()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				l.Refused(ctx, Event{Action: SignIn, Reason: "wrong", Target: Target{User: fmt.Sprintf("u%d", (g*50+i)%5)}})
				if i%10 == 0 {
					_ = l.Flush(ctx)
				}
			}
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, r := range all(t, st) {
		n += r.Count
	}
	if n != 400 {
		t.Fatalf("refusals written: %d, want 400", n)
	}
}

func TestPurge(t *testing.T) {
	l, st, c := newLog(t, 24*time.Hour)
	ctx := context.Background()
	record := func() {
		t.Helper()
		if err := st.InTx(ctx, func(q store.Queries) error { return l.Record(ctx, q, Event{Action: SignIn}) }); err != nil {
			t.Fatal(err)
		}
	}
	for range purgeBatch + 5 {
		record()
	}
	c.add(20 * time.Hour)
	record()
	c.add(5 * time.Hour) // the first batch is now 25 hours old, the last one 5
	n, err := l.Purge(ctx)
	if err != nil || n != purgeBatch+5 {
		t.Fatalf("purged %d %v, want %d", n, err, purgeBatch+5)
	}
	if left := all(t, st); len(left) != 1 {
		t.Fatalf("left %d events", len(left))
	}
	keep, _, _ := newLog(t, 0)
	if n, err := keep.Purge(ctx); n != 0 || err != nil {
		t.Fatalf("retention 0 purged %d %v", n, err)
	}
}

// TestReading: a user's own log holds what they did and what was done to
// them, newest first, paged; the whole log is an administrator's; an
// export resumes after its cursor.
func TestReading(t *testing.T) {
	l, st, c := newLog(t, 0)
	ctx := requestCtx()
	alice := &auth.Principal{UserID: 1, UserName: "alice", Kind: auth.KindSession}
	bob := &auth.Principal{UserID: 2, UserName: "bob", Kind: auth.KindSession}
	admin := &auth.Principal{UserID: 3, UserName: "root", Kind: auth.KindSession, Admin: true}
	write := func(e Event) {
		t.Helper()
		c.add(time.Second)
		if err := st.InTx(ctx, func(q store.Queries) error { return l.Record(ctx, q, e) }); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		write(Event{Action: PackagePublish, Actor: ActorOf(alice), Target: Target{Package: "lib", Version: fmt.Sprintf("1.0.%d", i)}})
	}
	write(Event{Action: OwnerAdd, Actor: ActorOf(bob), Target: Target{UserID: 1, User: "alice", Package: "bobs"}})
	write(Event{Action: TokenCreate, Actor: ActorOf(bob)})
	l.Refused(ctx, Event{Action: SignIn, Reason: "wrong", Target: Target{UserID: 1, User: "alice"}})

	page, err := l.AccountLog(ctx, alice, 0, 3)
	if err != nil || page.Total != 7 || len(page.Events) != 3 || page.Next == 0 {
		t.Fatalf("alice's first page: %+v %v", page, err)
	}
	if page.Events[0].Action != SignIn || page.Events[0].Outcome != Failure || page.Events[1].Action != OwnerAdd {
		t.Errorf("newest first, the refusal written before reading: %+v", page.Events)
	}
	var seen []string
	for cursor := int64(0); ; {
		p, err := l.AccountLog(ctx, alice, cursor, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Events {
			seen = append(seen, string(e.Action)+" "+e.Target.Version)
		}
		if p.Next == 0 {
			break
		}
		cursor = p.Next
	}
	if len(seen) != 7 || seen[6] != "package.publish 1.0.0" {
		t.Errorf("alice's whole log, paged: %v", seen)
	}
	if p, _ := l.AccountLog(ctx, bob, 0, 10); p.Total != 2 {
		t.Errorf("bob's log: %+v", p)
	}
	for _, c := range []struct {
		p    *auth.Principal
		kind fault.Kind
	}{{&auth.Principal{}, fault.Unauthorized}, {&auth.Principal{UserID: 1, Kind: auth.KindGranular}, fault.Forbidden}} {
		if _, err := l.AccountLog(ctx, c.p, 0, 10); !fault.Is(err, c.kind) {
			t.Errorf("security log for %+v: %v, want %v", c.p, err, c.kind)
		}
	}
	if _, err := l.AccountLog(ctx, alice, 0, MaxPerPage+1); !fault.Is(err, fault.Invalid) {
		t.Errorf("perPage over the bound: %v", err)
	}

	// The administrator's view and export.
	if _, err := l.AdminLog(ctx, alice, Filter{}, 0, 10); !fault.Is(err, fault.NotFound) {
		t.Errorf("a user reading the whole log: %v, want not found", err)
	}
	p, err := l.AdminLog(ctx, admin, Filter{User: "bob"}, 0, 10)
	if err != nil || p.Total != 2 {
		t.Errorf("admin filtered by bob: %+v %v", p, err)
	}
	var exported []int64
	last, err := l.Export(ctx, admin, Filter{Action: "package."}, 0, 3, func(e Event) error {
		exported = append(exported, e.ID)
		return nil
	})
	if err != nil || len(exported) != 3 || last != exported[2] {
		t.Fatalf("export, first batch: %v last %d %v", exported, last, err)
	}
	last, err = l.Export(ctx, Operator(), Filter{Action: "package."}, last, 0, func(e Event) error {
		exported = append(exported, e.ID)
		return nil
	})
	if err != nil || len(exported) != 6 || last != exported[5] { // the owner change is of the package area too
		t.Fatalf("export resumed by the operator: %v last %d %v", exported, last, err)
	}
	if _, err := l.Export(ctx, bob, Filter{}, 0, 0, func(Event) error { return nil }); !fault.Is(err, fault.NotFound) {
		t.Errorf("a user exporting: %v", err)
	}
}

func TestEventJSON(t *testing.T) {
	e := Event{ID: 9, Time: time.Date(2026, 5, 1, 12, 0, 0, 5e6, time.UTC), Count: 1, Action: DistTagSet, Outcome: Success,
		Actor:  Actor{UserID: 1, User: "alice", TokenKey: "k", TokenKind: "granular"},
		Client: netip.MustParseAddr("2001:db8::2"), RequestID: "r", Target: Target{Package: "lib", Version: "1.0.0"},
		Detail: "beta"}
	b, err := json.Marshal(e)
	want := `{"id":9,"time":"2026-05-01T12:00:00.005Z","action":"package.dist_tag_set","outcome":"success",` +
		`"actor":{"user":"alice","user_id":1,"token":"k","token_kind":"granular"},"client":"2001:db8::2","request_id":"r",` +
		`"target":{"package":"lib","version":"1.0.0"},"detail":"beta","count":1}`
	if err != nil || string(b) != want {
		t.Fatalf("JSON:\n%s\nwant\n%s", b, want)
	}
	if d := e.Describe(); d != "lib@1.0.0, beta" {
		t.Errorf("Describe: %q", d)
	}
}

func TestRefusalOf(t *testing.T) {
	for _, c := range []struct {
		name     string
		err      error
		otpGiven bool
		reason   string
		ok       bool
	}{
		{"none", nil, false, "", false},
		{"internal", errors.New("disk full"), false, "", false},
		{"wrong password", &fault.Error{Kind: fault.Unauthorized, Message: "Incorrect username or password"}, false, "Incorrect username or password", true},
		{"first OTP challenge", &fault.Error{Kind: fault.Unauthorized, Message: "otp", Challenge: "OTP"}, false, "", false},
		{"wrong OTP", &fault.Error{Kind: fault.Unauthorized, Message: "otp", Challenge: "OTP"}, true, "wrong one-time password", true},
		{"forbidden", fault.Forbiddenf("This token is read-only"), false, "This token is read-only", true},
		{"locked", &fault.Error{Kind: fault.Locked, Message: "Too many"}, false, "Too many", true},
		{"not found", fault.NotFoundf("Not found"), false, "", false},
		{"invalid", fault.Invalidf("bad"), false, "", false},
		{"wrapped", fmt.Errorf("publish: %w", fault.Forbiddenf("no")), false, "no", true},
		{"long", fault.Forbiddenf("%s", strings.Repeat("é", 300)), false, strings.Repeat("é", 100) + "…", true},
	} {
		reason, ok := RefusalOf(c.err, c.otpGiven)
		if reason != c.reason || ok != c.ok {
			t.Errorf("%s: %q %v, want %q %v", c.name, reason, ok, c.reason, c.ok)
		}
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 5, 10, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2026-05-01T12:00:00Z", time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC), true},
		{"2026-05-01", time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), true},
		{"7d", now.AddDate(0, 0, -7), true},
		{"90m", now.Add(-90 * time.Minute), true},
		{"1777636800000", time.UnixMilli(1777636800000), true},
		{"yesterday", time.Time{}, false},
		{"-5h", time.Time{}, false},
	} {
		got, err := ParseTime(c.in, now)
		if (err == nil) != c.ok || (c.ok && !got.Equal(c.want)) {
			t.Errorf("ParseTime(%q) = %v %v, want %v", c.in, got, err, c.want)
		}
		if err != nil && !fault.Is(err, fault.Invalid) {
			t.Errorf("ParseTime(%q): error of kind %v", c.in, fault.KindOf(err))
		}
	}
	f, err := ParseFilter(func(k string) string {
		return map[string]string{"user": "bob", "action": "token.", "since": "2026-05-01", "outcome": "failure"}[k]
	}, now)
	if err != nil || f.User != "bob" || f.Action != "token." || f.Since != time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC).UnixMilli() ||
		f.Outcome != "failure" || f.Until != 0 {
		t.Errorf("ParseFilter: %+v %v", f, err)
	}
	if _, err := ParseFilter(func(k string) string { return map[string]string{"outcome": "maybe"}[k] }, now); !fault.Is(err, fault.Invalid) {
		t.Errorf("bad outcome: %v", err)
	}
}
