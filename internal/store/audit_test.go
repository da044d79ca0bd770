package store

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
)

// auditIDs are the IDs of events, in order.
func auditIDs(events []AuditEvent) []int64 {
	out := make([]int64, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

func testAuditEvents(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()
	full := AuditEvent{At: 1000, Action: "token.create", Outcome: "success", ActorID: 7, ActorName: "alice",
		TokenKey: "k-session", TokenKind: "session", OIDCSubject: "repo:acme/app:ref:refs/heads/main",
		ClientIP: "2001:db8::1", RequestID: "req-1", TargetUserID: 7, TargetUser: "alice", TargetPackage: "@acme/app",
		TargetVersion: "1.0.0", TargetOrg: "acme", TargetTeam: "devs", TargetToken: "k-new", Detail: "granular"}
	var ids []int64
	must(t, s.InTx(ctx, func(q Queries) error {
		id, err := q.InsertAuditEvent(ctx, full)
		ids = append(ids, id)
		return err
	}))
	got, err := q.AuditEvents(ctx, AuditFilter{}, AuditPage{Limit: 10})
	want := full
	want.ID, want.LastAt, want.Count = ids[0], 1000, 1
	if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Fatalf("read back: %+v %v\nwant %+v", got, err, want)
	}

	// A rolled-back transaction leaves no event: an event commits with its change.
	boom := fmt.Errorf("the change failed")
	err = s.InTx(ctx, func(q Queries) error {
		if _, err := q.InsertAuditEvent(ctx, AuditEvent{At: 1500, Action: "package.publish", Outcome: "success"}); err != nil {
			return err
		}
		return boom
	})
	if err != boom {
		t.Fatalf("rolled back transaction: %v", err)
	}

	// More events: bob's sign-in failure (anonymous, about bob), alice's
	// publish, an admin disabling bob, a folded refusal.
	for _, e := range []AuditEvent{
		{At: 2000, Action: "user.signin", Outcome: "failure", Reason: "Incorrect username or password", ClientIP: "192.0.2.9",
			TargetUserID: 8, TargetUser: "bob"},
		{At: 3000, Action: "package.publish", Outcome: "success", ActorID: 7, ActorName: "alice", TargetPackage: "lib",
			TargetVersion: "2.0.0"},
		{At: 4000, Action: "admin.disable", Outcome: "success", ActorID: 9, ActorName: "root", TargetUserID: 8, TargetUser: "bob"},
		{At: 5000, LastAt: 5900, Count: 12, Action: "user.signin", Outcome: "failure", Reason: "folded"},
	} {
		id, err := q.InsertAuditEvent(ctx, e)
		must(t, err)
		ids = append(ids, id)
	}
	if !slices.IsSorted(ids) {
		t.Fatalf("ids do not grow: %v", ids)
	}
	cases := []struct {
		name   string
		f      AuditFilter
		p      AuditPage
		want   []int64
		wantOf int
	}{
		{"all, oldest first", AuditFilter{}, AuditPage{Limit: 10}, ids, 5},
		{"all, newest first", AuditFilter{}, AuditPage{NewestFirst: true, Limit: 10}, []int64{ids[4], ids[3], ids[2], ids[1], ids[0]}, 5},
		{"after a cursor", AuditFilter{}, AuditPage{After: ids[1], Limit: 2}, []int64{ids[2], ids[3]}, 5},
		{"before a cursor", AuditFilter{}, AuditPage{Before: ids[3], NewestFirst: true, Limit: 10}, []int64{ids[2], ids[1], ids[0]}, 5},
		{"alice's account", AuditFilter{Account: 7}, AuditPage{Limit: 10}, []int64{ids[0], ids[2]}, 2},
		{"bob's account: done to him", AuditFilter{Account: 8}, AuditPage{Limit: 10}, []int64{ids[1], ids[3]}, 2},
		{"by user name", AuditFilter{User: "bob"}, AuditPage{Limit: 10}, []int64{ids[1], ids[3]}, 2},
		{"by actor name", AuditFilter{User: "root"}, AuditPage{Limit: 10}, []int64{ids[3]}, 1},
		{"one action", AuditFilter{Action: "user.signin"}, AuditPage{Limit: 10}, []int64{ids[1], ids[4]}, 2},
		{"an area", AuditFilter{Action: "package."}, AuditPage{Limit: 10}, []int64{ids[2]}, 1},
		{"an area is not a prefix of another", AuditFilter{Action: "admin.dis"}, AuditPage{Limit: 10}, nil, 0},
		{"failures", AuditFilter{Outcome: "failure"}, AuditPage{Limit: 10}, []int64{ids[1], ids[4]}, 2},
		{"a time span", AuditFilter{Since: 2000, Until: 4000}, AuditPage{Limit: 10}, []int64{ids[1], ids[2]}, 2},
		{"everything at once", AuditFilter{Account: 8, Action: "admin.", Since: 3500}, AuditPage{Limit: 10}, []int64{ids[3]}, 1},
	}
	for _, c := range cases {
		got, err := q.AuditEvents(ctx, c.f, c.p)
		if err != nil || !slices.Equal(auditIDs(got), c.want) {
			t.Errorf("%s: %v %v, want %v", c.name, auditIDs(got), err, c.want)
		}
		n, err := q.CountAuditEvents(ctx, c.f)
		if err != nil || n != c.wantOf {
			t.Errorf("%s: count %d %v, want %d", c.name, n, err, c.wantOf)
		}
	}
	folded, _ := q.AuditEvents(ctx, AuditFilter{}, AuditPage{After: ids[3], Limit: 1})
	if len(folded) != 1 || folded[0].Count != 12 || folded[0].LastAt != 5900 || folded[0].ActorID != 0 {
		t.Errorf("folded refusal: %+v", folded)
	}

	// Retention: events before the cutoff go, in batches.
	n, err := q.PurgeAuditEvents(ctx, 3500, 1)
	if err != nil || n != 1 {
		t.Fatalf("purge one: %d %v", n, err)
	}
	n, err = q.PurgeAuditEvents(ctx, 3500, 100)
	if err != nil || n != 2 {
		t.Fatalf("purge the rest before 3500: %d %v", n, err)
	}
	left, _ := q.AuditEvents(ctx, AuditFilter{}, AuditPage{Limit: 10})
	if !slices.Equal(auditIDs(left), []int64{ids[3], ids[4]}) {
		t.Fatalf("after purge: %v", auditIDs(left))
	}
}
