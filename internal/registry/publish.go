package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/blob"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// Publish stores the new version that doc carries. The tarball is verified and
// written to the blob store first; then the version, its dist-tags and the
// rebuilt packuments commit in one transaction, so nothing is half-published.
// (Put publishes what a request's body carries, authorising it before the
// body is read.)
func (s *Service) Publish(ctx context.Context, p *auth.Principal, name string, doc PublishDocument) (err error) {
	defer func() { s.obs.Publish(PublishResult(err)) }()
	defer s.refused(ctx, p, audit.PackagePublish, name, &err)
	pub, err := DecodePublish(name, doc)
	if err != nil {
		return err
	}
	// Authorise before writing anything: a quick look outside the transaction.
	if err := s.authorisePublish(ctx, s.store.Q(), p, name, pub.Scope); err != nil {
		return err
	}
	return s.commitPublication(ctx, p, pub)
}

// commitPublication stores a decoded publication that p was authorised to
// publish: the tarball in the blob store first, then the version, its
// dist-tags and the rebuilt packuments in one transaction, which decides
// again on fresh rows.
func (s *Service) commitPublication(ctx context.Context, p *auth.Principal, pub Publication) error {
	if err := s.storeTarball(ctx, pub); err != nil {
		return err
	}
	err := s.write(ctx, pub.Name, func(q store.Queries) error { return s.insertPublication(ctx, q, p, pub) })
	s.forgetProxiedCopy(pub.Name)
	return err
}

// forgetProxiedCopy drops, once a publish has committed, what this node
// keeps in memory of an uplink's package of that name: a read between the
// forget in the transaction and the commit may have kept the uplink's
// copy, and this node ignores its own change of it on the feed.
func (s *Service) forgetProxiedCopy(name string) {
	if s.proxy != nil {
		s.proxy.mem.forget(name)
	}
}

// storeTarball writes a publication's tarball to the blob store, at its
// content address.
func (s *Service) storeTarball(ctx context.Context, pub Publication) error {
	key := blob.Key(pub.Digest.SHA512)
	if pub.Received != nil {
		return s.blobs.WriteSized(ctx, key, pub.Received.Reader(), pub.Received.Size())
	}
	return s.blobs.Put(ctx, key, pub.Tarball)
}

// insertPublication is the transaction part of a publish, whose tarball
// is in the blob store already: it decides again on fresh rows, creates
// the package if it is new, and stores the version, its dist-tags, its
// provenance and the rebuilt packuments. A version that is staged is a
// Conflict (an approval deletes its staged row first).
func (s *Service) insertPublication(ctx context.Context, q store.Queries, p *auth.Principal, pub Publication) error {
	name, version, tags, access, scope := pub.Name, pub.Version, pub.Tags, pub.Access, pub.Scope
	manifestJSON, err := versionDocument(pub.Manifest, name, version, pub.Digest, Maintainer{Name: p.UserName, Email: p.Email},
		pub.Provenance)
	if err != nil {
		return err
	}
	key := blob.Key(pub.Digest.SHA512)
	now := s.now().UnixMilli()
	pkg, err := q.PackageByName(ctx, name)
	created := false
	switch {
	case fault.Is(err, fault.NotFound):
		created = true
		f, err := s.newPackageFacts(ctx, q, p, name, scope)
		if err != nil {
			return err
		}
		if err := policy.Decide(p, policy.Create, f); err != nil {
			return err
		}
		if err := ValidatePackageName(name); err != nil {
			return err
		}
		if access == "" {
			access = defaultAccess(scope)
		}
		pkg, err = q.CreatePackage(ctx, store.Package{Name: name, Scope: scope, Access: access, Rev: 0,
			CreatedAt: now, ModifiedAt: now})
		if err != nil {
			return err
		}
		if err := q.AddOwner(ctx, pkg.ID, p.UserID); err != nil {
			return err
		}
		// What an uplink served under this name is not served any more.
		if err := s.forgetProxied(ctx, q, name); err != nil {
			return err
		}
		// A new package of an organization's scope goes to its developers team.
		if err := s.grantDevelopers(ctx, q, pkg); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		if err := s.decide(ctx, q, p, pkg, policy.Publish); err != nil {
			return err
		}
	}
	used, err := q.WasPublished(ctx, name, version)
	if err != nil {
		return err
	}
	if used {
		return fault.Forbiddenf("You cannot publish over the previously published versions: %s.", version)
	}
	staged, err := q.IsStaged(ctx, name, version)
	if err != nil {
		return err
	}
	if staged {
		return fault.Conflictf("%s@%s is staged: approve it (npm stage approve) or reject it (npm stage reject) first", name, version)
	}
	if err := q.MarkPublished(ctx, name, version); err != nil {
		return err
	}
	doc, err := s.signVersion(ctx, q, pkg.ID, name, version, manifestJSON, now)
	if err != nil {
		return err
	}
	if err := q.InsertVersion(ctx, store.Version{PackageID: pkg.ID, Version: version, Manifest: doc,
		BlobKey: key, Size: pub.Digest.Size, PublishedAt: now}); err != nil {
		return err
	}
	if pub.Provenance != nil {
		if err := q.PutAttestation(ctx, pkg.ID, version, store.Attestation{
			PredicateType: pub.Provenance.PredicateType, Bundle: pub.Provenance.Bundle}); err != nil {
			return err
		}
	}
	existing, err := q.DistTags(ctx, pkg.ID)
	if err != nil {
		return err
	}
	if _, ok := existing["latest"]; !ok {
		tags["latest"] = version
	}
	if err := checkTagCount(name, existing, tags); err != nil {
		return err
	}
	tagNames := make([]string, 0, len(tags))
	for tag := range tags {
		if err := q.SetDistTag(ctx, pkg.ID, tag, version); err != nil {
			return err
		}
		tagNames = append(tagNames, tag)
	}
	sort.Strings(tagNames)
	detail := "tags " + strings.Join(tagNames, ", ")
	if created {
		detail = "new package, " + string(access) + "; " + detail
	}
	if err := s.record(ctx, q, p, audit.PackagePublish, audit.Target{Package: name, Version: version}, detail); err != nil {
		return err
	}
	return s.rebuild(ctx, q, pkg, now)
}

// grantDevelopers gives an organization's developers team read-write on a
// new package of the organization's scope; other packages are left alone.
func (s *Service) grantDevelopers(ctx context.Context, q store.Queries, pkg store.Package) error {
	if pkg.Scope == "" {
		return nil
	}
	org, err := q.OrgByName(ctx, pkg.Scope)
	if fault.Is(err, fault.NotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	team, err := q.TeamByName(ctx, org.ID, DevelopersTeam)
	if fault.Is(err, fault.NotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return q.GrantTeam(ctx, team.ID, pkg.ID, store.TeamReadWrite)
}

// refuseShadowing refuses the creation of a local package that would
// shadow a package of an uplink: a new unscoped name (a scoped one is in a
// scope of this registry's, never proxied) that is not local yet, which
// the uplink serving it has. An uplink that cannot tell is an error too.
// The setting publish_uplink_names = allow turns the check off.
func (s *Service) refuseShadowing(ctx context.Context, q store.Queries, p *auth.Principal, f policy.Package) error {
	if s.proxy == nil || s.proxy.allowNames || f.Scope != "" {
		return nil
	}
	if local, err := q.IsLocalName(ctx, f.Name, ""); err != nil || local {
		return err // published here before: the name is this registry's
	}
	has, err := s.proxy.uplinkHas(ctx, f.Name)
	if err != nil || has == "" {
		return err
	}
	f.Uplink = has
	return policy.Decide(p, policy.Create, f)
}

// forgetProxied drops, in the transaction q runs in, what an uplink left
// cached under name, which is becoming a local package's.
func (s *Service) forgetProxied(ctx context.Context, q store.Queries, name string) error {
	if s.proxy == nil {
		return nil
	}
	if err := q.ForgetUplinkPackage(ctx, name); err != nil {
		return err
	}
	s.proxy.mem.forget(name)
	return q.Publish(ctx, store.Change{Kind: store.UplinkChanged, Key: name})
}

// DevelopersTeam is the team every organization has, that new members join.
const DevelopersTeam = "developers"

// decideCreate decides whether p may create the package name, which does
// not exist, and returns the facts it decided on.
func (s *Service) decideCreate(ctx context.Context, q store.Queries, p *auth.Principal, name, scope string) (policy.Package, error) {
	f, err := s.newPackageFacts(ctx, q, p, name, scope)
	if err != nil {
		return f, err
	}
	if err := policy.Decide(p, policy.Create, f); err != nil {
		return f, err
	}
	// A legacy name (JSONStream) may be published to but not created.
	// Checked once creating is allowed, so that the answer never tells an
	// existing hidden package from a missing one.
	return f, ValidatePackageName(name)
}

// authorisePublish refuses early, before the tarball is written, a publish
// that policy would refuse in the transaction anyway, and asks for the OTP
// the user's and the package's 2FA settings need.
func (s *Service) authorisePublish(ctx context.Context, q store.Queries, p *auth.Principal, name, scope string) error {
	pkg, err := q.PackageByName(ctx, name)
	if fault.Is(err, fault.NotFound) {
		f, err := s.decideCreate(ctx, q, p, name, scope)
		if err != nil {
			return err
		}
		if err := s.refuseShadowing(ctx, q, p, f); err != nil {
			return err
		}
		return s.tfa.RequireOTP(ctx, p, policy.OTPPackageWrite, &store.PackageMFA{})
	}
	if err != nil {
		return err
	}
	if err := s.decide(ctx, q, p, pkg, policy.Publish); err != nil {
		return err
	}
	mfa, err := q.PackageMFAOf(ctx, pkg.ID)
	if err != nil {
		return err
	}
	return s.tfa.RequireOTP(ctx, p, policy.OTPPackageWrite, &mfa)
}

// defaultAccess is a new package's access when none is asked for, as npm
// does: restricted for a scoped package, public otherwise.
func defaultAccess(scope string) store.Access {
	if scope != "" {
		return store.Restricted
	}
	return store.Public
}

func hasInstallScript(m map[string]json.RawMessage) bool {
	var scripts map[string]any
	if json.Unmarshal(m["scripts"], &scripts) != nil {
		return false
	}
	for _, k := range []string{"preinstall", "install", "postinstall"} {
		if _, ok := scripts[k]; ok {
			return true
		}
	}
	return false
}

// versionDocument fills in what the registry owns in a version document
// (dist with the tarball's digests and link and, with provenance, the link
// to its attestations; _id, _npmUser, hasInstallScript) and encodes it as stored in the versions table.
func versionDocument(manifest map[string]json.RawMessage, name, version string, digest Digest, user Maintainer,
	provenance *Provenance) ([]byte, error) {
	dist := map[string]any{
		"shasum":       digest.Shasum,
		"integrity":    digest.Integrity,
		"tarball":      BasePlaceholder + "/" + name + "/-/" + TarballFilename(name, version),
		"fileCount":    digest.FileCount,
		"unpackedSize": digest.UnpackedSize,
	}
	if provenance != nil {
		dist["attestations"] = map[string]any{
			"url":        BasePlaceholder + AttestationsPath(name, version),
			"provenance": map[string]string{"predicateType": provenance.PredicateType},
		}
	}
	manifest["dist"] = mustJSON(dist)
	manifest["_id"] = mustJSON(name + "@" + version)
	manifest["_npmUser"] = mustJSON(user)
	if hasInstallScript(manifest) {
		manifest["hasInstallScript"] = json.RawMessage("true")
	}
	out, err := json.Marshal(manifest)
	if err != nil {
		return nil, fmt.Errorf("encode manifest %s@%s: %w", name, version, err)
	}
	return out, nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("registry: encode %T: %v", v, err))
	}
	return b
}
