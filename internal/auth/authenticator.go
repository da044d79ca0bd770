package auth

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/gatehouse-registry/gatehouse/internal/token"
)

// ErrAuthRequired is the 401 every unusable credential gets: unknown, revoked
// and expired tokens look the same to the client.
func ErrAuthRequired() *fault.Error {
	return &fault.Error{Kind: fault.Unauthorized, Message: "Authentication required", Challenge: `Bearer realm="gatehouse"`}
}

// ErrIPNotAllowed is the 401 for a token used from outside its IP ranges.
func ErrIPNotAllowed() *fault.Error {
	return &fault.Error{Kind: fault.Unauthorized, Message: "Login is not allowed from your IP address", Challenge: "ipaddress"}
}

// touchEvery bounds last_used writes to one per token per interval.
const touchEvery = time.Minute

// cacheLimit bounds the number of tokens kept in memory.
const cacheLimit = 100_000

// cachedToken is what a request needs of a token, kept between requests.
type cachedToken struct {
	principal Principal // without ClientIP
	cidrs     []netip.Prefix
	expiresAt int64 // Unix ms; 0 means never

	mu        sync.Mutex
	lastTouch time.Time
}

// Authenticator checks bearer tokens. Known tokens are cached in memory by
// hash; revoking a token (Forget) drops it at once, so revocation takes
// effect on the next request. Revocations made by other processes (other
// nodes, the admin command) arrive through the store's change feed.
type Authenticator struct {
	store       *store.Store
	format      token.Format
	now         func() time.Time
	legacyValid func() bool

	mu    sync.RWMutex
	cache map[[32]byte]*cachedToken
	// gen grows with every Forget and ForgetAll: a token read from the
	// store before one of them is not cached after it.
	gen uint64
}

// NewAuthenticator returns an Authenticator for tokens of format; changes
// tells it of tokens revoked and users changed by any process. legacy
// reports whether legacy tokens may be used (nil: always).
func NewAuthenticator(s *store.Store, f token.Format, changes store.Changes, now func() time.Time, legacy func() bool) *Authenticator {
	if now == nil {
		now = time.Now
	}
	if legacy == nil {
		legacy = func() bool { return true }
	}
	a := &Authenticator{store: s, format: f, now: now, legacyValid: legacy, cache: map[[32]byte]*cachedToken{}}
	changes.Subscribe(a.changed)
	return a
}

// changed drops what a change makes stale: the revoked token, or everything
// when it is unknown which token, or a user changed (a rare event: their
// tokens are not indexed), or changes may have been missed.
func (a *Authenticator) changed(c store.Change) {
	switch c.Kind {
	case store.TokenRevoked:
		if h, err := hex.DecodeString(c.Key); err == nil && len(h) == 32 {
			a.Forget(h)
			return
		}
		a.ForgetAll()
	case store.UserChanged, store.AnyChange:
		a.ForgetAll()
	}
}

// Forget drops a token from the cache; call it after revoking the token.
func (a *Authenticator) Forget(hash []byte) {
	var h [32]byte
	copy(h[:], hash)
	a.mu.Lock()
	delete(a.cache, h)
	a.gen++
	a.mu.Unlock()
}

// ForgetAll empties the cache.
func (a *Authenticator) ForgetAll() {
	a.mu.Lock()
	a.cache = map[[32]byte]*cachedToken{}
	a.gen++
	a.mu.Unlock()
}

// Bearer resolves a bearer token into a Principal. It checks, in order: the
// checksum (no look-up at all for a malformed token), a known hash, not
// revoked, not expired, the client address inside the token's ranges (fail
// closed). Any failure but the last is ErrAuthRequired.
func (a *Authenticator) Bearer(ctx context.Context, raw string, ip netip.Addr) (*Principal, error) {
	if !a.format.Valid(raw) {
		return nil, ErrAuthRequired()
	}
	h := token.Hash(raw)
	a.mu.RLock()
	c := a.cache[h]
	gen := a.gen
	a.mu.RUnlock()
	if c == nil {
		var err error
		c, err = a.load(ctx, h, gen)
		if err != nil {
			return nil, err
		}
	}
	now := a.now()
	if c.expiresAt != 0 && c.expiresAt <= now.UnixMilli() {
		return nil, ErrAuthRequired()
	}
	if k := c.principal.Kind; (k == KindReadOnly || k == KindAutomation || k == KindPublish) && !a.legacyValid() {
		return nil, ErrAuthRequired()
	}
	if len(c.cidrs) > 0 && !inRanges(ip, c.cidrs) {
		return nil, ErrIPNotAllowed()
	}
	a.touch(ctx, c, now, ip)
	p := c.principal
	p.ClientIP = ip
	return &p, nil
}

// inRanges reports whether ip is inside one of ranges; an unknown address is in none.
func inRanges(ip netip.Addr, ranges []netip.Prefix) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	for _, r := range ranges {
		if r.Contains(ip) {
			return true
		}
	}
	return false
}

// load reads a token and its user from the store into the cache, unless the
// cache was invalidated since gen was read (the token may have been read
// before its revocation committed). Revoked and unknown tokens are not
// cached: they cost a look-up, and cannot come back.
func (a *Authenticator) load(ctx context.Context, h [32]byte, gen uint64) (*cachedToken, error) {
	t, err := a.store.Q().TokenByHash(ctx, h[:])
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			return nil, ErrAuthRequired()
		}
		return nil, err
	}
	if t.RevokedAt.Valid {
		return nil, ErrAuthRequired()
	}
	u, err := a.store.Q().UserByID(ctx, t.UserID)
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			return nil, ErrAuthRequired()
		}
		return nil, err
	}
	c := &cachedToken{principal: Principal{
		UserID: u.ID, UserName: u.Name, Email: u.Email,
		TokenID: t.ID, TokenKey: t.Key, Kind: Kind(t.Kind), Bypass2FA: t.Bypass2FA,
	}}
	if t.ExpiresAt.Valid {
		c.expiresAt = t.ExpiresAt.Int64
	}
	if t.LastUsedAt.Valid {
		c.lastTouch = time.UnixMilli(t.LastUsedAt.Int64)
	}
	var cidrs []string
	if err := json.Unmarshal([]byte(t.CIDR), &cidrs); err != nil {
		return nil, fmt.Errorf("decode cidr of token %s: %w", t.Key, err)
	}
	for _, s := range cidrs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("stored cidr %q of token %s: %w", s, t.Key, err)
		}
		c.cidrs = append(c.cidrs, p)
	}
	if c.principal.Kind == KindGranular {
		var g Grants
		if err := json.Unmarshal([]byte(t.Grants), &g); err != nil {
			return nil, fmt.Errorf("decode grants of token %s: %w", t.Key, err)
		}
		c.principal.Grants = &g
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.gen != gen {
		return c, nil
	}
	if len(a.cache) >= cacheLimit {
		// Drop an arbitrary eighth: cheap, and a dropped token only costs a reload.
		n := 0
		for k := range a.cache {
			delete(a.cache, k)
			if n++; n >= cacheLimit/8 {
				break
			}
		}
	}
	a.cache[h] = c
	return c, nil
}

// touch records the token's use at most once per touchEvery, so a busy token
// costs no database write per request.
func (a *Authenticator) touch(ctx context.Context, c *cachedToken, now time.Time, ip netip.Addr) {
	c.mu.Lock()
	due := now.Sub(c.lastTouch) >= touchEvery
	if due {
		c.lastTouch = now
	}
	c.mu.Unlock()
	if !due {
		return
	}
	ipText := ""
	if ip.IsValid() {
		ipText = ip.String()
	}
	// A failed touch must not fail the request; the next one retries after the interval.
	_ = a.store.Q().TouchToken(context.WithoutCancel(ctx), c.principal.TokenID, now.UnixMilli(), ipText)
}
