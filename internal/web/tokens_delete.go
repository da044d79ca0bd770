package web

import (
	"log/slog"
	"net/http"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
)

// tokenDeleteView is the confirmation before a token is deleted.
type tokenDeleteView struct {
	Base      string
	Token     tokenRow
	TwoFactor bool
	Error     string
}

// renderTokenDelete shows the confirmation page of token key.
func (s *Site) renderTokenDelete(w http.ResponseWriter, r *http.Request, p *auth.Principal, status int, msg string, needOTP bool) {
	info, err := s.accounts.TokenByKey(r.Context(), p, r.PathValue("key"))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	on, err := s.tokenNeedsOTP(r.Context(), p)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v := tokenDeleteView{Base: tokensBase(p.UserName), Token: tokenRowOf(info, s.now()), TwoFactor: on || needOTP, Error: msg}
	s.render(w, r, status, "tokens_delete.html", "Delete token", v)
}

// deleteTokenPage asks for confirmation before a token is deleted.
func (s *Site) deleteTokenPage(w http.ResponseWriter, r *http.Request) {
	p, ok := s.ownSettingsUser(w, r)
	if !ok {
		return
	}
	s.renderTokenDelete(w, r, p, http.StatusOK, "", false)
}

// deleteToken revokes a token (sessions have their own button), with the
// one-time password that 2FA asks of token changes.
func (s *Site) deleteToken(w http.ResponseWriter, r *http.Request) {
	p, ok := s.ownSettingsUser(w, r)
	if !ok {
		return
	}
	key := r.PathValue("key")
	if _, err := s.accounts.TokenByKey(r.Context(), p, key); err != nil {
		s.renderError(w, r, err)
		return
	}
	rec, err := s.accounts.RevokeToken(ctxWithFormOTP(r, "otp"), p, key)
	if err != nil {
		msg, status, otp, ok := s.tokenFormError(w, r, err)
		if ok {
			s.renderTokenDelete(w, r, p, status, msg, otp)
		}
		return
	}
	s.log.InfoContext(r.Context(), "token revoked", slog.String("user", p.UserName), slog.String("key", rec.Key),
		slog.String("via", "website"))
	http.Redirect(w, r, tokensBase(p.UserName)+"?deleted", http.StatusSeeOther)
}
