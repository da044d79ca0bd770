package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// Update applies a packument sent back by npm without attachments: version
// deprecation messages (npm deprecate, PUT /:package), and, when rev is given
// (PUT /:package/-rev/:rev), removed versions (npm unpublish) and a changed
// maintainers list (npm owner).
func (s *Service) Update(ctx context.Context, p *auth.Principal, name, rev string, doc PublishDocument, hasVersions bool) error {
	if doc.Name != "" && doc.Name != name {
		return fault.Invalidf("the package name in the body (%q) does not match the URL (%q)", doc.Name, name)
	}
	if len(doc.Maintainers) > MaxMaintainers {
		return fault.Invalidf("a package may have at most %d owners, got %d", MaxMaintainers, len(doc.Maintainers))
	}
	// Governance (owners) needs the same OTP as a package write in every
	// mode, and the tokens exempt from it may not change owners anyway.
	return s.change(ctx, p, name, policy.Deprecate, policy.OTPPackageWrite, audit.PackageChange, func(q store.Queries, pkg store.Package) (bool, error) {
		if err := checkRev(rev, pkg); err != nil {
			return false, err
		}
		versions, err := q.Versions(ctx, pkg.ID)
		if err != nil {
			return false, err
		}
		changed := false
		var removed []string
		// The versions whose deprecation changed, by their new message ("" cleared).
		deprecations := map[string][]string{}
		for _, v := range versions {
			sent, ok := doc.Versions[v.Version]
			if !ok {
				if rev != "" && hasVersions {
					removed = append(removed, v.Version)
				}
				continue
			}
			newManifest, did, err := applyDeprecation(v.Manifest, sent)
			if err != nil {
				return false, fault.Invalidf("version %s: %v", v.Version, err)
			}
			if did {
				if err := q.UpdateVersionManifest(ctx, pkg.ID, v.Version, newManifest); err != nil {
					return false, err
				}
				changed = true
				msg := deprecationOf(newManifest)
				deprecations[msg] = append(deprecations[msg], v.Version)
			}
		}
		msgs := make([]string, 0, len(deprecations))
		for msg := range deprecations {
			msgs = append(msgs, msg)
		}
		sort.Strings(msgs)
		for _, msg := range msgs {
			vs := deprecations[msg]
			detail := "cleared"
			if msg != "" {
				detail = strconv.Quote(msg)
			}
			if err := s.record(ctx, q, p, audit.PackageDeprecate, versionsTarget(pkg.Name, vs), detail+" on "+versionList(vs)); err != nil {
				return false, err
			}
		}
		if len(removed) > 0 {
			if len(removed) == len(versions) {
				return false, fault.Invalidf("an update cannot remove every version; unpublish the whole package instead")
			}
			if err := s.decide(ctx, q, p, pkg, policy.Unpublish); err != nil {
				return false, err
			}
			if err := s.removeVersions(ctx, q, pkg, removed); err != nil {
				return false, err
			}
			if err := s.record(ctx, q, p, audit.PackageUnpublish, versionsTarget(pkg.Name, removed), versionList(removed)); err != nil {
				return false, err
			}
			changed = true
		}
		if rev != "" && doc.Maintainers != nil {
			did, err := s.setOwners(ctx, q, p, pkg, doc.Maintainers)
			if err != nil {
				return false, err
			}
			changed = changed || did
		}
		return changed, nil
	})
}

// versionsTarget names a package and, when there is one, the one version
// an event concerns.
func versionsTarget(name string, versions []string) audit.Target {
	t := audit.Target{Package: name}
	if len(versions) == 1 {
		t.Version = versions[0]
	}
	return t
}

// versionList names versions for an event's detail: the first 20, and how
// many more.
func versionList(versions []string) string {
	const shown = 20
	if len(versions) <= shown {
		return strings.Join(versions, ", ")
	}
	return strings.Join(versions[:shown], ", ") + fmt.Sprintf(" and %d more", len(versions)-shown)
}

// deprecationOf is a stored version document's deprecation message, "" for none.
func deprecationOf(manifest []byte) string {
	var m struct {
		Deprecated string `json:"deprecated"`
	}
	_ = json.Unmarshal(manifest, &m)
	return m.Deprecated
}

// applyDeprecation copies the deprecated field of sent into stored.
func applyDeprecation(stored []byte, sent json.RawMessage) ([]byte, bool, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(stored, &m); err != nil {
		return nil, false, err
	}
	var in struct {
		Deprecated *json.RawMessage `json:"deprecated"`
	}
	if err := json.Unmarshal(sent, &in); err != nil {
		return nil, false, fmt.Errorf("not a JSON object")
	}
	var msg string
	if in.Deprecated != nil {
		if err := json.Unmarshal(*in.Deprecated, &msg); err != nil {
			if string(*in.Deprecated) != "false" && string(*in.Deprecated) != "null" {
				return nil, false, fmt.Errorf("deprecated must be a string")
			}
		}
	}
	var current string
	_ = json.Unmarshal(m["deprecated"], &current)
	if current == msg {
		return stored, false, nil
	}
	if msg == "" {
		delete(m, "deprecated")
	} else {
		m["deprecated"] = mustJSON(msg)
	}
	out, err := json.Marshal(m)
	return out, err == nil, err
}

// removeVersions deletes versions and repairs dist-tags: tags that pointed at
// a removed version go, and latest moves to the highest remaining release.
func (s *Service) removeVersions(ctx context.Context, q store.Queries, pkg store.Package, removed []string) error {
	gone := map[string]bool{}
	for _, v := range removed {
		if err := q.DeleteVersion(ctx, pkg.ID, v); err != nil {
			return err
		}
		gone[v] = true
	}
	tags, err := q.DistTags(ctx, pkg.ID)
	if err != nil {
		return err
	}
	for tag, v := range tags {
		if gone[v] {
			if err := q.DeleteDistTag(ctx, pkg.ID, tag); err != nil {
				return err
			}
			delete(tags, tag)
		}
	}
	if _, ok := tags["latest"]; !ok {
		versions, err := q.Versions(ctx, pkg.ID)
		if err != nil {
			return err
		}
		if best := highest(versions); best != "" {
			return q.SetDistTag(ctx, pkg.ID, "latest", best)
		}
	}
	return nil
}

// highest is the highest release version, or the highest prerelease when
// there is no release.
func highest(versions []store.Version) string {
	var best, bestPre *semver.Version
	for _, v := range versions {
		sv, err := semver.StrictNewVersion(v.Version)
		if err != nil {
			continue
		}
		if sv.Prerelease() == "" {
			if best == nil || sv.GreaterThan(best) {
				best = sv
			}
		} else if bestPre == nil || sv.GreaterThan(bestPre) {
			bestPre = sv
		}
	}
	switch {
	case best != nil:
		return best.Original()
	case bestPre != nil:
		return bestPre.Original()
	}
	return ""
}

// setOwners makes the owners exactly the named users.
func (s *Service) setOwners(ctx context.Context, q store.Queries, p *auth.Principal, pkg store.Package, maintainers []Maintainer) (bool, error) {
	f, err := s.facts(ctx, q, p, pkg)
	if err != nil {
		return false, err
	}
	current, err := q.Owners(ctx, pkg.ID)
	if err != nil {
		return false, err
	}
	want := map[string]bool{}
	for _, m := range maintainers {
		want[m.Name] = true
	}
	have := map[string]int64{}
	for _, o := range current {
		have[o.Name] = o.UserID
	}
	same := len(want) == len(have)
	for n := range want {
		if _, ok := have[n]; !ok {
			same = false
		}
	}
	if same {
		return false, nil
	}
	if err := policy.Decide(p, policy.ChangeOwners, f); err != nil {
		return false, err
	}
	if len(want) == 0 {
		return false, fault.Invalidf("Cannot remove all owners of a package. Add someone else first.")
	}
	target := func(id int64, user string) audit.Target {
		return audit.Target{Package: pkg.Name, UserID: id, User: user}
	}
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, ok := have[n]; ok {
			continue
		}
		u, err := q.UserByName(ctx, n)
		if err != nil {
			if fault.Is(err, fault.NotFound) {
				return false, fault.NotFoundf("user %q not found", n)
			}
			return false, err
		}
		if err := q.AddOwner(ctx, pkg.ID, u.ID); err != nil {
			return false, err
		}
		if err := s.record(ctx, q, p, audit.OwnerAdd, target(u.ID, u.Name), ""); err != nil {
			return false, err
		}
	}
	gone := make([]string, 0, len(have))
	for n := range have {
		if !want[n] {
			gone = append(gone, n)
		}
	}
	sort.Strings(gone)
	for _, n := range gone {
		if err := q.RemoveOwner(ctx, pkg.ID, have[n]); err != nil {
			return false, err
		}
		if err := s.record(ctx, q, p, audit.OwnerRemove, target(have[n], n), ""); err != nil {
			return false, err
		}
	}
	return true, nil
}

// UnpublishPackage removes a whole package. Its versions stay recorded as
// published, so none of them can be published again.
func (s *Service) UnpublishPackage(ctx context.Context, p *auth.Principal, name, rev string) error {
	return s.change(ctx, p, name, policy.Unpublish, policy.OTPPackageWrite, audit.PackageUnpublish, func(q store.Queries, pkg store.Package) (bool, error) {
		if err := checkRev(rev, pkg); err != nil {
			return false, err
		}
		if err := q.DeletePackage(ctx, pkg.ID); err != nil {
			return false, err
		}
		return false, s.record(ctx, q, p, audit.PackageUnpublish, audit.Target{Package: pkg.Name}, "the whole package")
	})
}

// DeleteTarball is the last step of npm's version unpublish. The version is
// normally gone already (removed by Update); if it is still there, it is
// removed now. The blob itself stays until garbage collection.
func (s *Service) DeleteTarball(ctx context.Context, p *auth.Principal, name, filename string) error {
	return s.change(ctx, p, name, policy.Unpublish, policy.OTPPackageWrite, audit.PackageUnpublish, func(q store.Queries, pkg store.Package) (bool, error) {
		version, ok := versionFromFilename(name, filename)
		if !ok {
			return false, fault.NotFoundf("Not found")
		}
		versions, err := q.Versions(ctx, pkg.ID)
		if err != nil {
			return false, err
		}
		for _, v := range versions {
			if v.Version != version {
				continue
			}
			event := audit.Target{Package: pkg.Name, Version: version}
			if len(versions) == 1 {
				if err := q.DeletePackage(ctx, pkg.ID); err != nil {
					return false, err
				}
				return false, s.record(ctx, q, p, audit.PackageUnpublish, event, "the last version: the whole package")
			}
			if err := s.removeVersions(ctx, q, pkg, []string{version}); err != nil {
				return false, err
			}
			return true, s.record(ctx, q, p, audit.PackageUnpublish, event, version)
		}
		return false, nil
	})
}
