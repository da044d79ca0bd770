package web

import (
	"net/http"
	"strconv"

	"github.com/gatehouse-registry/gatehouse/internal/account"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/throttle"
)

// The password reset page, /-/web/reset/SECRET: the link an administrator
// hands over (admin.PasswordReset). Its owner sets a new password there
// (the password rules of every other form, and a one-time password when
// their 2FA is on), once: the account service keeps the link's hash only,
// until it is used, replaced or expired, and then answers every use of it
// alike. Then they sign in.

type resetView struct {
	UserName string
	NeedOTP  bool
	Error    string
}

// resetPage shows the form to set a new password, or the answer to a link
// that is unknown, used or expired.
func (s *Site) resetPage(w http.ResponseWriter, r *http.Request) {
	info, err := s.accounts.PasswordResetInfo(r.Context(), r.PathValue("secret"))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "reset.html", "Set a new password", resetView{UserName: info.UserName, NeedOTP: info.NeedOTP})
}

// resetPassword sets the new password, under the same per-address limit as
// a sign-in (the one-time password is guessed no faster here), and shows
// the sign-in page.
func (s *Site) resetPassword(w http.ResponseWriter, r *http.Request) {
	secret := r.PathValue("secret")
	info, err := s.accounts.PasswordResetInfo(r.Context(), secret)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	f := r.PostForm
	v := resetView{UserName: info.UserName, NeedOTP: info.NeedOTP}
	if f.Get("password") != f.Get("confirm") {
		v.Error = "The two passwords are not the same."
		s.render(w, r, http.StatusBadRequest, "reset.html", "Set a new password", v)
		return
	}
	ticket, ok, wait := s.limits.SignIns.Take(auth.ClientIP(r.Context()))
	if !ok {
		secs := strconv.Itoa(throttle.RetryAfter(wait))
		w.Header().Set("Retry-After", secs)
		v.Error = "Too many failed attempts from your address; try again in " + secs + " seconds."
		s.render(w, r, http.StatusTooManyRequests, "reset.html", "Set a new password", v)
		return
	}
	u, err := s.accounts.CompletePasswordReset(r.Context(), secret, f.Get("password"), f.Get("otp"))
	if err != nil {
		ticket.Done(account.FailedSignIn(err, f.Get("otp") != ""))
		e, ok := fault.As(err)
		if !ok || e.Kind == fault.Internal || e.Kind == fault.NotFound {
			s.renderError(w, r, err)
			return
		}
		v.Error = e.Message
		if e.Challenge == "OTP" {
			v.NeedOTP = true
			v.Error = "Enter the one-time password from your authenticator app."
		}
		s.render(w, r, e.Kind.Status(), "reset.html", "Set a new password", v)
		return
	}
	ticket.Done(false)
	s.render(w, r, http.StatusOK, "login.html", "Sign in", s.signInView(signInView{Username: u.Name, Next: "/",
		Notice: "Your new password is set. Sign in with it."}))
}
