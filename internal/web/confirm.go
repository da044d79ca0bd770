package web

import (
	"net/http"

	"github.com/gatehouse-registry/gatehouse/internal/account"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

type confirmView struct {
	Info     account.WebAuthInfo
	Username string
	NeedOTP  bool
	Error    string
	Done     bool
}

// confirmPage is where the npm CLI sends a person: a web login
// (npm login --auth-type=web) or a two-factor challenge answered in the
// browser. The unguessable id in the URL is the capability; the form needs
// no CSRF token of its own.
func (s *Site) confirmPage(w http.ResponseWriter, r *http.Request) {
	info, err := s.accounts.WebAuthInfo(r.Context(), r.PathValue("secret"))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "confirm.html", "Confirm", confirmView{Info: info, Username: info.UserName,
		NeedOTP: info.Kind == account.WebOTP, Done: info.Finished})
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
	username := r.PostForm.Get("username")
	if info.UserName != "" {
		username = info.UserName
	}
	err = s.accounts.CompleteWebAuth(r.Context(), id, username, r.PostForm.Get("password"), r.PostForm.Get("otp"))
	if err != nil {
		e, ok := fault.As(err)
		if !ok || e.Kind == fault.Internal {
			s.renderError(w, r, err)
			return
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
		s.render(w, r, status, "confirm.html", "Confirm", v)
		return
	}
	s.render(w, r, http.StatusOK, "confirm.html", "Confirm", confirmView{Info: info, Done: true})
}
