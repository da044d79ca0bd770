package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gatehouse-registry/gatehouse/internal/account"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/throttle"
)

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// safeNext keeps a post-sign-in redirect on this site: next must be a path
// of this site, starting with exactly one "/", that parses with no scheme,
// host or user, and holds nothing but printable ASCII other than a
// backslash (browsers read "\" as "/", and drop tabs and newlines, which
// turned "/\evil.example/" and "/\t/evil.example/" into other sites).
// Anything else sends the person home.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		return "/"
	}
	for i := 0; i < len(next); i++ {
		if c := next[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return "/"
	}
	return next
}

type signInView struct {
	Username string
	NeedOTP  bool
	Error    string
	Next     string
	Register bool
	Notice   string
	// Providers are the single sign-on providers ("Sign in with NAME");
	// SSOOnly says passwords are for administrators only.
	Providers []ssoButton
	SSOOnly   bool
}

// signInView completes v with what every sign-in page shows.
func (s *Site) signInView(v signInView) signInView {
	v.Register = s.accounts.Registration() == nil
	v.Providers, v.SSOOnly = s.ssoButtons(), s.accounts.SSOOnly()
	return v
}

func (s *Site) loginPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "login.html", "Sign in", s.signInView(signInView{Next: safeNext(r.URL.Query().Get("next"))}))
}

// login signs in with the username, password and, with 2FA on, a one-time
// password; attempts are limited per client address and per user.
func (s *Site) login(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	v := s.signInView(signInView{Username: strings.TrimSpace(f.Get("username")), Next: safeNext(f.Get("next"))})
	ticket, ok, wait := s.limits.SignIns.Take(auth.ClientIP(r.Context()))
	if !ok {
		v.Error = "Too many failed sign-ins from your address; try again in " + strconv.Itoa(throttle.RetryAfter(wait)) + " seconds."
		w.Header().Set("Retry-After", strconv.Itoa(throttle.RetryAfter(wait)))
		s.render(w, r, http.StatusTooManyRequests, "login.html", "Sign in", v)
		return
	}
	ctx := r.Context()
	if otp := strings.TrimSpace(f.Get("otp")); otp != "" {
		ctx = auth.WithOTP(ctx, otp)
	}
	res, err := s.accounts.SignIn(ctx, v.Username, f.Get("password"), "website")
	if err != nil {
		ticket.Done(account.FailedSignIn(err, auth.OTP(ctx) != ""))
		e, ok := fault.As(err)
		if !ok || e.Kind == fault.Internal {
			s.renderError(w, r, err)
			return
		}
		v.Error = e.Message
		if e.Challenge == "OTP" {
			v.NeedOTP = true
			v.Error = "Enter your password again with the one-time password from your authenticator app."
			if f.Get("otp") != "" {
				v.Error = "That one-time password is not valid; try the current one."
			}
		}
		if e.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
		}
		s.render(w, r, e.Kind.Status(), "login.html", "Sign in", v)
		return
	}
	ticket.Done(false)
	s.setSession(w, res.Token)
	if res.User.TFAReenroll {
		// An administrator reset their 2FA: no write or new token until
		// they enable it again, so that is where they go first.
		http.Redirect(w, r, "/settings/"+url.PathEscape(res.User.Name)+"/2fa?reenroll=1", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, v.Next, http.StatusSeeOther)
}

type signUpView struct {
	Username, Email string
	Error           string
}

// signupPage shows the sign-up form while policy lets people sign up.
func (s *Site) signupPage(w http.ResponseWriter, r *http.Request) {
	if err := s.accounts.Registration(); err != nil {
		s.renderError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "signup.html", "Create account", signUpView{})
}

// signup creates an account and signs it in. The account service applies
// the registration policy and the password rules; the website adds that an
// email is required.
func (s *Site) signup(w http.ResponseWriter, r *http.Request) {
	if err := s.accounts.Registration(); err != nil {
		s.renderError(w, r, err)
		return
	}
	f := r.PostForm
	v := signUpView{Username: strings.TrimSpace(f.Get("username")), Email: strings.TrimSpace(f.Get("email"))}
	if ok, wait := s.limits.SignUps.Spend(auth.ClientIP(r.Context())); !ok {
		v.Error = "Too many attempts from your address; try again in " + strconv.Itoa(throttle.RetryAfter(wait)) + " seconds."
		w.Header().Set("Retry-After", strconv.Itoa(throttle.RetryAfter(wait)))
		s.render(w, r, http.StatusTooManyRequests, "signup.html", "Create account", v)
		return
	}
	if v.Email == "" {
		v.Error = "Email is required"
	} else if err := account.ValidateEmail(v.Email); err != nil {
		v.Error = err.Error()
	}
	if v.Error != "" {
		s.render(w, r, http.StatusBadRequest, "signup.html", "Create account", v)
		return
	}
	u, err := s.accounts.CreateUser(r.Context(), policy.SelfRegistration, v.Username, v.Email, f.Get("password"))
	if err == nil {
		var res account.LoginResult
		res, err = s.accounts.SignIn(r.Context(), u.Name, f.Get("password"), "website")
		if err == nil {
			s.setSession(w, res.Token)
			http.Redirect(w, r, "/settings/"+u.Name+"/tokens", http.StatusSeeOther)
			return
		}
	}
	e, ok := fault.As(err)
	if !ok || e.Kind == fault.Internal {
		s.renderError(w, r, err)
		return
	}
	v.Error = e.Message
	s.render(w, r, e.Kind.Status(), "signup.html", "Create account", v)
}

// logout revokes the website session and clears the cookie.
func (s *Site) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if p := auth.FromContext(r.Context()); p.Authenticated() {
			_ = s.accounts.Logout(r.Context(), p, c.Value)
		}
	}
	s.clearSession(w)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// settings sends the signed-in user to their Access Tokens page.
func (s *Site) settings(w http.ResponseWriter, r *http.Request) {
	p, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	http.Redirect(w, r, "/settings/"+p.UserName+"/tokens", http.StatusSeeOther)
}
