package auth

import (
	"context"

	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// TokenNewAddresses writes a batch's events in one statement, as
// internal/audit does.
func (auditRows) TokenNewAddresses(ctx context.Context, q store.Queries, uses []AddressUse) error {
	rows := make([]store.AuditEvent, len(uses))
	for i, u := range uses {
		rows[i] = newAddressEvent(u.Principal, u.IP, u.At)
	}
	return q.InsertAuditEvents(ctx, rows)
}
