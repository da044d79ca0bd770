// Package web is gatehouse's website: server-rendered pages for what the npm
// CLI hands to a browser. For now that is the page that confirms a CLI web
// login (npm login --auth-type=web) or a two-factor challenge answered in the
// browser.
package web

import (
	"embed"
	"html/template"
	"log/slog"
	"net/http"

	"github.com/gatehouse-registry/gatehouse/internal/account"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

//go:embed templates/*.html
var templateFiles embed.FS

// Site serves the website's pages.
type Site struct {
	accounts *account.Service
	log      *slog.Logger
	pages    *template.Template
	mux      *http.ServeMux
}

// New returns the website handler.
func New(accounts *account.Service, log *slog.Logger) *Site {
	s := &Site{
		accounts: accounts,
		log:      log,
		pages:    template.Must(template.ParseFS(templateFiles, "templates/*.html")),
		mux:      http.NewServeMux(),
	}
	s.mux.HandleFunc("GET /-/web/login/{id}", s.confirmPage)
	s.mux.HandleFunc("POST /-/web/login/{id}", s.confirm)
	return s
}

// ServeHTTP serves a page with the site's security headers.
func (s *Site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	s.mux.ServeHTTP(w, r)
}

type confirmView struct {
	Info     account.WebAuthInfo
	Username string
	NeedOTP  bool
	Error    string
	Done     bool
}

func (s *Site) render(w http.ResponseWriter, status int, name string, v any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := s.pages.ExecuteTemplate(w, name, v); err != nil {
		s.log.Error("render page", slog.String("page", name), slog.Any("error", err))
	}
}

func (s *Site) confirmPage(w http.ResponseWriter, r *http.Request) {
	info, err := s.accounts.WebAuthInfo(r.Context(), r.PathValue("id"))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.render(w, http.StatusOK, "confirm.html", confirmView{Info: info, Username: info.UserName,
		NeedOTP: info.Kind == account.WebOTP, Done: info.Finished})
}

func (s *Site) confirm(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	info, err := s.accounts.WebAuthInfo(r.Context(), id)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		s.render(w, http.StatusBadRequest, "confirm.html", confirmView{Info: info, Error: "The form could not be read."})
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
		status := http.StatusBadRequest
		switch e.Kind {
		case fault.Unauthorized:
			status = http.StatusUnauthorized
		case fault.Locked:
			status = http.StatusTooManyRequests
		case fault.Conflict:
			v.Done, v.Error = true, ""
			status = http.StatusOK
		}
		s.render(w, status, "confirm.html", v)
		return
	}
	s.render(w, http.StatusOK, "confirm.html", confirmView{Info: info, Done: true})
}

func (s *Site) renderError(w http.ResponseWriter, r *http.Request, err error) {
	e, ok := fault.As(err)
	if !ok || e.Kind == fault.Internal {
		s.log.ErrorContext(r.Context(), "page failed", slog.String("path", r.URL.Path), slog.Any("error", err))
		s.render(w, http.StatusInternalServerError, "error.html", "Something went wrong on our side.")
		return
	}
	status := http.StatusBadRequest
	if e.Kind == fault.NotFound {
		status = http.StatusNotFound
	}
	s.render(w, status, "error.html", e.Message)
}
