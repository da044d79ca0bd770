package store

import (
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

func testSSOIdentities(t *testing.T, b backend) {
	s := b.store(t)
	ctx := t.Context()
	q := s.Q()
	alice, bob := mustUser(t, q, "alice"), mustUser(t, q, "bob")
	carol, err := q.CreateUser(ctx, User{Name: "carol", Email: "Carol@Example.ORG", PasswordHash: "h"})
	must(t, err)

	if _, err := q.SSOIdentityBySubject(ctx, "https://idp.test", "s1"); !fault.Is(err, fault.NotFound) {
		t.Fatalf("unlinked subject: %v, want NotFound", err)
	}
	link, err := q.CreateSSOIdentity(ctx, SSOIdentity{UserID: alice.ID, Issuer: "https://idp.test", Subject: "s1",
		Provider: "corp", Email: "alice@corp.test", CreatedAt: 10, LastSignInAt: 10})
	must(t, err)
	got, err := q.SSOIdentityBySubject(ctx, "https://idp.test", "s1")
	must(t, err)
	if got != link || got.ID == 0 || got.UserID != alice.ID || got.Provider != "corp" {
		t.Fatalf("link read back: %+v, want %+v", got, link)
	}
	// The same subject of another issuer, or another subject, is another person.
	for _, k := range [][2]string{{"https://other.test", "s1"}, {"https://idp.test", "S1"}, {"https://idp.test/", "s1"}} {
		if _, err := q.SSOIdentityBySubject(ctx, k[0], k[1]); !fault.Is(err, fault.NotFound) {
			t.Errorf("%q %q: %v, want NotFound (subjects compare exactly, per issuer)", k[0], k[1], err)
		}
	}
	// A subject links one account.
	if _, err := q.CreateSSOIdentity(ctx, SSOIdentity{UserID: bob.ID, Issuer: "https://idp.test", Subject: "s1",
		Provider: "corp", CreatedAt: 11, LastSignInAt: 11}); !fault.Is(err, fault.Conflict) {
		t.Fatalf("second link of one subject: %v, want Conflict", err)
	}
	_, err = q.CreateSSOIdentity(ctx, SSOIdentity{UserID: alice.ID, Issuer: "https://other.test", Subject: "s1",
		Provider: "other", CreatedAt: 12, LastSignInAt: 12})
	must(t, err)
	list, err := q.SSOIdentitiesOf(ctx, alice.ID)
	must(t, err)
	if len(list) != 2 || list[0].Provider != "corp" || list[1].Provider != "other" {
		t.Fatalf("alice's links: %+v", list)
	}
	if list, _ := q.SSOIdentitiesOf(ctx, bob.ID); len(list) != 0 {
		t.Fatalf("bob's links: %+v", list)
	}
	must(t, q.TouchSSOIdentity(ctx, link.ID, "alice@new.test", 99))
	if got, _ := q.SSOIdentityBySubject(ctx, "https://idp.test", "s1"); got.LastSignInAt != 99 || got.Email != "alice@new.test" {
		t.Fatalf("after a sign-in: %+v", got)
	}

	// Emails compare without case; none is NotFound.
	if u, err := q.UserByEmail(ctx, "carol@example.org"); err != nil || u.ID != carol.ID {
		t.Fatalf("UserByEmail: %+v, %v", u, err)
	}
	if _, err := q.UserByEmail(ctx, "nobody@example.org"); !fault.Is(err, fault.NotFound) {
		t.Fatalf("UserByEmail of nobody: %v", err)
	}

	// Links go with their account.
	must(t, s.InTx(ctx, func(q Queries) error { return q.DeleteUser(ctx, alice) }))
	if _, err := q.SSOIdentityBySubject(ctx, "https://idp.test", "s1"); !fault.Is(err, fault.NotFound) {
		t.Fatalf("link of a deleted account: %v, want NotFound", err)
	}
}
