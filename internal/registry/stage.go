package registry

import (
	"context"
	"encoding/json"
	"io"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/blob"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/google/uuid"
)

// Staged publishing (npm stage): a version is uploaded and checked as a
// publish is, but kept aside, invisible to installs, until a person
// approves it (then it is published through the normal publish path) or
// rejects it. A staged version holds its version number meanwhile. Staging
// a name that has no package yet creates nothing: the package appears when
// the version is approved, and until then the name reads as not found.

// ActorUser is the actor type of a version staged with a user's credential.
const ActorUser = "user"

// MaxStagedPage bounds the items of one page of a staged-versions list.
const MaxStagedPage = 100

// Stage stores the version that body (the document of a publish, read as
// Put reads it) carries as a staged version of package name, and returns
// its id. It needs what the Stage action needs (policy.Decide) and asks
// for no one-time password: the approval is the step that does. A version
// published or staged before is a Conflict.
func (s *Service) Stage(ctx context.Context, p *auth.Principal, name string, body io.Reader) (_ string, err error) {
	defer s.refused(ctx, p, audit.PackageStage, name, &err)
	if err := s.authoriseStage(ctx, s.store.Q(), p, name); err != nil {
		return "", err
	}
	doc, err := ReadDocument(body, ReadOptions{
		MaxPublishDocument: MaxPublishDocument,
		SpoolDir:           s.spoolDir,
		BeforeAttachment:   func(_ string, sofar PublishDocument) error { return checkHead(name, sofar) },
	})
	if err != nil {
		return "", err
	}
	defer doc.Close()
	if len(doc.Attachments) == 0 {
		return "", fault.Invalidf("a staged version must carry its tarball, as a publish does")
	}
	pub, err := DecodePublish(name, doc)
	if err != nil {
		return "", err
	}
	if err := s.storeTarball(ctx, pub); err != nil {
		return "", err
	}
	tags, err := json.Marshal(pub.Tags)
	if err != nil {
		return "", err
	}
	manifest, err := json.Marshal(pub.Manifest)
	if err != nil {
		return "", err
	}
	row := store.Staged{ID: uuid.NewString(), Name: name, Scope: pub.Scope, Version: pub.Version, Tags: tags,
		Access: pub.Access, Manifest: manifest, BlobKey: blob.Key(pub.Digest.SHA512), Size: pub.Digest.Size,
		Shasum: pub.Digest.Shasum, Integrity: pub.Digest.Integrity, FileCount: pub.Digest.FileCount,
		UnpackedSize: pub.Digest.UnpackedSize, ActorID: p.UserID, ActorType: ActorUser, CreatedAt: s.now().UnixMilli()}
	if pub.Provenance != nil {
		row.Provenance = pub.Provenance.Bundle
	}
	err = s.store.InTx(ctx, func(q store.Queries) error {
		if err := s.authoriseStage(ctx, q, p, name); err != nil {
			return err
		}
		if err := checkVersionFree(ctx, q, name, pub.Version); err != nil {
			return err
		}
		if err := q.InsertStaged(ctx, row); err != nil {
			return err
		}
		return s.record(ctx, q, p, audit.PackageStage, audit.Target{Package: name, Version: pub.Version}, "staged "+row.ID)
	})
	if err != nil {
		return "", err
	}
	return row.ID, nil
}

// checkVersionFree refuses, as a Conflict, to stage a version of name that
// was published (even if unpublished since) or is staged already.
func checkVersionFree(ctx context.Context, q store.Queries, name, version string) error {
	used, err := q.WasPublished(ctx, name, version)
	if err != nil {
		return err
	}
	if used {
		return fault.Conflictf("%s@%s was published already: a published version cannot be staged", name, version)
	}
	staged, err := q.IsStaged(ctx, name, version)
	if err != nil {
		return err
	}
	if staged {
		return fault.Conflictf("%s@%s is staged already: reject it (npm stage reject) to stage it again", name, version)
	}
	return nil
}

// authoriseStage decides whether p may stage a version of name: the Stage
// action on the package, or, for a name with no package yet, on the name
// as a publish would create it (a legacy name or one an uplink has is
// refused as its creation would be).
func (s *Service) authoriseStage(ctx context.Context, q store.Queries, p *auth.Principal, name string) error {
	if !p.Authenticated() {
		return auth.ErrAuthRequired()
	}
	pkg, err := q.PackageByName(ctx, name)
	switch {
	case fault.Is(err, fault.NotFound):
	case err != nil:
		return err
	default:
		return s.decide(ctx, q, p, pkg, policy.Stage)
	}
	if s.proxy != nil {
		f, proxied, err := s.proxy.proxiedFacts(ctx, q, name)
		if err != nil {
			return err
		}
		if proxied {
			return policy.Decide(p, policy.Stage, f)
		}
	}
	scope, _ := SplitName(name)
	f, err := s.newPackageFacts(ctx, q, p, name, scope)
	if err != nil {
		return err
	}
	if err := policy.Decide(p, policy.Stage, f); err != nil {
		return err
	}
	if err := ValidatePackageName(name); err != nil {
		return err
	}
	if s.proxy == nil || s.proxy.allowNames || scope != "" {
		return nil
	}
	if local, err := q.IsLocalName(ctx, name, ""); err != nil || local {
		return err
	}
	has, err := s.proxy.uplinkHas(ctx, name)
	if err != nil || has == "" {
		return err
	}
	f.Uplink = has
	return policy.Decide(p, policy.Stage, f)
}

// stagedFacts is what policy needs to decide on the staged version st.
func (s *Service) stagedFacts(ctx context.Context, q store.Queries, p *auth.Principal, st store.Staged) (policy.StagedVersion, error) {
	f := policy.StagedVersion{ByUser: p.Authenticated() && p.UserID == st.ActorID}
	pkg, err := q.PackageByName(ctx, st.Name)
	switch {
	case fault.Is(err, fault.NotFound):
		f.Package, err = s.newPackageFacts(ctx, q, p, st.Name, st.Scope)
	case err != nil:
	default:
		f.Package, err = s.facts(ctx, q, p, pkg)
	}
	return f, err
}

// loadStaged reads the staged version id and decides whether p may do a to
// it. An id that is not a UUID, or names no staged version, is NotFound,
// as is one p may not see.
func (s *Service) loadStaged(ctx context.Context, q store.Queries, p *auth.Principal, id string, a policy.StageAction) (store.Staged, error) {
	if !p.Authenticated() {
		return store.Staged{}, auth.ErrAuthRequired()
	}
	if _, err := uuid.Parse(id); err != nil || len(id) != 36 {
		return store.Staged{}, fault.NotFoundf("Not found")
	}
	st, err := q.StagedByID(ctx, id)
	if err != nil {
		return store.Staged{}, err
	}
	f, err := s.stagedFacts(ctx, q, p, st)
	if err != nil {
		return store.Staged{}, err
	}
	return st, policy.DecideStaged(p, a, f)
}

// StagedQuery says which staged versions StagedList lists.
type StagedQuery struct {
	// Package, when not "", lists that package's staged versions only.
	Package string
	// Mine lists the versions the caller staged only.
	Mine bool
	// Page counts from 0; PerPage is at most MaxStagedPage.
	Page, PerPage int
}

// StagedList lists one page of the staged versions p may see (the rule of
// policy.DecideStaged, applied by the store), newest first, and how many
// there are in all.
func (s *Service) StagedList(ctx context.Context, p *auth.Principal, sq StagedQuery) ([]store.Staged, int, error) {
	if !p.Authenticated() {
		return nil, 0, auth.ErrAuthRequired()
	}
	if sq.Page < 0 || sq.PerPage < 1 || sq.PerPage > MaxStagedPage {
		return nil, 0, fault.Invalidf("page must be 0 or more and perPage from 1 to %d", MaxStagedPage)
	}
	if sq.Page > 1_000_000 {
		return nil, 0, fault.Invalidf("page is too large")
	}
	f := store.StagedFilter{Viewer: p.UserID, Reach: policy.CredentialReach(p), Package: sq.Package}
	if sq.Mine {
		f.Actor = p.UserID
	}
	return s.store.Q().StagedList(ctx, f, sq.Page, sq.PerPage)
}

// Staged returns the staged version id, if p may see it.
func (s *Service) Staged(ctx context.Context, p *auth.Principal, id string) (store.Staged, error) {
	return s.loadStaged(ctx, s.store.Q(), p, id, policy.ViewStaged)
}

// StagedTarball returns the tarball of the staged version id, if p may see it.
func (s *Service) StagedTarball(ctx context.Context, p *auth.Principal, id string) (Tarball, error) {
	st, err := s.loadStaged(ctx, s.store.Q(), p, id, policy.ViewStaged)
	if err != nil {
		return Tarball{}, err
	}
	return s.blobTarball(ctx, st.BlobKey, st.Size, time.UnixMilli(st.CreatedAt))
}

// Approve publishes the staged version id through the normal publish path:
// p must be allowed to publish it directly (policy.DecideStaged) and give a
// one-time password when the user has 2FA (policy.OTPApprove). In one
// transaction the staged row is deleted and the version published, with
// every check of a publish run again on fresh rows: a version taken
// meanwhile is a Conflict (or npm's refusal to publish over a version).
func (s *Service) Approve(ctx context.Context, p *auth.Principal, id string) (err error) {
	defer s.refused(ctx, p, audit.StageApprove, "", &err)
	st, err := s.loadStaged(ctx, s.store.Q(), p, id, policy.ApproveStaged)
	if err != nil {
		return err
	}
	mfa := store.PackageMFA{}
	q := s.store.Q()
	switch pkg, err := q.PackageByName(ctx, st.Name); {
	case err == nil:
		if mfa, err = q.PackageMFAOf(ctx, pkg.ID); err != nil {
			return err
		}
	case fault.Is(err, fault.NotFound):
		// A new name: refused, as its publish would be, when an uplink
		// has a package of that name (it may have one since the stage).
		f, err := s.newPackageFacts(ctx, q, p, st.Name, st.Scope)
		if err != nil {
			return err
		}
		if err := s.refuseShadowing(ctx, q, p, f); err != nil {
			return err
		}
	default:
		return err
	}
	if err := s.tfa.RequireOTP(ctx, p, policy.OTPApprove, &mfa); err != nil {
		return err
	}
	// The staged row names the package; a row loaded again in the
	// transaction is the same row (its id), so the same name.
	err = s.write(ctx, st.Name, func(q store.Queries) error {
		st, err := s.loadStaged(ctx, q, p, id, policy.ApproveStaged)
		if err != nil {
			return err
		}
		pub, err := publicationOf(st)
		if err != nil {
			return err
		}
		if err := q.DeleteStaged(ctx, id); err != nil {
			return err
		}
		if err := s.record(ctx, q, p, audit.StageApprove, audit.Target{Package: st.Name, Version: st.Version}, "staged "+id); err != nil {
			return err
		}
		return s.insertPublication(ctx, q, p, pub)
	})
	s.forgetProxiedCopy(st.Name)
	s.obs.Publish(PublishResult(err))
	return err
}

// Reject deletes the staged version id (its tarball goes with the next
// gatehouse gc, unless another version shares it). The user who staged it
// may always reject it; others need write rights on the package.
func (s *Service) Reject(ctx context.Context, p *auth.Principal, id string) (err error) {
	defer s.refused(ctx, p, audit.StageReject, "", &err)
	if _, err := s.loadStaged(ctx, s.store.Q(), p, id, policy.RejectStaged); err != nil {
		return err
	}
	if err := s.tfa.RequireOTP(ctx, p, policy.OTPPackageWrite, nil); err != nil {
		return err
	}
	return s.store.InTx(ctx, func(q store.Queries) error {
		st, err := s.loadStaged(ctx, q, p, id, policy.RejectStaged)
		if err != nil {
			return err
		}
		if err := q.DeleteStaged(ctx, id); err != nil {
			return err
		}
		return s.record(ctx, q, p, audit.StageReject, audit.Target{Package: st.Name, Version: st.Version}, "staged "+id)
	})
}

// publicationOf rebuilds the Publication a staged version was decoded from
// (its tarball is in the blob store already).
func publicationOf(st store.Staged) (Publication, error) {
	pub := Publication{Name: st.Name, Scope: st.Scope, Version: st.Version, Access: st.Access}
	if err := json.Unmarshal(st.Manifest, &pub.Manifest); err != nil {
		return Publication{}, fault.Wrap(fault.Internal, err, "decode the staged manifest")
	}
	if err := json.Unmarshal(st.Tags, &pub.Tags); err != nil {
		return Publication{}, fault.Wrap(fault.Internal, err, "decode the staged dist-tags")
	}
	sum, err := blob.SumOf(st.BlobKey)
	if err != nil {
		return Publication{}, fault.Wrap(fault.Internal, err, "read the staged tarball's address")
	}
	pub.Digest = Digest{SHA512: sum, Shasum: st.Shasum, Integrity: st.Integrity, Size: st.Size,
		FileCount: st.FileCount, UnpackedSize: st.UnpackedSize}
	if st.Provenance != nil {
		prov, err := checkProvenance(st.Name, st.Version, st.Provenance, sum)
		if err != nil {
			return Publication{}, err
		}
		pub.Provenance = prov
	}
	return pub, nil
}
