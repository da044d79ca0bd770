package auth

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
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

// ErrAccountDisabled is the refusal of every credential and sign-in of an
// account an administrator disabled: a 403 that says so, on every request
// (not the 401 of an unusable token, which lets a public read go on
// anonymously), so that its owner knows why and whom to ask.
func ErrAccountDisabled() *fault.Error {
	return fault.Forbiddenf("This account is disabled: ask an administrator of this registry")
}

// touchEvery bounds last_used writes to one per token per interval.
const touchEvery = time.Minute

// cacheLimit bounds the number of tokens kept in memory (see tokenCache
// for which stay).
const cacheLimit = 100_000

// cachedToken is what a request needs of a token, kept between requests.
type cachedToken struct {
	principal Principal // without ClientIP
	cidrs     []netip.Prefix
	expiresAt int64 // Unix ms; 0 means never

	mu        sync.Mutex
	lastTouch time.Time
	// recent are the last addresses the token was used from, and
	// addressesFull is set once the store holds all the addresses it may
	// for the token (see address.go).
	recent        []netip.Addr
	addressesFull bool
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
	obs         Observer

	touches *toucher

	mu sync.RWMutex
	// tokens are the cached tokens, and cache its index by hash (the
	// same map, for a plain look-up): both are replaced together.
	tokens *tokenCache
	cache  map[[32]byte]*cacheEntry
	// gen grows with every Forget and ForgetAll: a token read from the
	// store before one of them is not cached after it.
	gen uint64
}

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
	ResultDisabled       = "disabled"        // its user is disabled
	ResultError          = "error"           // the store failed
)

// NewAuthenticator returns an Authenticator for tokens of format; changes
// tells it of tokens revoked and users changed by any process. legacy
// reports whether legacy tokens may be used (nil: always); obs, if not nil,
// hears every check's result; log, if not nil, hears of failures to record
// a token's last use. Close stops its background writer.
func NewAuthenticator(s *store.Store, f token.Format, changes store.Changes, now func() time.Time, legacy func() bool, obs Observer, log *slog.Logger) *Authenticator {
	if now == nil {
		now = time.Now
	}
	if legacy == nil {
		legacy = func() bool { return true }
	}
	if obs == nil {
		obs = silentObserver{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Authenticator{store: s, format: f, now: now, legacyValid: legacy, obs: obs,
		touches: newToucher(s, log)}
	a.setCache(newTokenCache(cacheLimit))
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

type silentObserver struct{}

func (silentObserver) TokenAuthentication(string) {}
func (silentObserver) CacheLookup(string, bool)   {}

// Forget drops a token from the cache; call it after revoking the token.
func (a *Authenticator) Forget(hash []byte) {
	var h [32]byte
	copy(h[:], hash)
	a.mu.Lock()
	a.tokens.remove(h)
	a.gen++
	a.mu.Unlock()
}

// setCache makes c the token cache; call it with mu held, or before a is shared.
func (a *Authenticator) setCache(c *tokenCache) { a.tokens, a.cache = c, c.m }

// ForgetAll empties the cache.
func (a *Authenticator) ForgetAll() {
	a.mu.Lock()
	a.setCache(newTokenCache(a.tokens.limit))
	a.gen++
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
	a.mu.RLock()
	c := a.tokens.get(h)
	gen := a.gen
	a.mu.RUnlock()
	a.obs.CacheLookup("token", c != nil)
	if c == nil {
		var result string
		var err error
		c, result, err = a.load(ctx, h, gen)
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
	a.touch(c, now, ip)
	a.noteAddress(c, ip, now)
	p := c.principal
	p.ClientIP = ip
	return &p, ResultOK, nil
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

// load reads a token and its user from the store (one indexed look-up)
// into the cache, unless the cache was invalidated since gen was read (the
// token may have been read before its revocation committed). Revoked and
// unknown tokens are not cached: they cost a look-up, and cannot come back.
// On failure it also says why, as a Result* word.
func (a *Authenticator) load(ctx context.Context, h [32]byte, gen uint64) (*cachedToken, string, error) {
	t, u, err := a.store.Q().TokenUserByHash(ctx, h[:])
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			// No such token, or its user is gone.
			return nil, ResultUnknown, ErrAuthRequired()
		}
		return nil, ResultError, err
	}
	if t.RevokedAt.Valid {
		return nil, ResultRevoked, ErrAuthRequired()
	}
	if Kind(t.Kind) == KindOperator {
		// The operator is never a token; a row claiming it is not one of ours.
		return nil, ResultUnknown, ErrAuthRequired()
	}
	if u.Disabled() {
		// Not cached: enabling the account (a user change, which empties
		// the cache everywhere) must not wait for anything.
		return nil, ResultDisabled, ErrAccountDisabled()
	}
	c := &cachedToken{principal: Principal{
		UserID: u.ID, UserName: u.Name, Email: u.Email, Admin: u.Admin,
		TokenID: t.ID, TokenKey: t.Key, Kind: Kind(t.Kind), Bypass2FA: t.Bypass2FA,
	}}
	if t.ExpiresAt.Valid {
		c.expiresAt = t.ExpiresAt.Int64
	}
	if t.LastUsedAt.Valid {
		c.lastTouch = time.UnixMilli(t.LastUsedAt.Int64)
	}
	var cidrs []string
	if t.CIDR != "[]" { // most tokens have no ranges: nothing to decode
		if err := json.Unmarshal([]byte(t.CIDR), &cidrs); err != nil {
			return nil, ResultError, fmt.Errorf("decode cidr of token %s: %w", t.Key, err)
		}
	}
	for _, s := range cidrs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, ResultError, fmt.Errorf("stored cidr %q of token %s: %w", s, t.Key, err)
		}
		c.cidrs = append(c.cidrs, p)
	}
	c.principal.AddressBound = len(c.cidrs) > 0
	if c.principal.Kind == KindGranular {
		var g Grants
		if err := json.Unmarshal([]byte(t.Grants), &g); err != nil {
			return nil, ResultError, fmt.Errorf("decode grants of token %s: %w", t.Key, err)
		}
		c.principal.Grants = &g
	}
	if c.principal.Kind == KindOIDC {
		var tr Trust
		if err := json.Unmarshal([]byte(t.Grants), &tr); err != nil {
			return nil, ResultError, fmt.Errorf("decode trust of token %s: %w", t.Key, err)
		}
		c.principal.Trust = &tr
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.gen != gen {
		return c, "", nil
	}
	a.tokens.add(h, c)
	return c, "", nil
}

// touch notes the token's use at most once per touchEvery, so a busy token
// costs nothing per request; the note is written within a second, in a batch
// (see toucher), so no request waits for the write. A use the toucher has
// no room for is not noted, and the token's next use is noted instead.
func (a *Authenticator) touch(c *cachedToken, now time.Time, ip netip.Addr) {
	c.mu.Lock()
	last := c.lastTouch
	due := now.Sub(last) >= touchEvery
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
	if !a.touches.note(store.Touch{TokenID: c.principal.TokenID, At: now.UnixMilli(), IP: ipText}) {
		// Too many uses waiting: this one is not noted, so the token's
		// next use is due at once.
		c.mu.Lock()
		if c.lastTouch.Equal(now) {
			c.lastTouch = last
		}
		c.mu.Unlock()
	}
}

// FlushLastUse writes every token use noted so far, so that a token list
// read after it shows them.
func (a *Authenticator) FlushLastUse(ctx context.Context) error {
	return a.touches.flush(ctx)
}

// Close writes the uses still waiting and stops the background writer.
func (a *Authenticator) Close() { a.touches.close() }
