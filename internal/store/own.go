package store

import (
	"context"
	"sync"
)

// maxOwnChanges bounds the changes a Store remembers having committed, per
// counter, for a feed that never takes them (a store without a feed, or
// notifications lost while the listener was down). Forgetting one only
// makes a change of this process look like another's: subscribers then drop
// what they hold, as they would without the mark.
const maxOwnChanges = 4096

// ownChanges remembers the changes a Store committed itself, by counter and
// the value Publish bumped it to, so that its Feed can mark them Own: a
// subscriber that applied its own change at once need not undo what it
// kept since (docs/uplinks.md: a node does not evict what it has just
// cached).
//
// A change is pending from just before its transaction commits until the
// commit returns: a feed that hears of it meanwhile waits for the outcome,
// so that it never takes another process's change for this one's (after a
// rollback another transaction may bump the counter to the same value).
type ownChanges struct {
	mu sync.Mutex
	// by holds, per counter, the values this store committed (or is
	// committing) with their changes.
	by map[string]map[int64]*ownChange
}

type ownChange struct {
	change Change
	// done is closed when the commit has returned; committed then tells
	// whether it succeeded.
	done      chan struct{}
	committed bool
}

// published is a change published in a transaction, with the value its
// counter took.
type published struct {
	change  Change
	counter string
	seq     int64
}

func newOwnChanges() *ownChanges {
	return &ownChanges{by: map[string]map[int64]*ownChange{}}
}

// pending records the changes of a transaction about to commit; the
// returned function records the commit's outcome.
func (o *ownChanges) pending(pub []published) (settle func(committed bool)) {
	if o == nil || len(pub) == 0 {
		return func(bool) {}
	}
	entries := make([]*ownChange, len(pub))
	o.mu.Lock()
	for i, p := range pub {
		m := o.by[p.counter]
		if m == nil {
			m = map[int64]*ownChange{}
			o.by[p.counter] = m
		}
		if len(m) >= maxOwnChanges {
			dropOldest(m)
		}
		entries[i] = &ownChange{change: p.change, done: make(chan struct{})}
		m[p.seq] = entries[i]
	}
	o.mu.Unlock()
	return func(committed bool) {
		o.mu.Lock()
		for i, e := range entries {
			e.committed = committed
			close(e.done)
			if !committed && o.by[pub[i].counter][pub[i].seq] == e {
				delete(o.by[pub[i].counter], pub[i].seq)
			}
		}
		o.mu.Unlock()
	}
}

// dropOldest forgets the lowest half of m's values. Called with mu held.
func dropOldest(m map[int64]*ownChange) {
	var lo, hi int64
	first := true
	for seq := range m {
		if first || seq < lo {
			lo = seq
		}
		if first || seq > hi {
			hi = seq
		}
		first = false
	}
	mid := lo + (hi-lo)/2
	for seq := range m {
		if seq <= mid {
			delete(m, seq)
		}
	}
}

// take returns the change this store committed as counter's value seq,
// waiting for a commit under way to return, and forgets it together with
// any older value of counter (the counter moves in commit order, so those
// will not be heard of again). ok is false when the change is not this
// store's, or ctx ends first.
func (o *ownChanges) take(ctx context.Context, counter string, seq int64) (Change, bool) {
	if o == nil {
		return Change{}, false
	}
	o.mu.Lock()
	e := o.by[counter][seq]
	for s := range o.by[counter] {
		if s <= seq {
			delete(o.by[counter], s)
		}
	}
	o.mu.Unlock()
	if e == nil {
		return Change{}, false
	}
	select {
	case <-e.done:
	case <-ctx.Done():
		return Change{}, false
	}
	return e.change, e.committed
}

// forgetUpTo forgets every value of counter up to seq.
func (o *ownChanges) forgetUpTo(counter string, seq int64) {
	if o == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for s := range o.by[counter] {
		if s <= seq {
			delete(o.by[counter], s)
		}
	}
}
