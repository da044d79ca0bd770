package registry

import (
	"context"
	"strings"

	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// AccessSettings are a package's visibility and 2FA setting.
type AccessSettings struct {
	Access store.Access
	MFA    store.PackageMFA
}

// Access returns a package's access settings, to those who may read it.
func (s *Service) Access(ctx context.Context, p *auth.Principal, name string) (AccessSettings, error) {
	if err := s.MayRead(p); err != nil {
		return AccessSettings{}, err
	}
	q := s.store.Q()
	pkg, err := s.loadFor(ctx, q, p, name, policy.Read)
	if err != nil {
		return AccessSettings{}, err
	}
	mfa, err := q.PackageMFAOf(ctx, pkg.ID)
	if err != nil {
		return AccessSettings{}, err
	}
	return AccessSettings{Access: pkg.Access, MFA: mfa}, nil
}

// AccessChange is what POST /-/package/:pkg/access sends; nil fields stay.
type AccessChange struct {
	Access                 *store.Access
	PublishRequiresTFA     *bool
	AutomationOverridesTFA *bool
}

// SetAccess changes a package's visibility or 2FA setting (npm access set
// status=... and mfa=...): a governance action.
func (s *Service) SetAccess(ctx context.Context, p *auth.Principal, name string, ch AccessChange) error {
	if ch.Access != nil {
		switch *ch.Access {
		case store.Public, store.Restricted:
		case "private":
			v := store.Restricted
			ch.Access = &v
		default:
			return fault.Invalidf("access must be public or restricted, not %q", *ch.Access)
		}
		if scope, _ := SplitName(name); scope == "" && *ch.Access == store.Restricted {
			return fault.Invalidf("Can't restrict access to unscoped packages.")
		}
	}
	// Neither setting shows in the package's documents: nothing to rebuild.
	return s.change(ctx, p, name, policy.ChangeAccess, policy.OTPGovernance, audit.AccessChange, func(q store.Queries, pkg store.Package) (bool, error) {
		var changes []string
		if ch.Access != nil && *ch.Access != pkg.Access {
			if err := q.SetPackageAccess(ctx, pkg.ID, *ch.Access); err != nil {
				return false, err
			}
			changes = append(changes, "access "+string(*ch.Access))
		}
		if ch.PublishRequiresTFA != nil || ch.AutomationOverridesTFA != nil {
			mfa, err := q.PackageMFAOf(ctx, pkg.ID)
			if err != nil {
				return false, err
			}
			if ch.PublishRequiresTFA != nil {
				mfa.PublishRequiresTFA = *ch.PublishRequiresTFA
			}
			if ch.AutomationOverridesTFA != nil {
				mfa.AutomationOverridesTFA = *ch.AutomationOverridesTFA
			}
			if err := q.SetPackageMFA(ctx, pkg.ID, mfa); err != nil {
				return false, err
			}
			changes = append(changes, "mfa "+mfaSetting(mfa))
		}
		if len(changes) == 0 {
			return false, nil
		}
		return false, s.record(ctx, q, p, audit.AccessChange, audit.Target{Package: pkg.Name}, strings.Join(changes, ", "))
	})
}

// mfaSetting names a package's 2FA setting as npm access set mfa=... does.
func mfaSetting(m store.PackageMFA) string {
	switch {
	case !m.PublishRequiresTFA:
		return "none"
	case m.AutomationOverridesTFA:
		return "automation"
	}
	return "publish"
}

// Collaborators lists who may touch a package and how (npm access list
// collaborators): its owners and the members of teams granted it.
func (s *Service) Collaborators(ctx context.Context, p *auth.Principal, name string) (map[string]string, error) {
	if err := s.MayRead(p); err != nil {
		return nil, err
	}
	q := s.store.Q()
	pkg, err := s.loadFor(ctx, q, p, name, policy.Read)
	if err != nil {
		return nil, err
	}
	return q.Collaborators(ctx, pkg.ID)
}

// PackageFor returns the row of package name when p may do a to it, with
// policy's refusal otherwise (NotFound for a package p may not see or that
// does not exist): for services that keep things about packages, such as
// trusted publishing.
func (s *Service) PackageFor(ctx context.Context, p *auth.Principal, name string, a policy.Action) (store.Package, error) {
	if err := s.MayRead(p); err != nil {
		return store.Package{}, err
	}
	return s.loadFor(ctx, s.store.Q(), p, name, a)
}

// Facts returns what policy knows of package name and of p's rights on it,
// for the services that decide with rules of their own about packages
// (webhooks). A name with no local package is one that does not exist.
func (s *Service) Facts(ctx context.Context, p *auth.Principal, name string) (policy.Package, error) {
	q := s.store.Q()
	pkg, err := q.PackageByName(ctx, name)
	if fault.Is(err, fault.NotFound) {
		return policy.Package{Name: name, ReadAccess: s.readAccess}, nil
	}
	if err != nil {
		return policy.Package{}, err
	}
	return s.facts(ctx, q, p, pkg)
}
