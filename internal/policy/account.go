package policy

import (
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// AccountAction is something a request wants to do to its own account.
type AccountAction string

// The account actions.
const (
	ManageTokens  AccountAction = "manage-tokens"  // list, create and revoke access tokens
	ChangeProfile AccountAction = "change-profile" // email, password, 2FA
)

// DecideAccount returns nil when p may do a to its own account. Only a login
// session and a legacy publish token ("everything its user may do") may.
func DecideAccount(p *auth.Principal, a AccountAction) error {
	if !p.Authenticated() {
		return auth.ErrAuthRequired()
	}
	what := "manage tokens"
	if a == ChangeProfile {
		what = "change the profile"
	}
	switch p.Kind {
	case auth.KindSession, auth.KindPublish:
		return nil
	case auth.KindGranular:
		return fault.Forbiddenf("Granular access tokens cannot %s; use npm login", what)
	}
	return fault.Forbiddenf("This %s token cannot %s; use npm login", p.Kind, what)
}
