package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse-registry/gatehouse/internal/account"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/sso"
	"github.com/gatehouse-registry/gatehouse/internal/throttle"
)

// ssoCookie holds a single sign-on in progress (sso.Flow, sealed) from its
// start to the provider's callback: HttpOnly, only sent to the callback's
// path, and SameSite=Lax, so that the top-level navigation back from the
// provider carries it and no other site's request does.
const ssoCookie = "gatehouse_sso"

const ssoPath = "/-/web/sso/"

// ssoButton is a provider as the sign-in pages offer it.
type ssoButton struct {
	Name, Title string
}

// ssoButtons lists the configured providers.
func (s *Site) ssoButtons() []ssoButton {
	var out []ssoButton
	for _, p := range s.opts.SSO.Providers() {
		out = append(out, ssoButton{Name: p.Name, Title: p.DisplayName()})
	}
	return out
}

// ssoLink is a provider on the profile page: linked to the account (with
// the email it gave at the last sign-in), or not.
type ssoLink struct {
	ssoButton
	Linked bool
	Email  string
}

// ssoLinks lists the configured providers with p's links to them.
func (s *Site) ssoLinks(ctx context.Context, p *auth.Principal) ([]ssoLink, error) {
	buttons := s.ssoButtons()
	if len(buttons) == 0 {
		return nil, nil
	}
	links, err := s.accounts.SSOLinks(ctx, p)
	if err != nil {
		return nil, err
	}
	out := make([]ssoLink, len(buttons))
	for i, b := range buttons {
		out[i].ssoButton = b
		for _, l := range links {
			if l.Provider == b.Name {
				out[i].Linked, out[i].Email = true, l.Email
			}
		}
	}
	return out, nil
}

// redirectURI is provider name's callback, from the public URL (--url,
// which single sign-on requires): never from the request's Host header.
func (s *Site) redirectURI(name string) string {
	return strings.TrimSuffix(s.opts.BaseURL, "/") + ssoPath + name + "/callback"
}

// ssoStart sends the browser to provider's sign-in: for the website (with
// where to go next), to confirm an npm web login, or to link the signed-in
// account. The flow goes in the browser's cookie.
func (s *Site) ssoStart(w http.ResponseWriter, r *http.Request, name string, f sso.Flow) {
	if _, ok := s.opts.SSO.Provider(name); !ok {
		s.notFound(w, r)
		return
	}
	authURL, sealed, err := s.opts.SSO.Start(r.Context(), name, s.redirectURI(name), f)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: ssoCookie, Value: sealed, Path: ssoPath, HttpOnly: true,
		Secure: s.opts.SecureCookies, SameSite: http.SameSiteLaxMode, MaxAge: int(sso.FlowTTL.Seconds())})
	http.Redirect(w, r, authURL, http.StatusFound)
}

// ssoSignIn starts a website sign-in through a provider: "Sign in with NAME".
func (s *Site) ssoSignIn(w http.ResponseWriter, r *http.Request) {
	s.ssoStart(w, r, r.PathValue("provider"), sso.Flow{Next: safeNext(r.URL.Query().Get("next"))})
}

// ssoWebLogin starts confirming an npm web login through a provider; the
// unguessable id in the path is the capability, as on the confirmation page.
func (s *Site) ssoWebLogin(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("secret")
	info, err := s.accounts.WebAuthInfo(r.Context(), id)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	if info.Kind != account.WebLogin || info.Finished {
		s.render(w, r, http.StatusOK, "confirm.html", "Confirm", confirmView{Info: info, Done: info.Finished,
			Error: "This confirmation needs your password."})
		return
	}
	s.ssoStart(w, r, r.PathValue("provider"), sso.Flow{Login: id})
}

// ssoLink starts linking the signed-in account to a provider (see
// account.Service.LinkSSO).
func (s *Site) ssoLink(w http.ResponseWriter, r *http.Request) {
	p, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	s.ssoStart(w, r, r.PathValue("provider"), sso.Flow{Link: p.UserID, Next: "/settings/" + p.UserName + "/profile"})
}

// ssoCallback is where the provider sends the browser back: the flow in
// the cookie must be this provider's and unexpired, the state its own; the
// code is exchanged and the ID token verified (package sso); then the
// account service decides who this is, and what happens: a website
// session, an npm login confirmed, or a link.
func (s *Site) ssoCallback(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("provider")
	prov, ok := s.opts.SSO.Provider(name)
	if !ok {
		s.notFound(w, r)
		return
	}
	// A flow is used once, whatever happens.
	http.SetCookie(w, &http.Cookie{Name: ssoCookie, Value: "", Path: ssoPath, HttpOnly: true,
		Secure: s.opts.SecureCookies, SameSite: http.SameSiteLaxMode, MaxAge: -1})
	ticket, ok, wait := s.limits.SignIns.Take(auth.ClientIP(r.Context()))
	if !ok {
		secs := strconv.Itoa(throttle.RetryAfter(wait))
		w.Header().Set("Retry-After", secs)
		s.renderError(w, r, &fault.Error{Kind: fault.Locked, Message: "Too many failed sign-ins from your address; try again in " + secs + " seconds."})
		return
	}
	ctx := r.Context()
	var sealed string
	if c, err := r.Cookie(ssoCookie); err == nil {
		sealed = c.Value
	}
	f, err := s.opts.SSO.Open(name, sealed)
	var id sso.Identity
	if err == nil {
		q := r.URL.Query()
		id, err = s.opts.SSO.Finish(ctx, f, s.redirectURI(name), q.Get("state"), q.Get("code"), q.Get("error"))
	}
	way := "sign in"
	switch {
	case f.Login != "":
		way = "npm web login"
	case f.Link != 0:
		way = "link"
	}
	if err != nil {
		s.accounts.RefusedSSO(ctx, prov, way, err)
		ticket.Done(fault.Is(err, fault.Unauthorized))
		s.ssoFailed(w, r, prov, err)
		return
	}
	switch {
	case f.Login != "":
		err = s.accounts.CompleteWebAuthSSO(ctx, f.Login, prov, id)
		if err == nil {
			ticket.Done(false)
			info, _ := s.accounts.WebAuthInfo(ctx, f.Login)
			s.render(w, r, http.StatusOK, "confirm.html", "Confirm", confirmView{Info: info, Done: true})
			return
		}
	case f.Link != 0:
		p := auth.FromContext(ctx)
		if !p.Authenticated() || p.UserID != f.Link {
			err = fault.Forbiddenf("Sign in to the account to link first, then link %s from your profile page", prov.DisplayName())
			break
		}
		err = s.accounts.LinkSSO(ctx, p, prov, id)
		if err == nil {
			ticket.Done(false)
			http.Redirect(w, r, safeNext(f.Next), http.StatusSeeOther)
			return
		}
	default:
		var res account.LoginResult
		res, err = s.accounts.SignInSSO(ctx, prov, id, "website")
		if err == nil {
			ticket.Done(false)
			s.setSession(w, res.Token)
			http.Redirect(w, r, safeNext(f.Next), http.StatusSeeOther)
			return
		}
	}
	ticket.Done(fault.Is(err, fault.Unauthorized))
	s.ssoFailed(w, r, prov, err)
}

// ssoFailed shows why a single sign-on failed, on the sign-in page.
func (s *Site) ssoFailed(w http.ResponseWriter, r *http.Request, prov sso.Provider, err error) {
	e, ok := fault.As(err)
	if !ok || e.Kind == fault.Internal {
		s.renderError(w, r, err)
		return
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	s.log.InfoContext(r.Context(), "single sign-on refused", "provider", prov.Name, "error", err.Error())
	s.render(w, r, e.Kind.Status(), "login.html", "Sign in", s.signInView(signInView{Error: e.Message, Next: "/"}))
}
