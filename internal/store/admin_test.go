package store

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

func testUserAdmin(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()
	alice, bob := mustUser(t, q, "alice"), mustUser(t, q, "bob")
	carol, err := q.CreateUser(ctx, User{Name: "carol", Email: "Carol@Example.ORG", PasswordHash: "h", Admin: true})
	must(t, err)
	mustUser(t, q, "a_b")
	mustUser(t, q, "axb")
	if got, _ := q.UserByID(ctx, carol.ID); !got.Admin || got.Disabled() || got.LastSignInAt != 0 {
		t.Fatalf("a new admin: %+v", got)
	}

	// Flags, each published as a user change.
	users0, _ := q.Counter(ctx, "users")
	must(t, s.InTx(ctx, func(q Queries) error { return q.SetAdmin(ctx, alice.ID, true) }))
	must(t, s.InTx(ctx, func(q Queries) error { return q.SetDisabled(ctx, bob.ID, 1234) }))
	must(t, q.SetTFAReenroll(ctx, bob.ID, true))
	must(t, q.MarkSignIn(ctx, alice.ID, 999))
	if users, _ := q.Counter(ctx, "users"); users != users0+3 {
		t.Errorf("users counter moved by %d, want 3", users-users0)
	}
	a, _ := q.UserByID(ctx, alice.ID)
	bb, _ := q.UserByID(ctx, bob.ID)
	if !a.Admin || a.LastSignInAt != 999 || !bb.Disabled() || bb.DisabledAt != 1234 || !bb.TFAReenroll || bb.Admin {
		t.Fatalf("after changes: alice %+v bob %+v", a, bb)
	}
	must(t, s.InTx(ctx, func(q Queries) error { return q.SetDisabled(ctx, bob.ID, 0) }))
	if bb, _ = q.UserByID(ctx, bob.ID); bb.Disabled() {
		t.Fatalf("enabled again: %+v", bb)
	}
	wantKind(t, "set admin of a missing user", q.SetAdmin(ctx, 9999, true), fault.NotFound)

	// Listing: by name, searched by name or email in any case, paged by name.
	names := func(us []UserSummary) []string {
		var out []string
		for _, u := range us {
			out = append(out, u.Name)
		}
		return out
	}
	for _, c := range []struct {
		search, after string
		limit         int
		want          []string
		total         int
	}{
		{"", "", 10, []string{"a_b", "alice", "axb", "bob", "carol"}, 5},
		{"", "alice", 2, []string{"axb", "bob"}, 5},
		{"example.org", "", 10, []string{"carol"}, 1},
		{"CAROL", "", 10, []string{"carol"}, 1},
		{"_", "", 10, []string{"a_b"}, 1}, // a wildcard of LIKE is searched for as itself
		{"%", "", 10, nil, 0},
	} {
		got, err := q.ListUsers(ctx, c.search, c.after, c.limit)
		if err != nil || !slices.Equal(names(got), c.want) {
			t.Errorf("ListUsers(%q, %q, %d) = %v %v, want %v", c.search, c.after, c.limit, names(got), err, c.want)
		}
		if n, err := q.CountUsers(ctx, c.search); err != nil || n != c.total {
			t.Errorf("CountUsers(%q) = %d %v, want %d", c.search, n, err, c.total)
		}
	}
	must(t, q.SetTwoFactor(ctx, carol.ID, TwoFactor{Mode: TFAAuthOnly}))
	must(t, q.SetTwoFactor(ctx, alice.ID, TwoFactor{Mode: TFAAuthOnly, Pending: true}))
	list, _ := q.ListUsers(ctx, "", "axb", 10)
	if len(list) != 2 || list[0].TFA || !list[1].TFA || !list[1].Admin {
		t.Errorf("2FA in the list (pending counts as off): %+v", list)
	}

	// Password resets: found by the secret's hash, finished once.
	must(t, q.SetPasswordReset(ctx, bob.ID, []byte("reset-hash"), 5000))
	u, exp, err := q.PasswordReset(ctx, []byte("reset-hash"))
	if err != nil || u.ID != bob.ID || exp != 5000 {
		t.Fatalf("password reset: %+v %d %v", u, exp, err)
	}
	_, _, err = q.PasswordReset(ctx, []byte("other"))
	wantKind(t, "unknown reset", err, fault.NotFound)
	if ok, err := q.FinishPasswordReset(ctx, bob.ID, []byte("other"), "new"); ok || err != nil {
		t.Fatalf("finish with the wrong hash: %v %v", ok, err)
	}
	if ok, err := q.FinishPasswordReset(ctx, bob.ID, []byte("reset-hash"), "new"); !ok || err != nil {
		t.Fatalf("finish: %v %v", ok, err)
	}
	if ok, _ := q.FinishPasswordReset(ctx, bob.ID, []byte("reset-hash"), "newer"); ok {
		t.Fatal("a reset finished twice")
	}
	if u, _ := q.UserByID(ctx, bob.ID); u.PasswordHash != "new" {
		t.Fatalf("password after reset: %q", u.PasswordHash)
	}
	_, _, err = q.PasswordReset(ctx, []byte("reset-hash"))
	wantKind(t, "finished reset", err, fault.NotFound)

	// Revoking every token of a user, or only the sessions.
	for i, kind := range []string{"session", "session", "granular", "publish"} {
		_, err := q.CreateToken(ctx, Token{Key: fmt.Sprintf("bob-%d", i), Hash: []byte(fmt.Sprintf("bob-hash-%d", i)),
			UserID: bob.ID, Kind: kind, Masked: "m", CreatedAt: 1})
		must(t, err)
	}
	_, err = q.CreateToken(ctx, Token{Key: "alice-1", Hash: []byte("alice-hash"), UserID: alice.ID, Kind: "session", Masked: "m", CreatedAt: 1})
	must(t, err)
	rev0, _ := q.Revocations(ctx)
	var hashes [][]byte
	must(t, s.InTx(ctx, func(q Queries) error { hashes, err = q.RevokeUserTokens(ctx, bob.ID, 0, true); return err }))
	if len(hashes) != 2 {
		t.Fatalf("sessions revoked: %d", len(hashes))
	}
	must(t, s.InTx(ctx, func(q Queries) error { hashes, err = q.RevokeUserTokens(ctx, bob.ID, 0, false); return err }))
	if len(hashes) != 2 {
		t.Fatalf("tokens revoked: %d", len(hashes))
	}
	// Each revocation is published on its own (store.RevokeUserTokens).
	if rev, _ := q.Revocations(ctx); rev != rev0+4 {
		t.Errorf("revocations counter moved by %d, want 4", rev-rev0)
	}
	if tok, _ := q.TokenByHash(ctx, []byte("alice-hash")); tok.RevokedAt.Valid {
		t.Error("another user's token was revoked")
	}

	// Ownership and deletion.
	solo := mustPackage(t, q, "solo", "", "public")
	shared := mustPackage(t, q, "shared", "", "public")
	must(t, q.AddOwner(ctx, solo.ID, bob.ID))
	must(t, q.AddOwner(ctx, shared.ID, bob.ID))
	must(t, q.AddOwner(ctx, shared.ID, alice.ID))
	owned, err := q.OwnedPackages(ctx, bob.ID)
	if err != nil || !reflect.DeepEqual(owned, []OwnedPackage{{shared.ID, "shared", "", false}, {solo.ID, "solo", "", true}}) {
		t.Fatalf("bob's packages: %+v %v", owned, err)
	}
	acme, _ := q.CreateOrg(ctx, "acme")
	beta, _ := q.CreateOrg(ctx, "beta")
	must(t, q.SetMember(ctx, acme.ID, bob.ID, "owner"))
	must(t, q.SetMember(ctx, beta.ID, bob.ID, "owner"))
	must(t, q.SetMember(ctx, beta.ID, alice.ID, "owner"))
	if orgs, err := q.SoleOrgOwnerships(ctx, bob.ID); err != nil || !slices.Equal(orgs, []string{"acme"}) {
		t.Fatalf("orgs bob alone owns: %v %v", orgs, err)
	}
	if retired, err := q.NameRetired(ctx, "bob"); retired || err != nil {
		t.Fatalf("bob retired before deletion: %v %v", retired, err)
	}
	must(t, s.InTx(ctx, func(q Queries) error { return q.DeleteUser(ctx, bb) }))
	_, err = q.UserByName(ctx, "bob")
	wantKind(t, "deleted user", err, fault.NotFound)
	if retired, err := q.NameRetired(ctx, "bob"); !retired || err != nil {
		t.Fatalf("bob not retired after deletion: %v %v", retired, err)
	}
	if owners, _ := q.Owners(ctx, shared.ID); len(owners) != 1 || owners[0].Name != "alice" {
		t.Errorf("owners of shared after deletion: %+v", owners)
	}
	wantKind(t, "delete twice", s.InTx(ctx, func(q Queries) error { return q.DeleteUser(ctx, bb) }), fault.NotFound)

	// An id is never given twice (the audit log names accounts by id):
	// the newest account deleted, the next one made gets an id of its own.
	newest := mustUser(t, q, "newest")
	must(t, s.InTx(ctx, func(q Queries) error { return q.DeleteUser(ctx, newest) }))
	next := mustUser(t, q, "next")
	if next.ID <= newest.ID {
		t.Errorf("the account made after deleting the newest one got id %d, the deleted one had %d", next.ID, newest.ID)
	}
}

func testTokenAddresses(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()
	alice := mustUser(t, q, "alice")
	tok, err := q.CreateToken(ctx, Token{Key: "k", Hash: []byte("h"), UserID: alice.ID, Kind: "granular", Masked: "m", CreatedAt: 1})
	must(t, err)
	for _, c := range []struct {
		ip   string
		want bool
	}{{"192.0.2.1", true}, {"192.0.2.1", false}, {"2001:db8::1", true}, {"192.0.2.2", false}} {
		// At most two addresses a token: the third is not recorded.
		got, err := q.AddTokenAddress(ctx, tok.ID, c.ip, 10, 2)
		if err != nil || got != c.want {
			t.Errorf("AddTokenAddress(%s) = %v %v, want %v", c.ip, got, err, c.want)
		}
	}
	for ip, want := range map[string]bool{"192.0.2.1": true, "2001:db8::1": true, "192.0.2.2": false} {
		if known, err := q.TokenAddressKnown(ctx, tok.ID, ip); err != nil || known != want {
			t.Errorf("TokenAddressKnown(%s) = %v %v", ip, known, err)
		}
	}
	// A token gone (its user deleted) records nothing, and fails nothing:
	// the batch it is written in goes on.
	if got, err := q.AddTokenAddress(ctx, tok.ID+1000, "192.0.2.9", 10, 2); err != nil || got {
		t.Errorf("AddTokenAddress(no such token) = %v %v, want false nil", got, err)
	}
}
