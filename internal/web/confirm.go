package web

import (
	"crypto/subtle"
	"net/http"
	"strconv"

	"github.com/gatehouse-registry/gatehouse/internal/account"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/throttle"
)

type confirmView struct {
	Info     account.WebAuthInfo
	Username string
	NeedOTP  bool
	Error    string
	Done     bool
	// Continue offers "Continue as NAME" to the signed-in person (an npm
	// login started from this browser's address); ContinueOTP asks for their
	// one-time password with it.
	Continue    string
	ContinueOTP bool
	// Elsewhere is set for a signed-in person shown a login started from
	// another address: they confirm with the password, if at all.
	Elsewhere bool
	// Providers offer confirming a web login through single sign-on;
	// LoginID is the confirmation's id, for their links.
	Providers []ssoButton
	LoginID   string
	SSOOnly   bool
	// SSOElsewhere warns, beside the providers' buttons, that the login was
	// not started from this browser's address: a provider that signs its
	// people in without asking would sign whoever started it in as them.
	SSOElsewhere bool
}

// withSSO completes v, for the confirmation id, with the single sign-on
// providers a web login may be confirmed through.
func (s *Site) withSSO(r *http.Request, v confirmView, id string) confirmView {
	if v.Info.Kind == account.WebLogin && !v.Done {
		v.Providers, v.LoginID, v.SSOOnly = s.ssoButtons(), id, s.accounts.SSOOnly()
		here := auth.ClientIP(r.Context())
		v.SSOElsewhere = len(v.Providers) > 0 && (!here.IsValid() || !v.Info.StartedFrom.IsValid() ||
			here.Unmap() != v.Info.StartedFrom.Unmap())
	}
	return v
}

// continueAction is the form value of the "Continue as NAME" button.
const continueAction = "continue"

// confirmPage is where the npm CLI sends a person: a web login
// (npm login --auth-type=web) or a two-factor challenge answered in the
// browser. The unguessable id in the URL is the capability for the password
// form, which needs no CSRF token of its own; "Continue as NAME", which acts
// on the browser's session instead, does (see continueWebLogin).
func (s *Site) confirmPage(w http.ResponseWriter, r *http.Request) {
	info, err := s.accounts.WebAuthInfo(r.Context(), r.PathValue("secret"))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v := confirmView{Info: info, Username: info.UserName, NeedOTP: info.Kind == account.WebOTP, Done: info.Finished}
	if err := s.offerContinue(r, &v); err != nil {
		s.renderError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "confirm.html", "Confirm", s.withSSO(r, v, r.PathValue("secret")))
}

// offerContinue fills in what the page offers a signed-in person: policy
// decides whether they may continue without the password, and whether an
// OTP goes with it.
func (s *Site) offerContinue(r *http.Request, v *confirmView) error {
	p := auth.FromContext(r.Context())
	if v.Done || v.Info.Kind != account.WebLogin || !p.Authenticated() {
		return nil
	}
	if err := policy.DecideContinueWebLogin(p, v.Info.StartedFrom); err != nil {
		v.Elsewhere = true
		return nil
	}
	need, err := s.accounts.NeedsOTP(r.Context(), p, policy.OTPLogin)
	if err != nil {
		return err
	}
	v.Continue, v.ContinueOTP = p.UserName, v.ContinueOTP || need
	return nil
}

func (s *Site) confirm(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("secret")
	info, err := s.accounts.WebAuthInfo(r.Context(), id)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		s.render(w, r, http.StatusBadRequest, "confirm.html", "Confirm", confirmView{Info: info, Error: "The form could not be read."})
		return
	}
	if r.PostForm.Get("action") == continueAction {
		s.continueWebLogin(w, r, id, info)
		return
	}
	username := r.PostForm.Get("username")
	if info.UserName != "" {
		username = info.UserName
	}
	ticket, ok, wait := s.limits.SignIns.Take(auth.ClientIP(r.Context()))
	if !ok {
		secs := strconv.Itoa(throttle.RetryAfter(wait))
		w.Header().Set("Retry-After", secs)
		s.render(w, r, http.StatusTooManyRequests, "confirm.html", "Confirm", confirmView{Info: info, Username: username,
			NeedOTP: info.Kind == account.WebOTP, Error: "Too many failed sign-ins from your address; try again in " + secs + " seconds."})
		return
	}
	err = s.accounts.CompleteWebAuth(r.Context(), id, username, r.PostForm.Get("password"), r.PostForm.Get("otp"))
	if err != nil {
		e, ok := fault.As(err)
		ticket.Done(account.FailedSignIn(err, r.PostForm.Get("otp") != ""))
		if !ok || e.Kind == fault.Internal {
			s.renderError(w, r, err)
			return
		}
		if e.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
		}
		v := confirmView{Info: info, Username: username, Error: e.Message, NeedOTP: info.Kind == account.WebOTP}
		if e.Challenge == "OTP" {
			v.NeedOTP = true
			v.Error = "Enter the one-time password from your authenticator app."
		}
		status := e.Kind.Status()
		if e.Kind == fault.Conflict {
			v.Done, v.Error, status = true, "", http.StatusOK
		}
		if err := s.offerContinue(r, &v); err != nil {
			s.renderError(w, r, err)
			return
		}
		s.render(w, r, status, "confirm.html", "Confirm", s.withSSO(r, v, id))
		return
	}
	ticket.Done(false)
	s.render(w, r, http.StatusOK, "confirm.html", "Confirm", confirmView{Info: info, Done: true})
}

// continueWebLogin confirms an npm login as the browser's signed-in person:
// "Continue as NAME". It acts on the session cookie, so it needs what every
// other form of the site needs: the CSRF token of this browser's own page
// (a form on another site cannot have it) and, where the browser says, a
// same-origin request. The page it came from showed the command, when and
// where it was started; policy lets only a login started from this
// browser's address be confirmed so.
func (s *Site) continueWebLogin(w http.ResponseWriter, r *http.Request, id string, info account.WebAuthInfo) {
	csrf := r.Header.Get("X-Gatehouse-CSRF")
	site := r.Header.Get("Sec-Fetch-Site")
	if subtle.ConstantTimeCompare([]byte(r.PostForm.Get(csrfField)), []byte(csrf)) != 1 || (site != "" && site != "same-origin") {
		s.renderError(w, r, fault.Forbiddenf("The form expired or came from another site; reload the page and try again."))
		return
	}
	p := auth.FromContext(r.Context())
	err := s.accounts.ContinueWebAuth(ctxWithFormOTP(r, "otp"), id, p)
	if err == nil {
		s.render(w, r, http.StatusOK, "confirm.html", "Confirm", confirmView{Info: info, Done: true})
		return
	}
	e, ok := fault.As(err)
	if !ok || e.Kind == fault.Internal {
		s.renderError(w, r, err)
		return
	}
	v := confirmView{Info: info, Error: e.Message}
	status := e.Kind.Status()
	switch {
	case e.Kind == fault.Conflict:
		v.Done, v.Error, status = true, "", http.StatusOK
	case e.Challenge == "OTP":
		v.ContinueOTP = true
		v.Error = "Enter the one-time password from your authenticator app."
	}
	if err := s.offerContinue(r, &v); err != nil {
		s.renderError(w, r, err)
		return
	}
	s.render(w, r, status, "confirm.html", "Confirm", v)
}
