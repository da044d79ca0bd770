package auth

import (
	"context"
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
// effect on the next request.
type Authenticator struct {
	store       *store.Store
	format      token.Format
	now         func() time.Time
	legacyValid func() bool
	obs         Observer

	mu    sync.RWMutex
	cache map[[32]byte]*cachedToken

	// Revocations made by other processes (the admin command, other nodes)
	// are noticed by polling the store's revocation counter.
	pollMu      sync.Mutex
	lastPoll    time.Time
	revocations int64
}

// pollEvery bounds how stale the cache can be after a revocation made by
// another process; revocations through this process drop the token at once.
const pollEvery = 250 * time.Millisecond

// Observer hears how each bearer token check ends and whether the token
// cache held the token (internal/metrics counts them). Results are the
// Result* words.
type Observer interface {
	TokenAuthentication(result string)
	CacheLookup(cache string, hit bool)
}

// Results of a bearer token check, as told to the Observer.
const (
	ResultOK             = "ok"
	ResultBadChecksum    = "bad_checksum"    // not a well-formed token of this registry: no look-up made
	ResultUnknown        = "unknown"         // no such token, or its user is gone
	ResultRevoked        = "revoked"         // revoked
	ResultExpired        = "expired"         // past its expiry
	ResultLegacyDisabled = "legacy_disabled" // a legacy token while legacy tokens are disabled
	ResultIPDenied       = "ip_denied"       // used from outside its IP ranges
	ResultError          = "error"           // the store failed
)

// NewAuthenticator returns an Authenticator for tokens of format. legacy
// reports whether legacy tokens may be used (nil: always); obs, if not nil,
// hears every check's result.
func NewAuthenticator(s *store.Store, f token.Format, now func() time.Time, legacy func() bool, obs Observer) *Authenticator {
	if now == nil {
		now = time.Now
	}
	if legacy == nil {
		legacy = func() bool { return true }
	}
	if obs == nil {
		obs = silentObserver{}
	}
	return &Authenticator{store: s, format: f, now: now, legacyValid: legacy, obs: obs, cache: map[[32]byte]*cachedToken{}}
}

type silentObserver struct{}

func (silentObserver) TokenAuthentication(string) {}
func (silentObserver) CacheLookup(string, bool)   {}

// Forget drops a token from the cache; call it after revoking the token.
func (a *Authenticator) Forget(hash []byte) {
	var h [32]byte
	copy(h[:], hash)
	a.mu.Lock()
	delete(a.cache, h)
	a.mu.Unlock()
}

// ForgetAll empties the cache (after a change to users, say).
func (a *Authenticator) ForgetAll() {
	a.mu.Lock()
	a.cache = map[[32]byte]*cachedToken{}
	a.mu.Unlock()
}

// Bearer resolves a bearer token into a Principal. It checks, in order: the
// checksum (no look-up at all for a malformed token), a known hash, not
// revoked, not expired, the client address inside the token's ranges (fail
// closed). Any failure but the last is ErrAuthRequired.
func (a *Authenticator) Bearer(ctx context.Context, raw string, ip netip.Addr) (*Principal, error) {
	p, result, err := a.bearer(ctx, raw, ip)
	a.obs.TokenAuthentication(result)
	return p, err
}

func (a *Authenticator) bearer(ctx context.Context, raw string, ip netip.Addr) (*Principal, string, error) {
	if !a.format.Valid(raw) {
		return nil, ResultBadChecksum, ErrAuthRequired()
	}
	h := token.Hash(raw)
	a.pollRevocations(ctx)
	a.mu.RLock()
	c := a.cache[h]
	a.mu.RUnlock()
	a.obs.CacheLookup("token", c != nil)
	if c == nil {
		var result string
		var err error
		c, result, err = a.load(ctx, h)
		if err != nil {
			return nil, result, err
		}
	}
	now := a.now()
	if c.expiresAt != 0 && c.expiresAt <= now.UnixMilli() {
		return nil, ResultExpired, ErrAuthRequired()
	}
	if k := c.principal.Kind; (k == KindReadOnly || k == KindAutomation || k == KindPublish) && !a.legacyValid() {
		return nil, ResultLegacyDisabled, ErrAuthRequired()
	}
	if len(c.cidrs) > 0 && !inRanges(ip, c.cidrs) {
		return nil, ResultIPDenied, ErrIPNotAllowed()
	}
	a.touch(ctx, c, now, ip)
	p := c.principal
	p.ClientIP = ip
	return &p, ResultOK, nil
}

// pollRevocations empties the cache when the store's revocation counter has
// moved since the last look; it looks at most every pollEvery, and only one
// request at a time does.
func (a *Authenticator) pollRevocations(ctx context.Context) {
	if !a.pollMu.TryLock() {
		return
	}
	defer a.pollMu.Unlock()
	now := a.now()
	if now.Sub(a.lastPoll) < pollEvery {
		return
	}
	a.lastPoll = now
	n, err := a.store.Q().Revocations(ctx)
	if err != nil {
		// Fail safe: without the counter, trust nothing cached.
		a.ForgetAll()
		return
	}
	if n != a.revocations {
		a.revocations = n
		a.ForgetAll()
	}
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

// load reads a token and its user from the store into the cache. Revoked and
// unknown tokens are not cached: they cost a look-up, and cannot come back.
// On failure it also says why, as a Result* word.
func (a *Authenticator) load(ctx context.Context, h [32]byte) (*cachedToken, string, error) {
	t, err := a.store.Q().TokenByHash(ctx, h[:])
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			return nil, ResultUnknown, ErrAuthRequired()
		}
		return nil, ResultError, err
	}
	if t.RevokedAt.Valid {
		return nil, ResultRevoked, ErrAuthRequired()
	}
	u, err := a.store.Q().UserByID(ctx, t.UserID)
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			return nil, ResultUnknown, ErrAuthRequired()
		}
		return nil, ResultError, err
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
		return nil, ResultError, fmt.Errorf("decode cidr of token %s: %w", t.Key, err)
	}
	for _, s := range cidrs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, ResultError, fmt.Errorf("stored cidr %q of token %s: %w", s, t.Key, err)
		}
		c.cidrs = append(c.cidrs, p)
	}
	if c.principal.Kind == KindGranular {
		var g Grants
		if err := json.Unmarshal([]byte(t.Grants), &g); err != nil {
			return nil, ResultError, fmt.Errorf("decode grants of token %s: %w", t.Key, err)
		}
		c.principal.Grants = &g
	}
	a.mu.Lock()
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
	a.mu.Unlock()
	return c, "", nil
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
