package registry

import (
	"context"
	"strings"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// SearchHit is one search result.
type SearchHit struct {
	Name        string
	Scope       string
	Version     string
	Description string
	Keywords    []string
	Modified    time.Time
	Owners      []store.Owner
}

// Bounds on a search's text: each word is one more condition on every
// package row.
const (
	maxSearchText  = 1024
	maxSearchWords = 16
)

// Search finds packages p can see whose name, description or keywords match
// text, through what p's credential may read (policy.CredentialReach).
func (s *Service) Search(ctx context.Context, p *auth.Principal, text string, from, size int) ([]SearchHit, int, error) {
	if size <= 0 {
		size = 20
	}
	if size > 250 {
		size = 250
	}
	if from < 0 {
		from = 0
	}
	if len(text) > maxSearchText {
		return nil, 0, fault.Invalidf("the search text is longer than %d bytes", maxSearchText)
	}
	var words []string
	for _, w := range strings.Fields(text) {
		if k, v, ok := strings.Cut(w, ":"); ok && (k == "keywords" || k == "keyword") {
			w = v
		}
		if w != "" {
			words = append(words, w)
		}
	}
	if len(words) > maxSearchWords {
		return nil, 0, fault.Invalidf("a search takes at most %d words, got %d", maxSearchWords, len(words))
	}
	q := s.store.Q()
	rows, total, err := q.Search(ctx, words, p.UserID, policy.CredentialReach(p), from, size)
	if err != nil {
		return nil, 0, err
	}
	hits := make([]SearchHit, 0, len(rows))
	for _, r := range rows {
		owners, err := q.Owners(ctx, r.ID)
		if err != nil {
			return nil, 0, err
		}
		hits = append(hits, SearchHit{Name: r.Name, Scope: r.Scope, Version: r.Version, Description: r.Description,
			Keywords: strings.Fields(r.Keywords), Modified: time.UnixMilli(r.ModifiedAt), Owners: owners})
	}
	return hits, total, nil
}
