package registry

import (
	"context"
	"strings"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
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

// Search finds packages p can see whose name, description or keywords match text.
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
	var words []string
	for _, w := range strings.Fields(text) {
		if k, v, ok := strings.Cut(w, ":"); ok && (k == "keywords" || k == "keyword") {
			w = v
		}
		if w != "" {
			words = append(words, w)
		}
	}
	q := s.store.Q()
	rows, total, err := q.Search(ctx, words, p.UserID, from, size)
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
