package audit

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// TestTokenNewAddressesBatch: the batch writes each use's event exactly as
// TokenNewAddress writes it alone, in the order given.
func TestTokenNewAddressesBatch(t *testing.T) {
	l, st, c := newLog(t, 0)
	ctx := context.Background()
	alice := auth.Principal{UserID: 3, UserName: "alice", TokenKey: "k-1", Kind: auth.KindGranular}
	bob := auth.Principal{UserID: 4, UserName: "bob", TokenKey: "k-2", Kind: auth.KindPublish}
	uses := []auth.AddressUse{
		{Principal: alice, IP: netip.MustParseAddr("192.0.2.1"), At: c.now()},
		{Principal: bob, IP: netip.MustParseAddr("2001:db8::1"), At: c.now().Add(time.Second)},
		{Principal: alice, IP: netip.MustParseAddr("::ffff:192.0.2.2"), At: c.now().Add(2 * time.Second)},
	}
	if err := st.InTx(ctx, func(q store.Queries) error {
		for _, u := range uses {
			if err := l.TokenNewAddress(ctx, q, u.Principal, u.IP, u.At); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	one := all(t, st)
	if err := st.InTx(ctx, func(q store.Queries) error {
		if err := l.TokenNewAddresses(ctx, q, nil); err != nil {
			return err
		}
		return l.TokenNewAddresses(ctx, q, uses)
	}); err != nil {
		t.Fatal(err)
	}
	rows := all(t, st)
	if len(one) != len(uses) || len(rows) != 2*len(uses) {
		t.Fatalf("%d events one by one, %d in all; want %d and %d", len(one), len(rows), len(uses), 2*len(uses))
	}
	for i, want := range one {
		got := rows[len(uses)+i]
		got.ID = want.ID
		if got != want {
			t.Errorf("event %d of the batch:\n%+v\nwant, as one by one,\n%+v", i, got, want)
		}
	}
	if rows[len(uses)+2].ClientIP != "192.0.2.2" || rows[len(uses)+1].TokenKey != "k-2" {
		t.Errorf("batch rows: %+v", rows[len(uses):])
	}
}
