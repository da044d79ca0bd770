package store

import (
	"sync"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// hookIDs are the IDs of hooks, in order.
func hookIDs(hs []Hook) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.ID
	}
	return out
}

func testHooks(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()
	alice, bob := mustUser(t, q, "alice"), mustUser(t, q, "bob")
	p := mustPackage(t, q, "@acme/app", "acme", Public)
	mustPackage(t, q, "other", "", Public)
	must(t, q.AddOwner(ctx, p.ID, bob.ID))
	for i, h := range []Hook{
		{ID: "h1", UserID: alice.ID, Type: HookPackage, Name: "@acme/app"},
		{ID: "h2", UserID: alice.ID, Type: HookScope, Name: "@acme"},
		{ID: "h3", UserID: bob.ID, Type: HookOwner, Name: "bob"},
		{ID: "h4", UserID: bob.ID, Type: HookRegistry, Name: "*"},
		{ID: "h5", UserID: bob.ID, Type: HookPackage, Name: "other"},
		{ID: "h6", UserID: alice.ID, Type: HookOwner, Name: "alice"},
	} {
		h.Endpoint, h.Secret, h.Events = "https://hooks.example.com/"+h.ID, []byte{1, 2, byte(i)}, "package:publish"
		h.CreatedAt, h.UpdatedAt = int64(100+i), int64(100+i)
		must(t, q.CreateHook(ctx, h))
	}
	wantKind(t, "duplicate id", q.CreateHook(ctx, Hook{ID: "h1", UserID: bob.ID, Type: HookPackage, Name: "x",
		Secret: []byte{0}}), fault.Conflict)

	h, err := q.HookByID(ctx, "h3")
	if err != nil || h.UserName != "bob" || h.Type != HookOwner || string(h.Secret) != "\x01\x02\x02" ||
		h.Endpoint != "https://hooks.example.com/h3" || h.Events != "package:publish" || h.CreatedAt != 102 {
		t.Fatalf("hook h3: %+v %v", h, err)
	}
	_, err = q.HookByID(ctx, "nope")
	wantKind(t, "missing hook", err, fault.NotFound)

	// The hooks of @acme/app: its own, its scope's, its owner bob's, the registry's.
	hs, err := q.HooksFor(ctx, "@acme/app", "acme")
	if got := hookIDs(hs); err != nil || len(got) != 4 || got[0] != "h1" || got[1] != "h2" || got[2] != "h3" || got[3] != "h4" {
		t.Fatalf("hooks for @acme/app: %v %v", got, err)
	}
	hs, err = q.HooksFor(ctx, "other", "")
	if got := hookIDs(hs); err != nil || len(got) != 2 || got[0] != "h4" || got[1] != "h5" {
		t.Fatalf("hooks for other: %v %v", got, err)
	}

	mine, err := q.Hooks(ctx, HookFilter{UserID: alice.ID, Limit: 10})
	if got := hookIDs(mine); err != nil || len(got) != 3 || got[0] != "h1" || got[2] != "h6" {
		t.Fatalf("alice's hooks: %v %v", got, err)
	}
	page, err := q.Hooks(ctx, HookFilter{Limit: 2, Offset: 2})
	if got := hookIDs(page); err != nil || len(got) != 2 || got[0] != "h3" || got[1] != "h4" {
		t.Fatalf("page 2 of all hooks: %v %v", got, err)
	}
	named, err := q.Hooks(ctx, HookFilter{UserID: alice.ID, Name: "@acme", Limit: 10})
	if got := hookIDs(named); err != nil || len(got) != 1 || got[0] != "h2" {
		t.Fatalf("alice's hooks on @acme: %v %v", got, err)
	}
	if n, err := q.CountHooks(ctx, HookFilter{UserID: bob.ID}); err != nil || n != 3 {
		t.Fatalf("count bob's hooks: %d %v", n, err)
	}

	must(t, q.UpdateHook(ctx, "h1", "https://new.example.com/", []byte{9}, "", 500))
	h, err = q.HookByID(ctx, "h1")
	if err != nil || h.Endpoint != "https://new.example.com/" || string(h.Secret) != "\x09" || h.Events != "" ||
		h.UpdatedAt != 500 || h.CreatedAt != 100 {
		t.Fatalf("updated hook: %+v %v", h, err)
	}
	wantKind(t, "update missing", q.UpdateHook(ctx, "nope", "x", []byte{1}, "", 1), fault.NotFound)
	must(t, q.DeleteHook(ctx, "h1"))
	wantKind(t, "delete twice", q.DeleteHook(ctx, "h1"), fault.NotFound)
}

func testHookDeliveries(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()
	alice := mustUser(t, q, "alice")
	before, err := q.InsertAuditEvent(ctx, AuditEvent{At: 1, Action: "package.publish", Outcome: "success", TargetPackage: "lib"})
	must(t, err)
	must(t, q.CreateHook(ctx, Hook{ID: "h1", UserID: alice.ID, Type: HookRegistry, Name: "*", Endpoint: "https://x/",
		Secret: []byte{1}, CreatedAt: 1, UpdatedAt: 1}))

	// A hook is told of the events after it was made.
	if h, err := q.HookByID(ctx, "h1"); err != nil || h.AfterEvent != before {
		t.Fatalf("hook's first event: %+v %v, want after %d", h, err, before)
	}
	// The cursor starts where the log ended when the migration ran, and
	// moves only from where it is.
	start, err := q.HookCursor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := q.AdvanceHookCursor(ctx, start, before); !ok || err != nil {
		t.Fatalf("advance to the first event: %v %v", ok, err)
	}
	start = before
	var ids []int64
	for _, a := range []string{"package.publish", "user.signin", "package.dist_tag_set"} {
		id, err := q.InsertAuditEvent(ctx, AuditEvent{At: 10, Action: a, Outcome: "success", TargetPackage: "lib"})
		must(t, err)
		ids = append(ids, id)
	}
	evs, err := q.AuditEventsAfter(ctx, start, 2)
	if err != nil || len(evs) != 2 || evs[0].ID != ids[0] || evs[1].ID != ids[1] {
		t.Fatalf("events after the cursor: %+v %v", evs, err)
	}
	if ok, err := q.AdvanceHookCursor(ctx, start, ids[1]); !ok || err != nil {
		t.Fatalf("advance: %v %v", ok, err)
	}
	if ok, err := q.AdvanceHookCursor(ctx, start, ids[2]); ok || err != nil {
		t.Fatalf("advance from a stale position: %v %v, want refused", ok, err)
	}
	if c, err := q.HookCursor(ctx); err != nil || c != ids[1] {
		t.Fatalf("cursor: %d %v", c, err)
	}

	// Queue three; claims lease them to one owner at a time.
	var dids []int64
	for i, at := range []int64{100, 200, 900} {
		id, err := q.QueueDelivery(ctx, HookDelivery{HookID: "h1", EventID: ids[0], Event: "package:publish",
			Payload: `{"n":` + string(rune('0'+i)) + `}`, CreatedAt: 50, NextAt: at})
		must(t, err)
		dids = append(dids, id)
	}
	if n, err := q.CountPendingDeliveries(ctx); err != nil || n != 3 {
		t.Fatalf("pending: %d %v", n, err)
	}
	got, err := q.ClaimDeliveries(ctx, "node-a", 300, 1300, 10)
	if err != nil || len(got) != 2 || got[0].ID != dids[0] || got[1].ID != dids[1] || got[0].LeaseOwner != "node-a" ||
		got[0].LeaseUntil != 1300 || got[0].Payload != `{"n":0}` || got[0].State != DeliveryPending {
		t.Fatalf("claim at 300: %+v %v", got, err)
	}
	// Leased rows are not claimed again before the lease ends; the third is due at 900.
	if again, err := q.ClaimDeliveries(ctx, "node-b", 1000, 2000, 10); err != nil || len(again) != 1 || again[0].ID != dids[2] {
		t.Fatalf("claim at 1000: %+v %v", again, err)
	}
	// A lease that ended (its node died) is claimed by another.
	stolen, err := q.ClaimDeliveries(ctx, "node-b", 1300, 2300, 1)
	if err != nil || len(stolen) != 1 || stolen[0].ID != dids[0] {
		t.Fatalf("claim after the lease: %+v %v", stolen, err)
	}
	// A node shutting down releases its leases: the delivery is due again at once.
	must(t, q.ReleaseLeases(ctx, "node-b"))
	if again, err := q.ClaimDeliveries(ctx, "node-c", 1000, 1100, 10); err != nil || len(again) != 2 ||
		again[0].ID != dids[0] || again[1].ID != dids[2] {
		t.Fatalf("claim after node-b released its leases: %+v %v", again, err)
	}
	stolen, err = q.ClaimDeliveries(ctx, "node-b", 1300, 2300, 1)
	if err != nil || len(stolen) != 1 || stolen[0].ID != dids[0] {
		t.Fatalf("claim after node-c's lease: %+v %v", stolen, err)
	}
	// The first owner's result is refused: the row is node-b's now.
	d := got[0]
	d.State, d.Attempts, d.Status = DeliveryDelivered, 1, 200
	if ok, err := q.FinishAttempt(ctx, "node-a", d, 1400); ok || err != nil {
		t.Fatalf("finish by the lease's former owner: %v %v", ok, err)
	}
	d.Response, d.DurationMS, d.FinishedAt = "ok", 12, 1400
	if ok, err := q.FinishAttempt(ctx, "node-b", d, 1400); !ok || err != nil {
		t.Fatalf("finish: %v %v", ok, err)
	}
	back, err := q.DeliveryByID(ctx, d.ID)
	if err != nil || back.State != DeliveryDelivered || back.Status != 200 || back.Response != "ok" || back.DurationMS != 12 ||
		back.LeaseOwner != "" || back.LeaseUntil != 0 || back.Attempts != 1 {
		t.Fatalf("finished delivery: %+v %v", back, err)
	}
	h, _ := q.HookByID(ctx, "h1")
	if h.LastDeliveryAt != 1400 || h.LastStatus != 200 {
		t.Fatalf("hook's last delivery: %+v", h)
	}
	list, err := q.DeliveriesOf(ctx, "h1", 2)
	if err != nil || len(list) != 2 || list[0].ID != dids[2] || list[1].ID != dids[1] {
		t.Fatalf("deliveries of h1: %+v %v", list, err)
	}
	if n, err := q.PurgeDeliveries(ctx, 1401, 10); err != nil || n != 1 {
		t.Fatalf("purge: %d %v", n, err)
	}
	_, err = q.DeliveryByID(ctx, d.ID)
	wantKind(t, "purged delivery", err, fault.NotFound)

	// Concurrent claims of many rows never hand one row to two owners.
	for i := range 40 {
		_, err := q.QueueDelivery(ctx, HookDelivery{HookID: "h1", EventID: int64(i), Event: "e", Payload: "{}",
			CreatedAt: 1, NextAt: 5000})
		must(t, err)
	}
	var mu sync.Mutex
	seen := map[int64]string{}
	var wg sync.WaitGroup
	for _, owner := range []string{"a", "b", "c", "d"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				ds, err := q.ClaimDeliveries(ctx, owner, 6000, 99999, 3)
				if err != nil {
					t.Error(err)
					return
				}
				if len(ds) == 0 {
					return
				}
				mu.Lock()
				for _, d := range ds {
					if prev, ok := seen[d.ID]; ok {
						t.Errorf("delivery %d claimed by %s and %s", d.ID, prev, owner)
					}
					seen[d.ID] = owner
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	// The 40, and the two earlier ones still pending whose leases ended.
	if len(seen) != 42 {
		t.Fatalf("claimed %d of 42", len(seen))
	}
}
