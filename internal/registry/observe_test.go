package registry

import (
	"errors"
	"fmt"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

func TestPublishResult(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, "ok"},
		{fault.Invalidf("bad"), "invalid"},
		{&fault.Error{Kind: fault.Unauthorized, Message: "otp", Challenge: "OTP"}, "unauthorized"},
		{fault.Forbiddenf("You cannot publish over the previously published versions: 1.0.0."), "forbidden"},
		{fault.NotFoundf("Not found"), "not_found"},
		{fault.Conflictf("clash"), "conflict"},
		{fault.New(fault.TooLarge, "big"), "too_large"},
		{fault.New(fault.Locked, "wait"), "locked"},
		{fmt.Errorf("wrapped: %w", fault.Forbiddenf("no")), "forbidden"},
		{errors.New("disk full"), "error"},
	}
	for _, tt := range tests {
		if got := PublishResult(tt.err); got != tt.want {
			t.Errorf("PublishResult(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
