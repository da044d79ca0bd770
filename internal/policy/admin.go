package policy

import (
	"fmt"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// AdminAction is something only a site administrator may do.
type AdminAction string

// The administrator's actions.
const (
	// AdminRead lists the accounts and what they are (email, last
	// sign-in, 2FA, disabled).
	AdminRead AdminAction = "admin-read"
	// AdminChange changes an account that is not one's own (disable and
	// enable, password and 2FA resets, revoking every token, deleting,
	// promoting and demoting) and adds an owner to any package.
	AdminChange AdminAction = "admin-change"
	// AuditRead reads and exports the whole audit log.
	AuditRead AdminAction = "audit-read"
)

// DecideAdmin returns nil when p may do a. Only a site administrator may,
// and only with a login session (npm login, the website), whose OTP the
// caller then asks for changes (OTPAdmin) when the administrator has 2FA:
//
//   - A token of any other kind is refused for every admin action: admin
//     power does not travel in the long-lived tokens given to CI, and a
//     granular token's grants (packages, scopes, organizations) say
//     nothing about the site.
//   - The one exception is AuditRead with a read-only token limited to
//     address ranges (npm token create --read-only --cidr=…), so that a
//     log collector holds a credential that can change nothing at all and
//     works only from where the collector runs. A plain read-only token
//     is what CI is given to install packages (all the more in a private
//     registry): it must not read every account's addresses and actions.
//   - The operator at the command line, who holds the database itself, may
//     do everything.
//
// To anyone who is not an administrator the admin section does not exist:
// the refusal is NotFound, the answer to a path nothing serves. An
// administrator with the wrong credential is told which one to use.
func DecideAdmin(p *auth.Principal, a AdminAction) error {
	switch a {
	case AdminRead, AdminChange, AuditRead:
	default:
		return fmt.Errorf("policy: unknown admin action %q", a)
	}
	if p != nil && p.Kind == auth.KindOperator {
		return nil
	}
	if !p.Authenticated() || !p.Admin {
		return notFound()
	}
	switch {
	case p.Kind == auth.KindSession:
		return nil
	case p.Kind == auth.KindReadOnly && a == AuditRead && p.AddressBound:
		return nil
	case p.Kind == auth.KindReadOnly && a == AuditRead:
		return fault.Forbiddenf("A read-only token reads the audit log only when it is limited to the collector's addresses: npm token create --read-only --cidr=ADDRESS")
	case p.Kind == auth.KindReadOnly:
		return fault.Forbiddenf("A read-only token can read the audit log, nothing else of the site's administration; sign in (npm login or the website)")
	}
	return fault.Forbiddenf("Site administration needs a login session (npm login or the website), not a %s token", p.Kind)
}
