package account

import (
	"context"

	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// record writes p's event a, for a change, in the change's transaction q.
func (s *Service) record(ctx context.Context, q store.Queries, p *auth.Principal, a audit.Action, t audit.Target, detail string) error {
	return s.audit.Record(ctx, q, audit.Event{Action: a, Actor: audit.ActorOf(p), Target: t, Detail: detail})
}

// refused notes that a by p was refused, when err is a refusal the audit
// log keeps (audit.RefusalOf); *errp is the operation's result, so that a
// deferred call sees it.
func (s *Service) refused(ctx context.Context, p *auth.Principal, a audit.Action, t audit.Target, errp *error) {
	reason, ok := audit.RefusalOf(*errp, auth.OTP(ctx) != "")
	if !ok {
		return
	}
	s.audit.Refused(ctx, audit.Event{Action: a, Actor: audit.ActorOf(p), Target: t, Reason: reason})
}

// userTarget names account u as an event's target.
func userTarget(u store.User) audit.Target { return audit.Target{UserID: u.ID, User: u.Name} }

// userActor is u acting for themselves, without a credential yet (a
// sign-in, a sign-up, a password reset by link).
func userActor(u store.User) *auth.Principal { return &auth.Principal{UserID: u.ID, UserName: u.Name} }
