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
//     writer within a second, with the batch's last uses
//     (store.AddTokenAddresses in one transaction, the events in the same
//     one): the store says whether the address is new for the token, on
//     any node, so each address is one event at most.
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

// AddressBatchLog is an AddressLog that also hears of many such uses at
// once, in their order (internal/audit writes their events together).
type AddressBatchLog interface {
	AddressLog
	TokenNewAddresses(ctx context.Context, q store.Queries, uses []AddressUse) error
}

// AddressUse is a token's use from an address new to it.
type AddressUse struct {
	Principal Principal
	IP        netip.Addr
	At        time.Time
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
// A flush starts at once when touchBatchMax are waiting, as for last uses.
func (t *toucher) noteAddress(n addressNote) {
	t.mu.Lock()
	k := addressKey{n.token.principal.TokenID, n.ip}
	if _, ok := t.addresses[k]; ok || len(t.addresses) >= maxPendingAddresses {
		t.mu.Unlock()
		return
	}
	t.addressSeq++
	n.seq = t.addressSeq
	t.addresses[k] = n
	waiting := len(t.addresses)
	t.mu.Unlock()
	if waiting >= touchBatchMax {
		t.kickFlush()
	}
}

// recordAddresses records the noted addresses in q, and for each that is
// new to its token, the event (all at once when the log can); it returns
// the tokens that have all the addresses they may have.
func (t *toucher) recordAddresses(ctx context.Context, q store.Queries, notes []addressNote) ([]*cachedToken, error) {
	if len(notes) == 0 {
		return nil, nil
	}
	uses := make([]store.TokenAddress, len(notes))
	byUse := make(map[store.TokenAddress]*addressNote, len(notes))
	tokens := make(map[int64]*cachedToken)
	for i := range notes {
		n := &notes[i]
		uses[i] = store.TokenAddress{TokenID: n.token.principal.TokenID, IP: n.ip.String(), At: n.at.UnixMilli()}
		byUse[uses[i]] = n
		tokens[uses[i].TokenID] = n.token
	}
	added, fullIDs, err := q.AddTokenAddresses(ctx, uses, MaxTokenAddresses)
	if err != nil {
		return nil, err
	}
	events := make([]AddressUse, 0, len(added))
	for _, u := range added {
		n := byUse[u]
		events = append(events, AddressUse{Principal: n.token.principal, IP: n.ip, At: n.at})
	}
	if batch, ok := t.addrLog.(AddressBatchLog); ok {
		if err := batch.TokenNewAddresses(ctx, q, events); err != nil {
			return nil, err
		}
	} else {
		for _, e := range events {
			if err := t.addrLog.TokenNewAddress(ctx, q, e.Principal, e.IP, e.At); err != nil {
				return nil, err
			}
		}
	}
	full := make([]*cachedToken, 0, len(fullIDs))
	for _, id := range fullIDs {
		full = append(full, tokens[id])
	}
	return full, nil
}
