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
	NoPassword  bool // a recent single sign-on stands in for the password (docs/sso.md)
	Error       string
}

// renderTokenReview shows the review page of the token plan will create.
func (s *Site) renderTokenReview(w http.ResponseWriter, r *http.Request, p *auth.Principal, status int, g tokenGranularForm,
	plan account.TokenInfo, msg string, needOTP bool) {
	on, err := s.tokenNeedsOTP(r.Context(), p)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	gr := plan.Grants
	v := tokenReviewView{Base: tokensBase(p.UserName), Form: g, CIDR: plan.CIDR,
		PackagePerm: tokenPermissionLabel(gr.PackagePerm), PackagesAll: gr.PackagesAll, OrgPerm: tokenPermissionLabel(gr.OrgPerm),
		Orgs: gr.Orgs, Bypass2FA: plan.Record.Bypass2FA, TwoFactor: on || needOTP, Error: msg}
	if v.NoPassword, err = s.accounts.PasswordOptional(r.Context(), p); err != nil {
		s.renderError(w, r, err)
		return
	}
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
	// Choices that no longer pass (a hand-made form) go back to the form.
	plan, ok := s.checkTokenGranular(w, r, p, g)
	if !ok {
		return
	}
	req, _ := g.request()
	req.Password = r.PostForm.Get("password")
	s.createToken(w, r, p, req, func(msg string, status int, otp bool) {
		s.renderTokenReview(w, r, p, status, g, plan, msg, otp)
	})
}
