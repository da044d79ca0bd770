package policy

import (
	"net/netip"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// TestRegistration: people sign themselves up only while registration is
// open; an administrator creates accounts either way.
func TestRegistration(t *testing.T) {
	tests := []struct {
		who  Registrant
		open bool
		want string
	}{
		{SelfRegistration, true, "ok"},
		{SelfRegistration, false, "403"},
		{AdminRegistration, true, "ok"},
		{AdminRegistration, false, "ok"},
	}
	for _, tt := range tests {
		err := DecideRegistration(tt.who, tt.open)
		if got := outcome(err); got != tt.want {
			t.Errorf("%s, open %v: got %s (%v), want %s", tt.who, tt.open, got, err, tt.want)
		}
		if e, _ := fault.As(err); tt.want == "403" &&
			(e == nil || e.Message != "Registration is closed on this registry; ask an administrator for an account") {
			t.Errorf("%s, open %v: message %v", tt.who, tt.open, err)
		}
	}
	if err := DecideRegistration("", true); err == nil || fault.KindOf(err) != fault.Internal {
		t.Errorf("an unknown registrant: %v, want an internal error", err)
	}
}

// TestDecideContinueWebLogin: "Continue as NAME" on an npm login's browser
// confirmation is for a signed-in browser at the address the login was
// started from; anything else is asked for the password.
func TestDecideContinueWebLogin(t *testing.T) {
	here, there := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.9")
	mapped := netip.MustParseAddr("::ffff:192.0.2.1")
	session := func(ip netip.Addr) *auth.Principal {
		return &auth.Principal{UserID: 1, UserName: "alice", Kind: auth.KindSession, ClientIP: ip}
	}
	tests := []struct {
		name        string
		p           *auth.Principal
		startedFrom netip.Addr
		want        string
	}{
		{"same address", session(here), here, "ok"},
		{"same address, once IPv4-mapped", session(mapped), here, "ok"},
		{"started elsewhere", session(here), there, "403"},
		{"started from an unknown address", session(here), netip.Addr{}, "403"},
		{"browser address unknown", session(netip.Addr{}), here, "403"},
		{"both unknown", session(netip.Addr{}), netip.Addr{}, "403"},
		{"signed out", &auth.Principal{ClientIP: here}, here, "401"},
		{"a publish token", &auth.Principal{UserID: 1, Kind: auth.KindPublish, ClientIP: here}, here, "403"},
		{"a granular token", &auth.Principal{UserID: 1, Kind: auth.KindGranular, Grants: &auth.Grants{PackagesAll: true,
			PackagePerm: auth.ReadWrite}, ClientIP: here}, here, "403"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := outcome(DecideContinueWebLogin(tt.p, tt.startedFrom)); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}
