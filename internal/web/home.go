package web

import (
	"net/http"
	"sort"
	"strings"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/registry"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// homeListMax bounds each list of the home page.
const homeListMax = 10

// homeView is the home page: how to point npm here, and for a signed-in
// person what they care about.
type homeView struct {
	RegistryURL string // with its trailing slash
	Register    bool   // people may sign up (npm adduser, the sign-up page)
	Packages    []homePackage
	AllPackages int // how many packages the user has, listed or not
	Orgs        []store.Membership
	Recent      []registry.Published
}

// homePackage is one of the user's packages and their permission on it.
type homePackage struct{ Name, Permission string }

// home is the start page. Every list on it is what the visitor may read
// (policy.Listed, the credential included): their packages, their
// organizations, and the packages published last.
func (s *Site) home(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := auth.FromContext(ctx)
	v := homeView{RegistryURL: s.registryURL(r), Register: s.accounts.Registration() == nil}
	var err error
	if v.Recent, err = s.registry.RecentlyPublished(ctx, p, homeListMax); err != nil {
		s.renderError(w, r, err)
		return
	}
	if p.Authenticated() {
		mine, err := s.orgs.UserPackages(ctx, p, p.UserName)
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		v.AllPackages = len(mine)
		for name, perm := range mine {
			v.Packages = append(v.Packages, homePackage{Name: name, Permission: perm})
		}
		sort.Slice(v.Packages, func(i, j int) bool { return v.Packages[i].Name < v.Packages[j].Name })
		v.Packages = v.Packages[:min(len(v.Packages), homeListMax)]
		if v.Orgs, err = s.orgs.Memberships(ctx, p); err != nil {
			s.renderError(w, r, err)
			return
		}
	}
	s.render(w, r, http.StatusOK, "home.html", "gatehouse", v)
}

// registryURL is the address npm is pointed at: the configured public URL,
// or the one this request came to.
func (s *Site) registryURL(r *http.Request) string {
	if s.opts.BaseURL != "" {
		return strings.TrimRight(s.opts.BaseURL, "/") + "/"
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/"
}
