package registry

import (
	"context"

	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// DistTags returns a package's dist-tags.
func (s *Service) DistTags(ctx context.Context, p *auth.Principal, name string) (map[string]string, error) {
	if err := s.MayRead(p); err != nil {
		return nil, err
	}
	q := s.store.Q()
	pkg, err := s.loadFor(ctx, q, p, name, policy.Read)
	if s.proxy != nil && fault.Is(err, fault.NotFound) {
		if _, lerr := q.PackageByName(ctx, name); fault.Is(lerr, fault.NotFound) {
			return s.proxiedDistTags(ctx, p, name)
		}
	}
	if err != nil {
		return nil, err
	}
	return q.DistTags(ctx, pkg.ID)
}

// SetDistTag points tag at version.
func (s *Service) SetDistTag(ctx context.Context, p *auth.Principal, name, tag, version string) error {
	if err := ValidateTag(tag); err != nil {
		return err
	}
	return s.change(ctx, p, name, policy.DistTag, policy.OTPPackageWrite, audit.DistTagSet, func(q store.Queries, pkg store.Package) (bool, error) {
		if _, err := q.VersionOf(ctx, pkg.ID, version); err != nil {
			if fault.Is(err, fault.NotFound) {
				return false, fault.NotFoundf("version %s of %s not found", version, name)
			}
			return false, err
		}
		existing, err := q.DistTags(ctx, pkg.ID)
		if err != nil {
			return false, err
		}
		if err := checkTagCount(name, existing, map[string]string{tag: version}); err != nil {
			return false, err
		}
		if err := q.SetDistTag(ctx, pkg.ID, tag, version); err != nil {
			return false, err
		}
		return true, s.record(ctx, q, p, audit.DistTagSet, audit.Target{Package: pkg.Name, Version: version}, tag)
	})
}

// DeleteDistTag removes tag; latest cannot be removed.
func (s *Service) DeleteDistTag(ctx context.Context, p *auth.Principal, name, tag string) error {
	return s.change(ctx, p, name, policy.DistTag, policy.OTPPackageWrite, audit.DistTagRemove, func(q store.Queries, pkg store.Package) (bool, error) {
		if tag == "latest" {
			return false, fault.Invalidf("the latest dist-tag cannot be removed; point it at another version instead")
		}
		tags, err := q.DistTags(ctx, pkg.ID)
		if err != nil {
			return false, err
		}
		if _, ok := tags[tag]; !ok {
			return false, fault.NotFoundf("%s is not a dist-tag on %s", tag, name)
		}
		if err := q.DeleteDistTag(ctx, pkg.ID, tag); err != nil {
			return false, err
		}
		return true, s.record(ctx, q, p, audit.DistTagRemove, audit.Target{Package: pkg.Name, Version: tags[tag]}, tag)
	})
}
