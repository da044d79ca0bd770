package store

import (
	"database/sql"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// What authenticating a token not yet cached costs: one query, one probe
// of the unique index on tokens.hash (issue 20).
func testTokenUserByHash(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()
	alice, bob := mustUser(t, q, "alice"), mustUser(t, q, "bob")
	must(t, q.SetAdmin(ctx, alice.ID, true))
	must(t, q.SetDisabled(ctx, bob.ID, 777))
	toks := []Token{
		{Key: "k1", Hash: []byte("hash-1"), UserID: alice.ID, Kind: "granular", Name: "ci", Description: "for CI",
			Masked: "npm_1234...5678", CIDR: `["10.0.0.0/8"]`, Grants: `{"packages":["a"]}`, Bypass2FA: true,
			CreatedAt: 2, ExpiresAt: sql.NullInt64{Int64: 99, Valid: true}},
		{Key: "k2", Hash: []byte{0, 1, 0xfe, 0xff}, UserID: bob.ID, Kind: "publish", Masked: "m", CreatedAt: 3},
	}
	for i := range toks {
		var err error
		toks[i], err = q.CreateToken(ctx, toks[i])
		must(t, err)
	}
	must(t, s.InTx(ctx, func(q Queries) error { return q.RevokeToken(ctx, toks[1].ID, bob.ID) }))
	must(t, q.TouchTokens(ctx, []Touch{{TokenID: toks[0].ID, At: 50, IP: "10.0.0.1"}}))
	for _, tok := range toks {
		// The same as the two queries it replaces, every column of both.
		wantTok, err := q.TokenByHash(ctx, tok.Hash)
		must(t, err)
		wantUser, err := q.UserByID(ctx, tok.UserID)
		must(t, err)
		gotTok, gotUser, err := q.TokenUserByHash(ctx, tok.Hash)
		if err != nil || !reflect.DeepEqual(gotTok, wantTok) || !reflect.DeepEqual(gotUser, wantUser) {
			t.Errorf("TokenUserByHash(%s) = %+v %+v %v\nwant %+v %+v", tok.Key, gotTok, gotUser, err, wantTok, wantUser)
		}
	}
	if got, u, _ := q.TokenUserByHash(ctx, toks[1].Hash); !got.RevokedAt.Valid || u.DisabledAt != 777 {
		t.Errorf("a revoked token of a disabled user reads as %+v of %+v", got, u)
	}
	if got, u, _ := q.TokenUserByHash(ctx, toks[0].Hash); !u.Admin || got.LastUsedIP != "10.0.0.1" {
		t.Errorf("token and user read as %+v of %+v", got, u)
	}
	_, _, err := q.TokenUserByHash(ctx, []byte("nope"))
	wantKind(t, "missing hash", err, fault.NotFound)

	// The plan: a search of tokens by the hash's index, then users by its
	// primary key; never a scan of either table.
	checkPlan(t, s, tokenUserByHash, []any{[]byte("hash-1")},
		[]string{"SEARCH t USING INDEX sqlite_autoindex_tokens_2 (hash=?)", "SEARCH u USING INTEGER PRIMARY KEY (rowid=?)"},
		[]string{"Index Scan using tokens_hash_key on tokens t", "Index Scan using users_pkey on users u"})

	// A token whose user is gone is no token.
	_, err = s.DB().ExecContext(ctx, s.d.rebind(`DELETE FROM users WHERE id = ?`), alice.ID)
	must(t, err)
	_, _, err = q.TokenUserByHash(ctx, toks[0].Hash)
	wantKind(t, "token of a deleted user", err, fault.NotFound)
}

// checkPlan fails t unless the database's plan for query holds every line
// of sqlite's or postgres's wants (whichever s runs on) and scans no table.
func checkPlan(t *testing.T, s *Store, query string, args []any, sqlite, postgres []string) {
	t.Helper()
	plan := queryPlan(t, s, query, args...)
	want, scan := sqlite, "SCAN"
	if s.d.name() == "postgres" {
		want, scan = postgres, "Seq Scan"
	}
	for _, w := range want {
		if !strings.Contains(plan, w) {
			t.Errorf("plan lacks %q:\n%s", w, plan)
		}
	}
	if strings.Contains(plan, scan) {
		t.Errorf("plan scans a table:\n%s", plan)
	}
}

// queryPlan is the database's plan for query, one line per step. On
// PostgreSQL, sequential scans are switched off for the one statement, as
// the tests' tables are too small for the planner to prefer an index it
// has: the plan then shows which index the query can use.
func queryPlan(t *testing.T, s *Store, query string, args ...any) string {
	t.Helper()
	ctx := t.Context()
	tx, err := s.DB().BeginTx(ctx, nil)
	must(t, err)
	defer tx.Rollback()
	explain := `EXPLAIN QUERY PLAN `
	if s.d.name() == "postgres" {
		if _, err := tx.ExecContext(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
			t.Fatal(err)
		}
		explain = `EXPLAIN `
	}
	rows, err := tx.QueryContext(ctx, explain+s.d.rebind(query), args...)
	must(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	must(t, err)
	var lines []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		must(t, rows.Scan(ptrs...))
		// SQLite: id, parent, notused, detail; PostgreSQL: one line.
		lines = append(lines, fmt.Sprint(vals[len(vals)-1]))
	}
	must(t, rows.Err())
	return strings.Join(lines, "\n")
}

// Last uses are written many per transaction: more than a batch's worth,
// several uses of one token in a batch (the newest counts), and an older
// use than the one recorded (kept out).
func testTouchTokensBatch(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()
	alice := mustUser(t, q, "alice")
	const n = 2*512 + 37 // more than a batch of the toucher
	ids := make([]int64, n)
	for i := range ids {
		tok, err := q.CreateToken(ctx, Token{Key: fmt.Sprintf("k%d", i), Hash: fmt.Appendf(nil, "h%d", i),
			UserID: alice.ID, Kind: "granular", Masked: "m", CreatedAt: 1})
		must(t, err)
		ids[i] = tok.ID
	}
	// Token 0 was used at 5000 already.
	must(t, q.TouchTokens(ctx, []Touch{{TokenID: ids[0], At: 5000, IP: "192.0.2.200"}}))
	var touches []Touch
	for i, id := range ids {
		touches = append(touches, Touch{TokenID: id, At: int64(1000 + i), IP: fmt.Sprintf("10.0.%d.%d", i/256, i%256)})
	}
	// Token 1 twice more in the batch: the newest use counts, wherever it is.
	touches = append([]Touch{{TokenID: ids[1], At: 9000, IP: "192.0.2.1"}}, touches...)
	touches = append(touches, Touch{TokenID: ids[1], At: 2000, IP: "192.0.2.2"})
	must(t, s.InTx(ctx, func(q Queries) error { return q.TouchTokens(ctx, touches) }))
	for i, id := range ids {
		wantAt, wantIP := int64(1000+i), fmt.Sprintf("10.0.%d.%d", i/256, i%256)
		switch i {
		case 0:
			wantAt, wantIP = 5000, "192.0.2.200"
		case 1:
			wantAt, wantIP = 9000, "192.0.2.1"
		}
		var at sql.NullInt64
		var ip string
		must(t, s.DB().QueryRowContext(ctx, s.d.rebind(`SELECT last_used_at, last_used_ip FROM tokens WHERE id = ?`), id).Scan(&at, &ip))
		if at.Int64 != wantAt || ip != wantIP {
			t.Errorf("token %d: last use %d from %s, want %d from %s", i, at.Int64, ip, wantAt, wantIP)
		}
	}
	must(t, q.TouchTokens(ctx, nil))
}

// Addresses are recorded many per statement, each as AddTokenAddress would
// record it alone: once, within the bound per token (counting the batch's
// own rows, across statements), not for a token that is gone.
func testTokenAddressesBatch(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()
	alice := mustUser(t, q, "alice")
	mk := func(key string) int64 {
		tok, err := q.CreateToken(ctx, Token{Key: key, Hash: []byte("h-" + key), UserID: alice.ID, Kind: "granular", Masked: "m", CreatedAt: 1})
		must(t, err)
		return tok.ID
	}
	one, two, many := mk("one"), mk("two"), mk("many")
	if added, err := q.AddTokenAddress(ctx, one, "192.0.2.1", 10, 3); err != nil || !added {
		t.Fatalf("first address: %v %v", added, err)
	}
	const max = 3
	uses := []TokenAddress{
		{one, "192.0.2.1", 20},        // known already
		{one, "192.0.2.2", 21},        // new: 2 of 3
		{two, "2001:db8::1", 22},      // new: 1 of 3
		{one, "192.0.2.2", 23},        // twice in the batch: once
		{one, "192.0.2.3", 24},        // new: 3 of 3
		{one, "192.0.2.4", 25},        // past the bound
		{one + 1000, "192.0.2.9", 26}, // no such token
		{two, "2001:db8::2", 27},      // new: 2 of 3
	}
	var added []TokenAddress
	var full []int64
	must(t, s.InTx(ctx, func(q Queries) error {
		var err error
		added, full, err = q.AddTokenAddresses(ctx, uses, max)
		return err
	}))
	want := []TokenAddress{uses[1], uses[2], uses[4], uses[7]}
	if !reflect.DeepEqual(added, want) {
		t.Errorf("added %+v, want %+v", added, want)
	}
	if !reflect.DeepEqual(full, []int64{one}) {
		t.Errorf("full tokens %v, want [%d]", full, one)
	}
	for _, c := range []struct {
		token int64
		ip    string
		want  bool
	}{{one, "192.0.2.3", true}, {one, "192.0.2.4", false}, {two, "2001:db8::2", true}} {
		if known, err := q.TokenAddressKnown(ctx, c.token, c.ip); err != nil || known != c.want {
			t.Errorf("TokenAddressKnown(%d, %s) = %v %v, want %v", c.token, c.ip, known, err, c.want)
		}
	}

	// The bound holds across statements: a batch longer than one
	// statement, all of one token, records exactly the bound.
	const bound = addressChunk + 40
	uses = uses[:0]
	for i := range addressChunk + 100 {
		uses = append(uses, TokenAddress{many, fmt.Sprintf("10.%d.%d.1", i/256, i%256), int64(i)})
	}
	must(t, s.InTx(ctx, func(q Queries) error {
		var err error
		added, full, err = q.AddTokenAddresses(ctx, uses, bound)
		return err
	}))
	if len(added) != bound || !reflect.DeepEqual(added, uses[:bound]) || !slices.Equal(full, []int64{many}) {
		t.Errorf("%d addresses for a bound of %d: %d added (want the first %d), full %v", len(uses), bound, len(added), bound, full)
	}
	var n int
	must(t, s.DB().QueryRowContext(ctx, s.d.rebind(`SELECT COUNT(*) FROM token_addresses WHERE token_id = ?`), many).Scan(&n))
	if n != bound {
		t.Errorf("%d addresses stored, want %d", n, bound)
	}
	if added, full, err := q.AddTokenAddresses(ctx, nil, max); err != nil || added != nil || full != nil {
		t.Errorf("an empty batch: %v %v %v", added, full, err)
	}
}

// Events are written many per statement, in their order, every column kept.
func testAuditEventsBatch(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()
	var events []AuditEvent
	for i := range auditChunk + 30 {
		events = append(events, AuditEvent{At: int64(1000 + i), Action: "token.new_address", Outcome: "success",
			ActorID: int64(i%3 + 1), ActorName: "alice", TokenKey: fmt.Sprintf("k%d", i), TokenKind: "granular",
			ClientIP: "192.0.2.1", TargetUserID: int64(i%3 + 1), TargetUser: "alice", TargetToken: fmt.Sprintf("k%d", i)})
	}
	events[0].ActorID, events[0].TargetUserID, events[0].Detail = 0, 0, "none"
	events[1].LastAt, events[1].Count = 5000, 4
	must(t, s.InTx(ctx, func(q Queries) error { return q.InsertAuditEvents(ctx, events) }))
	got, err := q.AuditEvents(ctx, AuditFilter{}, AuditPage{Limit: len(events) + 10})
	must(t, err)
	if len(got) != len(events) {
		t.Fatalf("%d events read back, want %d", len(got), len(events))
	}
	for i, e := range got {
		want := events[i]
		want.ID = e.ID
		if want.LastAt == 0 {
			want.LastAt = want.At
		}
		if want.Count == 0 {
			want.Count = 1
		}
		if !reflect.DeepEqual(e, want) {
			t.Errorf("event %d: %+v\nwant %+v", i, e, want)
		}
		if i > 0 && e.ID <= got[i-1].ID {
			t.Errorf("event %d has ID %d after %d: not in order", i, e.ID, got[i-1].ID)
		}
	}
}
