package fault

import (
	"fmt"
	"net/http"
	"testing"
)

func TestKindStatusAndLabel(t *testing.T) {
	tests := []struct {
		kind   Kind
		status int
		label  string
	}{
		{Internal, http.StatusInternalServerError, "error"},
		{Invalid, http.StatusBadRequest, "invalid"},
		{Unauthorized, http.StatusUnauthorized, "unauthorized"},
		{Forbidden, http.StatusForbidden, "forbidden"},
		{NotFound, http.StatusNotFound, "not_found"},
		{Conflict, http.StatusConflict, "conflict"},
		{TooLarge, http.StatusRequestEntityTooLarge, "too_large"},
		{Locked, http.StatusTooManyRequests, "locked"},
		{Upstream, http.StatusBadGateway, "upstream"},
		{UpstreamTimeout, http.StatusGatewayTimeout, "upstream_timeout"},
		{Kind(99), http.StatusInternalServerError, "error"}, // a kind nobody mapped is a failure of gatehouse
	}
	labels := map[string]Kind{}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.kind), func(t *testing.T) {
			if got := tt.kind.Status(); got != tt.status {
				t.Errorf("Status() = %d, want %d", got, tt.status)
			}
			if got := tt.kind.Label(); got != tt.label {
				t.Errorf("Label() = %q, want %q", got, tt.label)
			}
		})
		if other, ok := labels[tt.label]; ok && other != Internal {
			t.Errorf("kinds %d and %d share the label %q", other, tt.kind, tt.label)
		}
		labels[tt.label] = tt.kind
	}
}
