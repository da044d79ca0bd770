package throttle

import (
	"net/netip"
	"testing"
	"time"
)

// TestLimiter: burst attempts at once per address, then one per interval;
// an attempt holds a token while in flight and gives it back when it
// succeeds; addresses do not share a bucket, except
// the addresses of one IPv6 /64.
func TestLimiter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	l := New(6*time.Second, 3, func() time.Time { return now })
	a := netip.MustParseAddr("192.0.2.1")
	for i := range 3 {
		if ok, _ := l.Spend(a); !ok {
			t.Fatalf("attempt %d of the burst refused", i+1)
		}
	}
	ok, wait := l.Spend(a)
	if ok || wait != 6*time.Second {
		t.Fatalf("past the burst: ok %v, wait %v; want refused for 6s", ok, wait)
	}
	if ok, _ := l.Spend(netip.MustParseAddr("192.0.2.2")); !ok {
		t.Fatal("another address shares the bucket")
	}
	now = now.Add(6 * time.Second)
	tk, ok, _ := l.Take(a)
	if !ok {
		t.Fatal("refused after the interval")
	}
	if _, ok, _ := l.Take(a); ok {
		t.Fatal("an attempt in flight did not hold its token")
	}
	tk.Done(false)
	if ok, _ := l.Spend(a); !ok {
		t.Fatal("an attempt that succeeded spent the token")
	}
	if ok, _ := l.Spend(a); ok {
		t.Fatal("more than the refill")
	}
	// A parallel burst gets what the bucket holds, however the attempts end.
	b := New(time.Minute, 5, func() time.Time { return now })
	var tickets []Ticket
	for range 50 {
		if tk, ok, _ := b.Take(a); ok {
			tickets = append(tickets, tk)
		}
	}
	if len(tickets) != 5 {
		t.Fatalf("50 attempts in flight at once: %d allowed, want 5", len(tickets))
	}
	for _, tk := range tickets {
		tk.Done(true)
	}
	if _, ok, wait := b.Take(a); ok || wait != time.Minute {
		t.Fatalf("after 5 failures: ok %v wait %v", ok, wait)
	}
	v6 := New(time.Minute, 1, func() time.Time { return now })
	if ok, _ := v6.Spend(netip.MustParseAddr("2001:db8:1:2::1")); !ok {
		t.Fatal("first IPv6 attempt refused")
	}
	if ok, _ := v6.Spend(netip.MustParseAddr("2001:db8:1:2:ffff::7")); ok {
		t.Fatal("another address of the same /64 got a bucket of its own")
	}
	if ok, _ := v6.Spend(netip.MustParseAddr("::ffff:192.0.2.1")); !ok {
		t.Fatal("an IPv4-mapped address is its IPv4 address, with a bucket of its own")
	}
}

// TestLimiterMemoryIsBounded: a spread of addresses past maxClients does not
// grow the map past it.
func TestLimiterMemoryIsBounded(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	l := New(time.Minute, 5, func() time.Time { return now })
	for i := range maxClients + 1000 {
		if i%1000 == 0 {
			now = now.Add(time.Millisecond)
		}
		l.Spend(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
	if n := l.Size(); n > maxClients {
		t.Fatalf("%d addresses remembered, want at most %d", n, maxClients)
	}
}

func TestKey(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", "unknown"},
		{"192.0.2.1", "192.0.2.1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
	} {
		var ip netip.Addr
		if tt.in != "" {
			ip = netip.MustParseAddr(tt.in)
		}
		if got := Key(ip); got != tt.want {
			t.Errorf("Key(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
