package policy

import (
	"fmt"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// StageAction is something a request wants to do to a staged version
// (staging one is the package action Stage, decided by Decide).
type StageAction string

// The staged-version actions.
const (
	ViewStaged    StageAction = "view-staged"    // list, view, download the tarball
	ApproveStaged StageAction = "approve-staged" // publish it
	RejectStaged  StageAction = "reject-staged"  // delete it
)

// StagedVersion is what the caller knows about a staged version.
type StagedVersion struct {
	// Package are the facts of the package it belongs to; Exists is false
	// when the name has no package yet (staging a new name).
	Package Package
	// ByUser: the principal's user staged it.
	ByUser bool
}

// DecideStaged returns nil when p may do a to the staged version s, else a
// fault saying why. A staged version is seen (ViewStaged) by those whose
// credential may read its package's name and who staged it, may write the
// package (its owners, read-write teams, and the owners and admins of its
// scope's organization) or, for a name with no package yet, own or
// administer its scope's organization; to everyone else it does not exist
// (404, never 403). store.StagedList filters a list by the same rule.
// Approving publishes it: it needs what publishing the version directly
// needs (Decide's Publish, or Create for a new name), with a credential
// that may publish directly, never a stage-only token nor a trusted
// publishing (OIDC) token. Rejecting needs a
// credential that may write the package; the user who staged a version may
// always reject it.
func DecideStaged(p *auth.Principal, a StageAction, s StagedVersion) error {
	if a != ViewStaged && a != ApproveStaged && a != RejectStaged {
		return fmt.Errorf("policy: unknown staged-version action %q", a)
	}
	if !p.Authenticated() {
		return auth.ErrAuthRequired()
	}
	pkg := s.Package
	userSees := s.ByUser || (pkg.Exists && pkg.userCanWrite()) || (pkg.Scope != "" && orgAdmin(pkg.OrgRole))
	if !userSees || !credentialReads(p, pkg.Name) {
		return notFound()
	}
	switch a {
	case ViewStaged:
		return nil
	case RejectStaged:
		return credentialWrites(p, Stage, pkg.Name, !pkg.Exists)
	}
	if p.Kind == auth.KindOIDC {
		// Approval is the person's step of staged publishing; a CI job's
		// exchanged token has no person behind it.
		return fault.Forbiddenf("A trusted publishing token cannot approve staged versions: approve with npm login (and your one-time password) or a token that may publish")
	}
	if p.Kind == auth.KindGranular && p.Grants != nil && p.Grants.PackagePerm == auth.ReadWriteStageOnly {
		return fault.Forbiddenf("A stage-only token cannot approve staged versions: approve with npm login (and your one-time password) or a token that may publish")
	}
	if !pkg.Exists {
		return Decide(p, Create, pkg)
	}
	return Decide(p, Publish, pkg)
}
