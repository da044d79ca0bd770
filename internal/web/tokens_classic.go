package web

import (
	"context"
	"net/http"
	"strings"

	"github.com/gatehouse-registry/gatehouse/internal/account"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
)

// tokenClassicType is one kind of classic token, with the seed's explanation.
type tokenClassicType struct{ Value, Label, Hint string }

var tokenClassicTypes = []tokenClassicType{
	{"read-only", "Read-only", "A read-only token can only be used to download packages from the registry. " +
		"It will have permission to read any private package that you have access to. This is recommended for " +
		"automation and workflows where you are installing packages, but not publishing new ones."},
	{"automation", "Automation", "An automation token can download packages and publish new ones, but if you " +
		"have two-factor authentication (2FA) configured on your account, it will not be enforced. You can use an " +
		"automation token in continuous integration workflows and other automation systems to publish a package " +
		"even when you cannot enter a one-time passcode."},
	{"publish", "Publish", "A publish token can perform any action on your behalf, including downloading " +
		"packages, publishing packages, and changing user settings or package settings. If you have two-factor " +
		"authentication configured on your account, you will be required to enter a one-time passcode when using " +
		"a publish token. This is recommended for interactive workflows such as a CLI."},
}

// tokenClassicView is the classic token form.
type tokenClassicView struct {
	Base      string
	Name      string
	Type      string
	Types     []tokenClassicType
	TwoFactor bool // ask for a one-time password
	// NoPassword: the person signs in through single sign-on, and a recent
	// sign-in stands in for the password (docs/sso.md).
	NoPassword bool
	Disabled   string // why classic tokens cannot be created, if they cannot
	Error      string
}

// tokenClassicData is the classic token form for p, empty, with Read-only chosen.
func (s *Site) tokenClassicData(ctx context.Context, p *auth.Principal) (tokenClassicView, error) {
	v := tokenClassicView{Base: tokensBase(p.UserName), Type: "read-only", Types: tokenClassicTypes}
	on, err := s.tokenNeedsOTP(ctx, p)
	if err != nil {
		return v, err
	}
	v.TwoFactor = on
	if v.NoPassword, err = s.accounts.PasswordOptional(ctx, p); err != nil {
		return v, err
	}
	if !s.accounts.TokenPolicy().LegacyTokens {
		ro := true
		if err := s.accounts.CheckTokenRequest(account.TokenRequest{ReadOnly: &ro}); err != nil {
			v.Disabled = err.Error()
		}
	}
	return v, nil
}

// classicTokenForm starts both classic token handlers: the page's owner,
// signed in, and the empty form; ok is false when the answer has been given
// already (a sign-in page, an error page).
func (s *Site) classicTokenForm(w http.ResponseWriter, r *http.Request) (*auth.Principal, tokenClassicView, bool) {
	p, ok := s.ownSettingsUser(w, r)
	if !ok {
		return nil, tokenClassicView{}, false
	}
	v, err := s.tokenClassicData(r.Context(), p)
	if err != nil {
		s.renderError(w, r, err)
		return nil, v, false
	}
	return p, v, true
}

// classicTokenPage shows the classic token form.
func (s *Site) classicTokenPage(w http.ResponseWriter, r *http.Request) {
	if _, v, ok := s.classicTokenForm(w, r); ok {
		s.render(w, r, http.StatusOK, "tokens_classic.html", "New classic token", v)
	}
}

// createClassicToken creates a read-only, automation or publish token.
func (s *Site) createClassicToken(w http.ResponseWriter, r *http.Request) {
	p, v, ok := s.classicTokenForm(w, r)
	if !ok {
		return
	}
	f := r.PostForm
	v.Name, v.Type = strings.TrimSpace(f.Get("name")), f.Get("type")
	req := account.TokenRequest{Password: f.Get("password")}
	yes, no := true, false
	switch v.Type {
	case "read-only":
		req.ReadOnly = &yes
	case "automation":
		req.Automation = &yes
	case "publish":
		req.ReadOnly = &no
	default:
		v.Type, v.Error = "", "Select the type of access token: Read-only, Automation or Publish."
		s.render(w, r, http.StatusBadRequest, "tokens_classic.html", "New classic token", v)
		return
	}
	if v.Name != "" {
		req.Name = &v.Name
	}
	s.createToken(w, r, p, req, func(msg string, status int, otp bool) {
		v.Error, v.TwoFactor = msg, v.TwoFactor || otp
		s.render(w, r, status, "tokens_classic.html", "New classic token", v)
	})
}
