package policy

import (
	"testing"

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
