package store

import (
	"errors"
	"testing"
)

// testOwnChanges: a store's feed marks the changes that store committed in
// a transaction Own, naming their key on SQLite too, so that a node can
// keep what it cached after its own write; another store's changes, a
// rolled-back one and one published outside a transaction are never Own.
func testOwnChanges(t *testing.T, b backend) {
	where := b.newDatabase(t)
	open := func() *Store {
		s, err := b.open(t.Context(), where)
		if err != nil {
			t.Fatalf("open %s: %v", b.name, err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	node := open()
	_, changes := follow(t, node)
	ctx := t.Context()
	// Without a notification that names it, another process's change is
	// known only by its kind (SQLite's polled counters).
	otherKey := func(k string) string {
		if b.shared {
			return k
		}
		return ""
	}

	rollback := errors.New("roll back")
	if err := node.InTx(ctx, func(q Queries) error {
		must(t, q.Publish(ctx, Change{Kind: UplinkChanged, Key: "rolled-back"}))
		return rollback
	}); !errors.Is(err, rollback) {
		t.Fatalf("InTx = %v, want the rollback", err)
	}
	var other *Store
	if b.shared {
		other = open()
	}
	steps := []struct {
		name    string
		publish func() error
		want    Change
	}{
		{"own, in a transaction", func() error {
			return node.InTx(ctx, func(q Queries) error { return q.Publish(ctx, Change{Kind: UplinkChanged, Key: "express"}) })
		}, Change{Kind: UplinkChanged, Key: "express", Own: true}},
		{"own scope taken", func() error {
			return node.InTx(ctx, func(q Queries) error { return q.Publish(ctx, ScopeTaken("types")) })
		}, Change{Kind: UplinkChanged, Key: "@types/", Own: true}},
		{"own, outside a transaction", func() error {
			return node.Q().Publish(ctx, Change{Kind: UplinkChanged, Key: "left-pad"})
		}, Change{Kind: UplinkChanged, Key: otherKey("left-pad")}},
		{"another store's", func() error {
			s := other
			if s == nil { // SQLite: an admin command beside the server
				s = open()
			}
			return s.InTx(ctx, func(q Queries) error { return q.Publish(ctx, Change{Kind: UplinkChanged, Key: "lodash"}) })
		}, Change{Kind: UplinkChanged, Key: otherKey("lodash")}},
	}
	for _, st := range steps {
		must(t, st.publish())
		if c := nextChange(t, changes); c != st.want {
			t.Errorf("%s: got %+v, want %+v", st.name, c, st.want)
		}
	}
	// Two own changes between two polls arrive both, in commit order.
	must(t, node.InTx(ctx, func(q Queries) error {
		must(t, q.Publish(ctx, Change{Kind: UplinkChanged, Key: "a"}))
		return q.Publish(ctx, Change{Kind: PackageChanged, Key: "b"})
	}))
	got := map[Change]bool{nextChange(t, changes): true, nextChange(t, changes): true}
	for _, want := range []Change{{Kind: UplinkChanged, Key: "a", Own: true}, {Kind: PackageChanged, Key: "b", Own: true}} {
		if !got[want] {
			t.Errorf("two own changes in one transaction: got %v, want %+v among them", got, want)
		}
	}
}

// TestParseChange: payloads of this version carry the counter's value, an
// older gatehouse's do not, and anything else is AnyChange.
func TestParseChange(t *testing.T) {
	tests := []struct {
		payload string
		want    Change
		seq     int64
	}{
		{Change{Kind: UplinkChanged, Key: "@types/node"}.payload(42), Change{Kind: UplinkChanged, Key: "@types/node"}, 42},
		{Change{Kind: TokenRevoked}.payload(7), Change{Kind: TokenRevoked}, 7},
		{"package:left-pad", Change{Kind: PackageChanged, Key: "left-pad"}, 0},
		{"user", Change{Kind: UserChanged}, 0},
		{"uplink#x:a", Change{Kind: UplinkChanged, Key: "a"}, 0},
		{"nonsense#3:a", Change{Kind: AnyChange}, 0},
		{"", Change{Kind: AnyChange}, 0},
	}
	for _, tt := range tests {
		c, seq := parseChange(tt.payload)
		if c != tt.want || seq != tt.seq {
			t.Errorf("parseChange(%q) = %+v, %d; want %+v, %d", tt.payload, c, seq, tt.want, tt.seq)
		}
	}
}
