package server

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/config"
)

// TestAuditTokenNewAddress: a token used from an address it was not created
// or used from is one token.new_address event, with the address and the
// token's key, written off the request path; further uses from it, and uses
// from the address it was created from, are none.
func TestAuditTokenNewAddress(t *testing.T) {
	tr := newTestRegistry(t, func(c *config.Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	alice := tr.user("alice") // created from 127.0.0.1
	for _, from := range []string{"", "198.51.100.7", "198.51.100.7", "", "2001:db8::7"} {
		var headers []string
		if from != "" {
			headers = []string{"X-Forwarded-For", from}
		}
		if res := tr.do("GET", "/-/whoami", alice, nil, headers...); res.status != http.StatusOK {
			t.Fatalf("whoami from %q: %d %s", from, res.status, res.body)
		}
	}
	ctx := t.Context()
	if err := tr.srv.authn.FlushLastUse(ctx); err != nil {
		t.Fatal(err)
	}
	var got []audit.Event
	if _, err := tr.srv.Audit.Export(ctx, audit.Operator(), audit.Filter{Action: string(audit.TokenNewAddress)}, 0, 0,
		func(e audit.Event) error {
			got = append(got, e)
			return nil
		}); err != nil {
		t.Fatal(err)
	}
	want := []string{"198.51.100.7", "2001:db8::7"}
	if len(got) != len(want) {
		t.Fatalf("%d token.new_address events, want %d: %+v", len(got), len(want), got)
	}
	for i, e := range got {
		if e.Client.String() != want[i] || e.Actor.User != "alice" || e.Actor.TokenKind != "session" ||
			e.Target.User != "alice" || e.Target.Token == "" || e.Target.Token != e.Actor.TokenKey || e.Outcome != audit.Success {
			t.Errorf("event %d: %+v, want alice's session used from %s", i, e, want[i])
		}
	}
}
