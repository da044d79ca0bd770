package auth

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// addressLog keeps the new addresses it hears of, as "key ip".
type addressLog struct {
	mu    sync.Mutex
	heard []string
}

func (l *addressLog) TokenNewAddress(_ context.Context, _ store.Queries, p Principal, ip netip.Addr, _ time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.heard = append(l.heard, p.TokenKey+" "+ip.String())
	return nil
}

func (l *addressLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.heard
	l.heard = nil
	return h
}

func TestNewAddresses(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	heard := &addressLog{}
	f.authn.SetAddressLog(heard)
	raw := f.issue(t, store.Token{Kind: "publish"})
	key := raw[4:40]
	use := func(ip string) {
		t.Helper()
		if _, err := f.authn.Bearer(ctx, raw, netip.MustParseAddr(ip)); err != nil {
			t.Fatalf("use from %s: %v", ip, err)
		}
	}
	flush := func() []string {
		t.Helper()
		if err := f.authn.FlushLastUse(ctx); err != nil {
			t.Fatal(err)
		}
		return heard.take()
	}
	steps := []struct {
		name string
		ips  []string
		want []string
	}{
		{"first use", []string{"192.0.2.1"}, []string{"192.0.2.1"}},
		{"the same address again", []string{"192.0.2.1", "192.0.2.1"}, nil},
		{"a new address, and an IPv4 one mapped into IPv6 is the same", []string{"2001:db8::1", "::ffff:192.0.2.1"}, []string{"2001:db8::1"}},
		{"two new ones in one batch", []string{"192.0.2.2", "192.0.2.3", "192.0.2.2"}, []string{"192.0.2.2", "192.0.2.3"}},
	}
	for _, s := range steps {
		for _, ip := range s.ips {
			use(ip)
		}
		got := flush()
		var want []string
		for _, ip := range s.want {
			want = append(want, key+" "+ip)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: heard %q, want %q", s.name, got, want)
		}
	}

	// Another node (its own cache, the same store) knows the addresses
	// already: a use from one is no event there either.
	feed := store.NewFeed(f.st, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { feed.Close() })
	other := NewAuthenticator(f.st, f.format, feed, func() time.Time { return f.now }, nil, nil, nil)
	t.Cleanup(other.Close)
	other.SetAddressLog(heard)
	for _, ip := range []string{"192.0.2.1", "192.0.2.3", "192.0.2.4"} {
		if _, err := other.Bearer(ctx, raw, netip.MustParseAddr(ip)); err != nil {
			t.Fatal(err)
		}
	}
	if err := other.FlushLastUse(ctx); err != nil {
		t.Fatal(err)
	}
	if got := heard.take(); fmt.Sprint(got) != fmt.Sprint([]string{key + " 192.0.2.4"}) {
		t.Errorf("the other node heard %q, want only 192.0.2.4", got)
	}
}

// A token used from ever more addresses (an attacker's, rotating through
// an IPv6 prefix) makes at most MaxTokenAddresses events in its life, and
// once it has them, its uses cost no more writes.
func TestNewAddressesBounded(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	heard := &addressLog{}
	f.authn.SetAddressLog(heard)
	raw := f.issue(t, store.Token{Kind: "publish"})
	events := 0
	const uses = 3 * MaxTokenAddresses
	for i := range uses {
		ip := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)})
		if _, err := f.authn.Bearer(ctx, raw, ip); err != nil {
			t.Fatal(err)
		}
		if i%50 == 49 {
			if err := f.authn.FlushLastUse(ctx); err != nil {
				t.Fatal(err)
			}
			events += len(heard.take())
		}
	}
	if events != MaxTokenAddresses {
		t.Errorf("%d uses from as many addresses made %d events, want %d", uses, events, MaxTokenAddresses)
	}
	// The token is known to be full: a further new address is not even noted.
	if _, err := f.authn.Bearer(ctx, raw, netip.MustParseAddr("198.51.100.7")); err != nil {
		t.Fatal(err)
	}
	f.authn.touches.mu.Lock()
	waiting := len(f.authn.touches.addresses)
	f.authn.touches.mu.Unlock()
	if waiting != 0 {
		t.Errorf("a full token's use from a new address was noted (%d waiting)", waiting)
	}
	var n int
	if err := f.st.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM token_addresses`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != MaxTokenAddresses {
		t.Errorf("%d addresses stored, want %d", n, MaxTokenAddresses)
	}
}

// The pending notes are bounded too: more new addresses in a second than
// maxPendingAddresses are dropped, not queued.
func TestPendingAddressesBounded(t *testing.T) {
	f := newFixture(t)
	heard := &addressLog{}
	f.authn.SetAddressLog(heard)
	c := &cachedToken{principal: Principal{TokenID: 1}}
	f.authn.touches.flushMu.Lock() // no flush meanwhile
	defer f.authn.touches.flushMu.Unlock()
	for i := range maxPendingAddresses + 100 {
		f.authn.touches.noteAddress(addressNote{token: c, ip: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), at: f.now})
	}
	f.authn.touches.mu.Lock()
	n := len(f.authn.touches.addresses)
	f.authn.touches.mu.Unlock()
	if n != maxPendingAddresses {
		t.Errorf("%d notes waiting, want %d", n, maxPendingAddresses)
	}
}
