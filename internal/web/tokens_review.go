package web

import (
	"net/http"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/account"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
)

// tokenPermissionLabel names a permission as the forms do.
func tokenPermissionLabel(p auth.Permission) string {
	switch p {
	case auth.ReadOnly:
		return "Read-only"
	case auth.ReadWrite:
		return "Read and write"
	case auth.ReadWriteStageOnly:
		return "Read and stage"
	}
	return "No access"
}

// tokenReviewView is the summary of a granular token before it is created.
type tokenReviewView struct {
	Base        string
	Form        tokenGranularForm
	ExpiresIn   string // the choice: "30 days" or "Custom"
	Expires     time.Time
	CIDR        []string
	PackagePerm string
	PackagesAll bool
	Packages    []string // packages and @scopes
	OrgPerm     string
	Orgs        []string
	Bypass2FA   bool
	TwoFactor   bool // ask for a one-time password
	Error       string
}

// renderTokenReview shows the review page of the token plan will create.
func (s *Site) renderTokenReview(w http.ResponseWriter, r *http.Request, p *auth.Principal, status int, g tokenGranularForm,
	plan account.TokenInfo, msg string, needOTP bool) {
	on, err := s.tokenTwoFactorOn(r.Context(), p)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	gr := plan.Grants
	v := tokenReviewView{Base: tokensBase(p.UserName), Form: g, CIDR: plan.CIDR,
		PackagePerm: tokenPermissionLabel(gr.PackagePerm), PackagesAll: gr.PackagesAll, OrgPerm: tokenPermissionLabel(gr.OrgPerm),
		Orgs: gr.Orgs, Bypass2FA: plan.Record.Bypass2FA, TwoFactor: on || needOTP, Error: msg}
	v.Packages = append(v.Packages, gr.Packages...)
	for _, sc := range gr.Scopes {
		v.Packages = append(v.Packages, "@"+sc)
	}
	v.Expires = time.UnixMilli(plan.Record.ExpiresAt.Int64)
	v.ExpiresIn = "Custom"
	for _, c := range tokenExpiryChoices {
		if c.Value == g.Expires && c.Value != "custom" {
			v.ExpiresIn = c.Label
		}
	}
	s.render(w, r, status, "tokens_review.html", "Review the new token", v)
}

// createTokenGranular creates the token the review page describes.
func (s *Site) createTokenGranular(w http.ResponseWriter, r *http.Request, p *auth.Principal, g tokenGranularForm) {
	plan, err := s.checkTokenGranular(g)
	if err != nil {
		// The choices no longer pass (a hand-made form): back to the form.
		msg, status, _, ok := s.tokenFormError(w, r, err)
		if ok {
			s.renderTokenGranular(w, r, p, status, g, msg)
		}
		return
	}
	req, _ := g.request()
	// The password is required, and the one-time password with 2FA on, even
	// though the person is signed in: a token outlives the session, so making
	// one confirms it is really them (the safer behaviour, as npm's CLI asks).
	req.Password = r.PostForm.Get("password")
	if !s.firstUse(r.PostForm.Get("once")) {
		s.tokenResubmitted(w, r, p)
		return
	}
	created, err := s.accounts.CreateToken(ctxWithFormOTP(r, "otp"), p, req)
	if err != nil {
		s.release(r.PostForm.Get("once"))
		msg, status, otp, ok := s.tokenFormError(w, r, err)
		if ok {
			s.renderTokenReview(w, r, p, status, g, plan, msg, otp)
		}
		return
	}
	s.tokenCreatedPage(w, r, p, created)
}
