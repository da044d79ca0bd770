package web

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/registry"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// stagedPerPage is how many staged versions a page of the Staged page shows.
const stagedPerPage = 50

// stagedRow is one staged version as the Staged page shows it.
type stagedRow struct {
	ID, Name, Version, Tags, Actor, ActorType string
	Created                                   time.Time
	Provenance                                bool
}

// stagedView is the Staged page: the staged versions the user may see,
// all of them or one package's, with approve and reject forms.
type stagedView struct {
	Base     string // the page's address, without the query
	Package  string // the package filter, "" for all
	Rows     []stagedRow
	Total    int
	Page     int
	Prev     string // links to the neighbouring pages, "" when none
	Next     string
	OTP      bool // the approve form asks for a one-time password
	RejectOT bool // the reject form asks for one
	Notice   string
	Error    string
}

func stagedBase(user string) string { return "/settings/" + user + "/staged" }

// stagedPage serves GET /settings/:user/staged[?package=NAME&page=N]: the
// user's Staged page, or one package's.
func (s *Site) stagedPage(w http.ResponseWriter, r *http.Request) {
	p, ok := s.ownSettingsUser(w, r)
	if !ok {
		return
	}
	notice := ""
	switch {
	case r.URL.Query().Has("approved"):
		notice = "The staged version was approved and published."
	case r.URL.Query().Has("rejected"):
		notice = "The staged version was rejected."
	}
	s.renderStaged(w, r, p, http.StatusOK, notice, "")
}

func (s *Site) renderStaged(w http.ResponseWriter, r *http.Request, p *auth.Principal, status int, notice, msg string) {
	query := r.URL.Query()
	page, _ := strconv.Atoi(query.Get("page"))
	page = max(page, 0)
	pkg := query.Get("package")
	rows, total, err := s.registry.StagedList(r.Context(), p, registry.StagedQuery{Package: pkg, Page: page, PerPage: stagedPerPage})
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	approveOTP, err := s.accounts.NeedsOTP(r.Context(), p, policy.OTPApprove)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	rejectOTP, err := s.accounts.NeedsOTP(r.Context(), p, policy.OTPPackageWrite)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v := stagedView{Base: stagedBase(p.UserName), Package: pkg, Total: total, Page: page, OTP: approveOTP,
		RejectOT: rejectOTP, Notice: notice, Error: msg}
	link := func(n int) string {
		q := url.Values{}
		if pkg != "" {
			q.Set("package", pkg)
		}
		q.Set("page", strconv.Itoa(n))
		return v.Base + "?" + q.Encode()
	}
	if page > 0 {
		v.Prev = link(page - 1)
	}
	if (page+1)*stagedPerPage < total {
		v.Next = link(page + 1)
	}
	for _, st := range rows {
		v.Rows = append(v.Rows, stagedRowOf(st))
	}
	title := "Staged versions"
	if pkg != "" {
		title = "Staged versions of " + pkg
	}
	s.render(w, r, status, "staged.html", title, v)
}

func stagedRowOf(st store.Staged) stagedRow {
	var tags map[string]string
	_ = json.Unmarshal(st.Tags, &tags)
	names := ""
	for t := range tags {
		if names != "" {
			names += ", "
		}
		names += t
	}
	return stagedRow{ID: st.ID, Name: st.Name, Version: st.Version, Tags: names, Actor: st.ActorName,
		ActorType: st.ActorType, Created: time.UnixMilli(st.CreatedAt), Provenance: st.Provenance != nil}
}

// approveStaged serves POST /settings/:user/staged/:id/approve: the user's
// password (a stolen session alone cannot publish) and, with 2FA on, a
// one-time password, then the approval (registry.Service.Approve).
func (s *Site) approveStaged(w http.ResponseWriter, r *http.Request) {
	p, ok := s.ownSettingsUser(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if _, err := s.registry.Staged(r.Context(), p, id); err != nil {
		s.renderError(w, r, err)
		return
	}
	err := s.accounts.ConfirmPassword(r.Context(), p, r.PostForm.Get("password"))
	if err == nil {
		err = s.registry.Approve(ctxWithFormOTP(r, "otp"), p, id)
	}
	if err != nil {
		if msg, status, ok := s.faultForForm(w, r, err); ok {
			s.renderStaged(w, r, p, status, "", msg)
		}
		return
	}
	s.log.InfoContext(r.Context(), "staged version approved", slog.String("user", p.UserName), slog.String("id", id),
		slog.String("via", "website"))
	http.Redirect(w, r, stagedBase(p.UserName)+"?approved", http.StatusSeeOther)
}

// rejectStaged serves POST /settings/:user/staged/:id/reject.
func (s *Site) rejectStaged(w http.ResponseWriter, r *http.Request) {
	p, ok := s.ownSettingsUser(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if _, err := s.registry.Staged(r.Context(), p, id); err != nil {
		s.renderError(w, r, err)
		return
	}
	if err := s.registry.Reject(ctxWithFormOTP(r, "otp"), p, id); err != nil {
		if msg, status, ok := s.faultForForm(w, r, err); ok {
			s.renderStaged(w, r, p, status, "", msg)
		}
		return
	}
	s.log.InfoContext(r.Context(), "staged version rejected", slog.String("user", p.UserName), slog.String("id", id),
		slog.String("via", "website"))
	http.Redirect(w, r, stagedBase(p.UserName)+"?rejected", http.StatusSeeOther)
}
