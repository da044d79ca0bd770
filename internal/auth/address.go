package auth

import (
	"context"
	"net/netip"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// A token used from an address it was never used from is an audit event
// (token.new_address). Telling one costs nothing on the request path and
// stays bounded whatever a token's holder does:
//
//   - Each cached token remembers the last recentAddresses addresses it was
//     used from; a use from one of them is not looked at again.
//   - A use from another is noted in memory, and written by the background
//     writer within a second (store.AddTokenAddress in one transaction, the
//     event in the same one): the store says whether the address is new
//     for the token, on any node, so each address is one event at most.
//   - The store keeps at most MaxTokenAddresses addresses a token. Past
//     that, no address of the token is new any more: the cached token
//     stops noting, and the token makes no more events. A token used from
//     10,000 addresses thus writes at most MaxTokenAddresses events in its
//     life, however fast it is used; the token list still shows its last
//     address.
//   - At most maxPendingAddresses notes wait for a write; past them (more
//     new token addresses in a second than that), notes are dropped, and a
//     dropped address is noted again on its next use once it has left the
//     token's recent addresses.
const (
	// MaxTokenAddresses bounds the addresses recorded per token (the
	// token's creation address included).
	MaxTokenAddresses   = 200
	recentAddresses     = 8
	maxPendingAddresses = 4096
)

// AddressLog hears of a token used from an address not recorded for it
// before, in the transaction q that records the address (internal/audit
// writes the event).
type AddressLog interface {
	TokenNewAddress(ctx context.Context, q store.Queries, p Principal, ip netip.Addr, at time.Time) error
}

// SetAddressLog makes uses of tokens from new addresses events of log.
// Call it before the first request; without it no address is recorded.
func (a *Authenticator) SetAddressLog(log AddressLog) { a.touches.addrLog = log }

// addressNote is a token's use from an address not among its recent ones.
type addressNote struct {
	token *cachedToken
	ip    netip.Addr
	at    time.Time
	seq   uint64 // the order noted, for uses within the same clock reading
}

// noteAddress notes c's use from ip unless ip is among its recent addresses
// or c has all the addresses it may have.
func (a *Authenticator) noteAddress(c *cachedToken, ip netip.Addr, now time.Time) {
	if a.touches.addrLog == nil || !ip.IsValid() {
		return
	}
	ip = ip.Unmap()
	c.mu.Lock()
	if c.addressesFull {
		c.mu.Unlock()
		return
	}
	for _, r := range c.recent {
		if r == ip {
			c.mu.Unlock()
			return
		}
	}
	if len(c.recent) >= recentAddresses {
		copy(c.recent, c.recent[1:])
		c.recent = c.recent[:len(c.recent)-1]
	}
	c.recent = append(c.recent, ip)
	c.mu.Unlock()
	a.touches.noteAddress(addressNote{token: c, ip: ip, at: now})
}

type addressKey struct {
	token int64
	ip    netip.Addr
}

// noteAddress keeps n for the next flush, unless as many are waiting as may.
func (t *toucher) noteAddress(n addressNote) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := addressKey{n.token.principal.TokenID, n.ip}
	if _, ok := t.addresses[k]; ok || len(t.addresses) >= maxPendingAddresses {
		return
	}
	t.addressSeq++
	n.seq = t.addressSeq
	t.addresses[k] = n
}

// flushAddresses records the noted addresses, and for each that is new to
// its token, the event, in one transaction.
func (t *toucher) flushAddresses(ctx context.Context, notes []addressNote) error {
	var full []*cachedToken
	err := t.store.InTx(ctx, func(q store.Queries) error {
		full = full[:0]
		for _, n := range notes {
			p := n.token.principal
			added, err := q.AddTokenAddress(ctx, p.TokenID, n.ip.String(), n.at.UnixMilli(), MaxTokenAddresses)
			if err != nil {
				return err
			}
			if added {
				if err := t.addrLog.TokenNewAddress(ctx, q, p, n.ip, n.at); err != nil {
					return err
				}
				continue
			}
			known, err := q.TokenAddressKnown(ctx, p.TokenID, n.ip.String())
			if err != nil {
				return err
			}
			if !known {
				// Neither new nor known: the token has all its addresses (or is gone).
				full = append(full, n.token)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, c := range full {
		c.mu.Lock()
		c.addressesFull = true
		c.mu.Unlock()
	}
	return nil
}
