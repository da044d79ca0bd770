package registry

import (
	"context"
	"fmt"
	"strings"

	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// This file holds the package side of site administration (package admin
// decides who may, with policy.DecideAdmin, and opens the transaction):
// handing a deleted account's packages to heirs, and adding an owner to any
// package. Both run in the caller's transaction; call Changed after it
// commits.

// HandOver takes user out of the owners of every package they own, in the
// transaction q runs in, before their account is deleted: where they are
// the only owner, heirs who are not owners yet become owners. It refuses
// (Conflict) when user is the only owner of a package and there is no
// heir. Each owner added and removed is an audit event of p's, and each
// package's documents are rebuilt. It returns the packages handed to heirs.
func (s *Service) HandOver(ctx context.Context, q store.Queries, p *auth.Principal, user store.User, heirs []store.User) ([]string, error) {
	owned, err := q.OwnedPackages(ctx, user.ID)
	if err != nil {
		return nil, err
	}
	var sole []string
	for _, o := range owned {
		if o.Sole {
			sole = append(sole, o.Name)
		}
	}
	if len(sole) > 0 && len(heirs) == 0 {
		return nil, fault.Conflictf("%s is the only owner of %d package(s) (%s): name an heir, a user or an organization whose owners take them",
			user.Name, len(sole), versionList(sole))
	}
	for _, o := range owned {
		pkg, err := q.PackageByName(ctx, o.Name)
		if err != nil {
			return nil, err
		}
		if o.Sole {
			for _, h := range heirs {
				// (A unique violation would abort the transaction on
				// PostgreSQL: ask first.)
				if already, err := q.IsOwner(ctx, pkg.ID, h.ID); err != nil || already {
					if err != nil {
						return nil, err
					}
					continue
				}
				if err := q.AddOwner(ctx, pkg.ID, h.ID); err != nil {
					return nil, err
				}
				if err := s.record(ctx, q, p, audit.OwnerAdd, audit.Target{Package: pkg.Name, UserID: h.ID, User: h.Name},
					"heir of "+user.Name); err != nil {
					return nil, err
				}
			}
		}
		if err := q.RemoveOwner(ctx, pkg.ID, user.ID); err != nil {
			return nil, err
		}
		if err := s.record(ctx, q, p, audit.OwnerRemove, audit.Target{Package: pkg.Name, UserID: user.ID, User: user.Name},
			"account deleted"); err != nil {
			return nil, err
		}
		if err := s.rebuild(ctx, q, pkg, s.now().UnixMilli()); err != nil {
			return nil, err
		}
	}
	if len(owned) > 0 {
		if err := q.Publish(ctx, store.Change{Kind: store.PackageChanged}); err != nil {
			return nil, err
		}
	}
	return sole, nil
}

// AddOwnerAsAdmin makes user an owner of package name, for a site
// administrator p (an administrator may add themself: they are not
// silently an owner of every package), in the transaction q runs in, with
// its admin.owner_add event.
func (s *Service) AddOwnerAsAdmin(ctx context.Context, q store.Queries, p *auth.Principal, name string, user store.User) error {
	pkg, err := q.PackageByName(ctx, strings.TrimSpace(name))
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			return fault.NotFoundf("package %s not found", name)
		}
		return err
	}
	if already, err := q.IsOwner(ctx, pkg.ID, user.ID); err != nil {
		return err
	} else if already {
		return fault.Conflictf("%s is an owner of %s already", user.Name, pkg.Name)
	}
	if err := q.AddOwner(ctx, pkg.ID, user.ID); err != nil {
		return fmt.Errorf("add owner: %w", err)
	}
	if err := s.record(ctx, q, p, audit.AdminOwnerAdd, audit.Target{Package: pkg.Name, UserID: user.ID, User: user.Name}, ""); err != nil {
		return err
	}
	if err := s.rebuild(ctx, q, pkg, s.now().UnixMilli()); err != nil {
		return err
	}
	return q.Publish(ctx, store.Change{Kind: store.PackageChanged, Key: pkg.Name})
}
