package org

import (
	"context"
	"strings"

	"github.com/gatehouse-registry/gatehouse/internal/account"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// Memberships lists the organizations p's user belongs to, with the role in
// each, by name.
func (s *Service) Memberships(ctx context.Context, p *auth.Principal) ([]store.Membership, error) {
	if !p.Authenticated() {
		return nil, auth.ErrAuthRequired()
	}
	return s.store.Q().OrgsOf(ctx, p.UserID)
}

// CreateFor makes an organization owned by p's user (the website's "Create
// organization"). Policy says who may (policy.DecideOrgCreate); it takes the OTP that the user's
// two-factor mode asks of organization changes; the name is checked first so
// a bad one does not spend a one-time password.
func (s *Service) CreateFor(ctx context.Context, p *auth.Principal, name string) (store.Org, error) {
	if err := policy.DecideOrgCreate(p); err != nil {
		return store.Org{}, err
	}
	if err := account.ValidateUserName(normalize(name)); err != nil {
		return store.Org{}, fault.Invalidf("Invalid organization name: %s", strings.TrimPrefix(err.Error(), "Name "))
	}
	if err := s.tfa.RequireOTP(ctx, p, policy.OTPGovernance, nil); err != nil {
		return store.Org{}, err
	}
	return s.Create(ctx, p, name, p.UserName)
}
