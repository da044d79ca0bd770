package registry

import (
	"context"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// maxRecent bounds the recently published list.
const maxRecent = 50

// Published is a package of the recently published list.
type Published struct {
	Name        string
	Description string
	Version     string // the version published last
	At          time.Time
	Restricted  bool
}

// RecentlyPublished lists up to n packages (at most 50) that p may read,
// the one with the newest version first. Every entry is one p could open:
// policy.Listed decides, the credential included.
func (s *Service) RecentlyPublished(ctx context.Context, p *auth.Principal, n int) ([]Published, error) {
	if err := s.MayRead(p); err != nil {
		return nil, err
	}
	n = min(n, maxRecent)
	rows, err := s.store.Q().RecentlyPublished(ctx, p.UserID, n)
	if err != nil {
		return nil, err
	}
	out := make([]Published, 0, len(rows))
	for _, r := range rows {
		f := listedFacts(r.ListedPackage)
		f.ReadAccess = s.readAccess
		if !policy.Listed(p, f) {
			continue
		}
		out = append(out, Published{Name: r.Name, Description: r.Description, Version: r.Version,
			At: time.UnixMilli(r.PublishedAt), Restricted: r.Access == store.Restricted})
	}
	return out, nil
}

// listedFacts is what policy knows of a listed package for its viewer, as
// a read of the package gathers it.
func listedFacts(l store.ListedPackage) policy.Package {
	return policy.Package{Name: l.Name, Scope: l.Scope, Exists: true, Restricted: l.Access == store.Restricted,
		UserIsOwner: l.Viewer.Owner, OrgRole: l.Viewer.OrgRole, TeamPermission: l.Viewer.TeamPermission}
}
