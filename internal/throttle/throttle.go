// Package throttle limits how often one client address may do something
// (fail to sign in, start a web login, sign up), with a token bucket per
// address from golang.org/x/time/rate. The buckets live in the memory of
// one process: each node of a cluster limits on its own, and the lockout
// counters in the database (internal/account) are what hold across nodes.
package throttle

import (
	"net/netip"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxClients bounds the addresses remembered at once. Past it, buckets
// that have refilled are dropped (they are as good as new); if none has, the
// oldest half are, so memory stays bounded under a spread of addresses
// (which then gets fresh buckets: the lockout counters still bound it).
const maxClients = 100_000

// Limiter is a token bucket per client address: burst attempts at once,
// then one every interval.
type Limiter struct {
	every time.Duration
	burst int
	now   func() time.Time

	mu      sync.Mutex
	clients map[string]*bucket
}

type bucket struct {
	lim *rate.Limiter
	// inflight counts the attempts taken and not yet done: each holds a
	// token of the bucket until it is known whether it failed.
	inflight int
	seen     time.Time
}

// New returns a limiter allowing burst attempts per address at once, and one
// more every interval after that. now is the clock; nil means time.Now.
func New(every time.Duration, burst int, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{every: every, burst: burst, now: now, clients: map[string]*bucket{}}
}

// Ticket is one attempt taken from an address's bucket; Done tells how it
// went.
type Ticket struct {
	l *Limiter
	b *bucket
}

// Done ends the attempt: a failed one spends a token of the bucket, one that
// succeeded gives it back. Call it once per ticket; the zero Ticket's does
// nothing.
func (t Ticket) Done(failed bool) {
	if t.b == nil {
		return
	}
	t.l.mu.Lock()
	defer t.l.mu.Unlock()
	t.b.inflight--
	if failed {
		t.b.lim.AllowN(t.l.now(), 1)
	}
}

// Take takes one attempt from ip's bucket: it is allowed while the tokens
// left outnumber the attempts already taken and not yet done, so a burst
// of parallel attempts gets no more than the bucket holds. When it is not
// allowed, ok is false and wait says about when the next one will be.
func (l *Limiter) Take(ip netip.Addr) (t Ticket, ok bool, wait time.Duration) {
	now := l.now()
	key := Key(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.clients[key]
	if b == nil {
		if len(l.clients) >= maxClients {
			l.sweep(now)
		}
		b = &bucket{lim: rate.NewLimiter(rate.Every(l.every), l.burst)}
		l.clients[key] = b
	}
	b.seen = now
	left := b.lim.TokensAt(now) - float64(b.inflight)
	if left < 1 {
		return Ticket{}, false, time.Duration((1 - left) * float64(l.every))
	}
	b.inflight++
	return Ticket{l: l, b: b}, true, 0
}

// Spend takes one attempt from ip's bucket and counts it, for limits on
// every attempt, failed or not.
func (l *Limiter) Spend(ip netip.Addr) (ok bool, wait time.Duration) {
	t, ok, wait := l.Take(ip)
	t.Done(true)
	return ok, wait
}

// sweep drops the buckets that have refilled, and if that frees nothing,
// the least recently used half. l.mu is held.
func (l *Limiter) sweep(now time.Time) {
	full := l.every * time.Duration(l.burst)
	for k, b := range l.clients {
		if b.inflight == 0 && now.Sub(b.seen) >= full {
			delete(l.clients, k)
		}
	}
	if len(l.clients) < maxClients {
		return
	}
	seen := make([]time.Time, 0, len(l.clients))
	for _, b := range l.clients {
		seen = append(seen, b.seen)
	}
	slices.SortFunc(seen, time.Time.Compare)
	cut := seen[len(seen)/2]
	for k, b := range l.clients {
		if !b.seen.After(cut) {
			delete(l.clients, k)
		}
	}
}

// Size is how many addresses the limiter remembers now.
func (l *Limiter) Size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}

// Key is the address a limit counts under: an IPv4 address, or the /64
// network of an IPv6 address (one subscriber's share, which one client
// gets whole); "unknown" when there is none.
func Key(ip netip.Addr) string {
	if !ip.IsValid() {
		return "unknown"
	}
	ip = ip.Unmap()
	if ip.Is6() {
		if p, err := ip.Prefix(64); err == nil {
			return p.String()
		}
	}
	return ip.String()
}

// Limits are the per-address limits of the API and the website, shared by
// both so that one address has one budget whichever way it comes in.
type Limits struct {
	// SignIns counts failed sign-ins from an address, whatever the user:
	// npm login (the couch login), the website's sign-in and the browser
	// confirmation of npm login and web OTPs. A sign-in that succeeds
	// costs nothing.
	SignIns *Limiter
	// SignUps counts the website's sign-ups from an address.
	SignUps *Limiter
	// WebLogins counts the web logins an address starts (POST /-/v1/login),
	// each a row in the database until it is confirmed or expires.
	WebLogins *Limiter
	// Exchanges counts the refused trusted publishing exchanges from an
	// address (POST /-/npm/v1/oidc/token/exchange/...); one that succeeds
	// costs nothing.
	Exchanges *Limiter
}

// DefaultLimits are the limits gatehouse runs with (docs/security-accounts.md):
// 20 failed sign-ins at once from an address, then 10 a minute; 10 sign-ups
// and 10 web logins at once, then 10 a minute; 20 refused trusted publishing
// exchanges at once, then 10 a minute.
func DefaultLimits() Limits {
	return Limits{
		SignIns:   New(6*time.Second, 20, nil),
		SignUps:   New(6*time.Second, 10, nil),
		WebLogins: New(6*time.Second, 10, nil),
		Exchanges: New(6*time.Second, 20, nil),
	}
}

// RetryAfter is wait in whole seconds, rounded up, at least 1: what a
// Retry-After header says.
func RetryAfter(wait time.Duration) int {
	s := int((wait + time.Second - 1) / time.Second)
	return max(s, 1)
}
