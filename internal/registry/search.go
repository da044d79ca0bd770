package registry

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/gatehouse-registry/gatehouse/internal/uplink"
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
	// Uplink names the uplink a proxied package's hit comes from, "" for
	// a local package.
	Uplink string
}

// Bounds on a search's text: each word is one more condition on every
// package row.
const (
	maxSearchText  = 1024
	maxSearchWords = 16
)

// Search finds packages p can see whose name, description or keywords match
// text, through what p's credential may read (policy.ReadReach).
func (s *Service) Search(ctx context.Context, p *auth.Principal, text string, from, size int) ([]SearchHit, int, error) {
	if err := s.MayRead(p); err != nil {
		return nil, 0, err
	}
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
	rows, total, err := q.Search(ctx, words, p.UserID, policy.ReadReach(p, s.readAccess), from, size)
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
	if s.proxy != nil {
		hits, total = s.proxy.search(ctx, p, text, from, size, hits, total)
	}
	return hits, total, nil
}

// search adds to the local hits of a search, of which there are total in
// all, the uplinks' results: the local packages come first, then each
// uplink's, in order, so that from and size page across them. An uplink's
// result is left out when it is not that uplink's to serve, is a local
// name, or p may not read it (as the packument would be refused); its
// total counts those left out on the page asked for, not on others. An
// uplink that fails is left out, with a log line.
func (x *proxy) search(ctx context.Context, p *auth.Principal, text string, from, size int, hits []SearchHit, total int) ([]SearchHit, int) {
	if strings.TrimSpace(text) == "" {
		return hits, total
	}
	q := x.s.store.Q()
	start := total // where the uplink's results begin among all
	for _, u := range x.set.All() {
		if u.Offline() {
			continue
		}
		want := size - len(hits)
		ask := max(want, 1) // at least one: the uplink's total is needed
		page, err := u.Search(ctx, text, max(from-start, 0), ask)
		if err != nil {
			x.log.Warn("uplink failed: the search answers without its results", slog.String("uplink", u.Name()), slog.Any("error", err))
			continue
		}
		dropped := 0
		for _, r := range page.Results {
			ok, err := x.searchable(ctx, q, p, u, r.Name)
			if err != nil {
				x.log.Warn("search: checking an uplink's result failed", slog.String("uplink", u.Name()), slog.Any("error", err))
			}
			if !ok {
				dropped++
				continue
			}
			if len(hits) >= size {
				continue
			}
			scope, _ := SplitName(r.Name)
			owners := make([]store.Owner, 0, len(r.Maintainers))
			for _, m := range r.Maintainers {
				owners = append(owners, store.Owner{Name: m.Username, Email: m.Email})
			}
			hits = append(hits, SearchHit{Name: r.Name, Scope: scope, Version: r.Version, Description: r.Description,
				Keywords: r.Keywords, Modified: r.Date, Owners: owners, Uplink: u.Name()})
		}
		n := max(page.Total-dropped, 0)
		start += n
		total += n
	}
	return hits, total
}

// searchable reports whether u's search result name may be shown to p: u
// serves it, it is not local, and p may read it.
func (x *proxy) searchable(ctx context.Context, q store.Queries, p *auth.Principal, u *uplink.Uplink, name string) (bool, error) {
	if x.uplinkFor(name) != u || policy.Decide(p, policy.Read, x.s.uplinkFacts(u, name)) != nil {
		return false, nil
	}
	local, err := x.isLocal(ctx, q, name)
	return err == nil && !local, err
}
