package auth

import (
	"context"
	"database/sql"
	"net/netip"
	"sync"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/gatehouse-registry/gatehouse/internal/token"
)

// batchLog is an AddressBatchLog that counts its batches.
type batchLog struct {
	addressLog
	mu      sync.Mutex
	batches []int // the size of each non-empty batch
}

func (l *batchLog) TokenNewAddresses(ctx context.Context, q store.Queries, uses []AddressUse) error {
	if len(uses) > 0 {
		l.mu.Lock()
		l.batches = append(l.batches, len(uses))
		l.mu.Unlock()
	}
	for _, u := range uses {
		if err := l.TokenNewAddress(ctx, q, u.Principal, u.IP, u.At); err != nil {
			return err
		}
	}
	return nil
}

// issueMany stores n tokens in one transaction and returns their strings.
func (f *fixture) issueMany(tb testing.TB, n int) []string {
	tb.Helper()
	raws := make([]string, n)
	err := f.st.InTx(context.Background(), func(q store.Queries) error {
		for i := range raws {
			raw, err := f.format.Generate()
			if err != nil {
				return err
			}
			h := token.Hash(raw)
			if _, err := q.CreateToken(context.Background(), store.Token{Hash: h[:], Key: raw[4:40], UserID: f.user.ID,
				Masked: token.Mask(raw), Kind: string(KindReadOnly), CreatedAt: f.now.UnixMilli()}); err != nil {
				return err
			}
			raws[i] = raw
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return raws
}

// First uses of many tokens, each from an address new to it (what a burst
// of fresh tokens brings): one batch writes all their last uses, addresses
// and events, in one transaction; and closing the authenticator writes
// what is still waiting, so a clean stop loses nothing.
func TestFirstUsesAreOneBatch(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	heard := &batchLog{}
	f.authn.SetAddressLog(heard)
	const n = 3 * touchBatchMax
	raws := f.issueMany(t, n)

	// No flush while the tokens are used: the next one takes them all.
	f.authn.touches.flushMu.Lock()
	for i, raw := range raws {
		if _, err := f.authn.Bearer(ctx, raw, netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})); err != nil {
			f.authn.touches.flushMu.Unlock()
			t.Fatal(err)
		}
	}
	f.authn.touches.flushMu.Unlock()
	if err := f.authn.FlushLastUse(ctx); err != nil {
		t.Fatal(err)
	}
	heard.mu.Lock()
	batches := heard.batches
	heard.mu.Unlock()
	if len(batches) != 1 || batches[0] != n {
		t.Errorf("%d first uses written in batches of %v, want one of %d", n, batches, n)
	}
	if got := len(heard.take()); got != n {
		t.Errorf("%d events, want %d", got, n)
	}
	var used, addresses int
	if err := f.st.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM tokens WHERE last_used_at IS NOT NULL`).Scan(&used); err != nil {
		t.Fatal(err)
	}
	if err := f.st.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM token_addresses`).Scan(&addresses); err != nil {
		t.Fatal(err)
	}
	if used != n || addresses != n {
		t.Errorf("%d last uses and %d addresses written, want %d each", used, addresses, n)
	}

	// Uses noted just before a clean stop are written by Close.
	f.now = f.now.Add(touchEvery)
	for i, raw := range raws[:touchBatchMax/2] {
		if _, err := f.authn.Bearer(ctx, raw, netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)})); err != nil {
			t.Fatal(err)
		}
	}
	f.authn.Close()
	if err := f.st.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM tokens WHERE last_used_at = ?`, f.now.UnixMilli()).Scan(&used); err != nil {
		t.Fatal(err)
	}
	if err := f.st.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM token_addresses`).Scan(&addresses); err != nil {
		t.Fatal(err)
	}
	if used != touchBatchMax/2 || addresses != n+touchBatchMax/2 {
		t.Errorf("after Close: %d last uses of the %d noted, %d addresses (want %d)", used, touchBatchMax/2, addresses, n+touchBatchMax/2)
	}
}

// The uses waiting for a write are bounded: while the store does not keep
// up, a use past maxPendingTouches is not noted, and its token's next use
// is noted instead, so its last use is written once the store catches up.
func TestPendingTouchesBounded(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	raw := f.issue(t, store.Token{Kind: "publish"})
	tc := f.authn.touches
	tc.flushMu.Lock() // the store "does not keep up"
	for i := range maxPendingTouches + 100 {
		noted := tc.note(store.Touch{TokenID: -1 - int64(i), At: 1})
		if noted != (i < maxPendingTouches) {
			tc.flushMu.Unlock()
			t.Fatalf("use %d noted: %v", i, noted)
		}
	}
	// A token already waiting still has its newer use noted.
	if !tc.note(store.Touch{TokenID: -1, At: 2}) {
		tc.flushMu.Unlock()
		t.Fatal("a newer use of a waiting token was refused")
	}
	if _, err := f.authn.Bearer(ctx, raw, loopback); err != nil {
		tc.flushMu.Unlock()
		t.Fatal(err)
	}
	tc.mu.Lock()
	waiting := len(tc.pending)
	tc.mu.Unlock()
	tc.flushMu.Unlock()
	if waiting != maxPendingTouches {
		t.Fatalf("%d uses waiting, want %d", waiting, maxPendingTouches)
	}
	if err := f.authn.FlushLastUse(ctx); err != nil {
		t.Fatal(err)
	}
	lastUsed := func() sql.NullInt64 {
		t.Helper()
		h := token.Hash(raw)
		tok, err := f.st.Q().TokenByHash(ctx, h[:])
		if err != nil {
			t.Fatal(err)
		}
		return tok.LastUsedAt
	}
	if lu := lastUsed(); lu.Valid {
		t.Fatalf("a use refused for room was written: %v", lu)
	}
	// The next use, at the same clock reading, is due and written.
	if _, err := f.authn.Bearer(ctx, raw, loopback); err != nil {
		t.Fatal(err)
	}
	if err := f.authn.FlushLastUse(ctx); err != nil {
		t.Fatal(err)
	}
	if lu := lastUsed(); lu.Int64 != f.now.UnixMilli() {
		t.Fatalf("the next use was not written: %v", lu)
	}
}
