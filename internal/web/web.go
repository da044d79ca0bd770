// Package web is gatehouse's website, served by the same binary: server-rendered
// HTML, a little plain JavaScript, assets embedded. People sign up and in,
// manage access tokens (the seed's Access Tokens pages), two-factor
// authentication, packages and organizations, and confirm what the npm CLI
// hands to a browser (web login, web OTP). Every permission is decided by the
// same services and policy as the npm API.
package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	template "github.com/DataDog/datadog-agent/pkg/template/html"

	"github.com/gatehouse-registry/gatehouse/internal/account"
	"github.com/gatehouse-registry/gatehouse/internal/admin"
	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/hook"
	"github.com/gatehouse-registry/gatehouse/internal/org"
	"github.com/gatehouse-registry/gatehouse/internal/registry"
	"github.com/gatehouse-registry/gatehouse/internal/sso"
	"github.com/gatehouse-registry/gatehouse/internal/throttle"
	"github.com/gatehouse-registry/gatehouse/internal/token"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Cookie names.
const (
	sessionCookie = "gatehouse_session"
	csrfCookie    = "gatehouse_csrf"
	csrfField     = "csrf"
)

// Options configure the website.
type Options struct {
	// SecureCookies marks cookies Secure (the site is served over https).
	SecureCookies bool
	// BaseURL is the public URL, for the npm commands pages show; empty means the request's own.
	BaseURL string
	// Limits are the per-address limits, shared with the npm API; the zero
	// value means throttle.DefaultLimits.
	Limits throttle.Limits
	// SSO is the single sign-on relying party: the providers the sign-in
	// pages offer; nil offers none.
	SSO *sso.Relying
	// CSRFKey derives each form's CSRF token from the session (or, signed
	// out, from a random cookie), so that a token works for that session
	// only; at least 32 bytes from the server key. Nil makes a random one.
	CSRFKey []byte
	// Admin is site administration, for the admin section; nil leaves the
	// section out (every path of it is a page that does not exist).
	Admin *admin.Service
	// Hooks are the webhooks, for the Webhooks page; nil leaves it out.
	Hooks *hook.Service
	// Audit is the audit log, for the security log and the admin section's
	// audit page; nil leaves them out.
	Audit *audit.Log
}

// Site is the website's pages: Routes lists them for the route table.
type Site struct {
	accounts *account.Service
	registry *registry.Service
	orgs     *org.Service
	authn    *auth.Authenticator
	format   token.Format
	log      *slog.Logger
	opts     Options
	pages    map[string]*template.Template
	limits   throttle.Limits
	used     *usedOnce
	assets   staticAssets
}

// New returns the website.
func New(accounts *account.Service, reg *registry.Service, orgs *org.Service, authn *auth.Authenticator,
	format token.Format, log *slog.Logger, opts Options) *Site {
	assets, err := loadStaticAssets()
	if err != nil {
		panic(err)
	}
	if opts.Limits == (throttle.Limits{}) {
		opts.Limits = throttle.DefaultLimits()
	}
	if len(opts.CSRFKey) == 0 {
		opts.CSRFKey = make([]byte, 32)
		_, _ = rand.Read(opts.CSRFKey)
	}
	return &Site{accounts: accounts, registry: reg, orgs: orgs, authn: authn, format: format, log: log, opts: opts,
		pages: parsePages(assets), limits: opts.Limits, used: &usedOnce{seen: map[string]time.Time{}},
		assets: assets}
}

// parsePages parses each page with the shared layout. The templates are
// html/template's, from a copy of it that cannot call methods (a template
// reads fields, map keys and the functions below): the standard one calls
// methods by name through reflection, which makes Go's linker keep every
// exported method of every type in the binary, 3.5 MB of it
// (docs/benchmarks.md, "The whole binary"). What a page needs from a
// method goes through a function here.
func parsePages(assets staticAssets) map[string]*template.Template {
	funcs := template.FuncMap{
		"asset": assets.url,
		"join":  strings.Join,
		"date":  func(t time.Time) string { return t.UTC().Format("2006-01-02") },
		"datetime": func(t time.Time) string {
			return t.UTC().Format("2006-01-02 15:04 UTC")
		},
		"clock":       func(t time.Time) string { return t.UTC().Format("15:04:05 UTC, 2006-01-02") },
		"rfc3339":     func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"known":       func(t time.Time) bool { return !t.IsZero() },
		"millis":      func(ms int64) time.Time { return time.UnixMilli(ms) },
		"validAddr":   func(a netip.Addr) bool { return a.IsValid() },
		"adminForm":   adminFormOf,
		"actionWords": func(a audit.Action) string { return a.Words() },
		"eventsOf":    func(rows []eventRow) eventsView { return eventsView{Events: rows} },
	}
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		panic(err)
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimPrefix(n, "templates/")
		if base == "layout.html" {
			continue
		}
		t := template.Must(template.New(base).Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", n))
		pages[base] = t
	}
	return pages
}

// page wraps a page's handler in what every page does first: security
// headers, the signed-in user from the session cookie, and a CSRF check on
// every POST.
func (s *Site) page(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { s.prepare(w, r, next) }
}

func (s *Site) prepare(w http.ResponseWriter, r *http.Request, next http.HandlerFunc) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if !strings.HasPrefix(r.URL.Path, "/-/web/static/") {
		h.Set("Cache-Control", "no-store")
	}
	ctx := r.Context()
	session := ""
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		p, err := s.authn.Bearer(ctx, c.Value, auth.ClientIP(ctx))
		switch {
		case err == nil && p.Kind == auth.KindSession:
			ctx = auth.WithPrincipal(ctx, p)
			session = c.Value
		case fault.Is(err, fault.Forbidden):
			// The account was disabled. Nothing is deleted: the session
			// works again once the account is enabled, so the cookie
			// stays, and every page says why it is refused, but those
			// where another person signs in, or out, here (and the
			// static files), which go on signed out.
			switch r.URL.Path {
			case "/login", "/logout", "/signup":
			default:
				if !strings.HasPrefix(r.URL.Path, staticPrefix) {
					s.renderError(w, r.WithContext(ctx), err)
					return
				}
			}
		default:
			s.clearSession(w)
		}
	}
	r = r.WithContext(ctx)
	csrf := s.csrfToken(w, r, session)
	if r.Method == http.MethodPost && !strings.HasPrefix(r.URL.Path, "/-/web/login/") {
		r.Body = http.MaxBytesReader(w, r.Body, 256<<10)
		if err := r.ParseForm(); err != nil || subtle.ConstantTimeCompare([]byte(r.PostForm.Get(csrfField)), []byte(csrf)) != 1 {
			s.renderError(w, r, fault.Forbiddenf("The form expired or came from another site; reload the page and try again."))
			return
		}
	}
	next(w, r)
}

// notFound answers a path of the website where no page is.
func (s *Site) notFound(w http.ResponseWriter, r *http.Request) {
	s.renderError(w, r, fault.NotFoundf("There is no page here."))
}

// csrfToken returns the CSRF token the request's forms carry, and that a
// POST must send back. It is derived, with the server's CSRF key, from what
// identifies the browser: the session token when signed in, and otherwise a
// random cookie of its own (set here if missing), so that the forms before
// sign-in (sign-in, sign-up) are protected too. A token is good for that
// session alone: another session's, or one from before signing in, is
// refused. It travels to render in a request header.
func (s *Site) csrfToken(w http.ResponseWriter, r *http.Request, session string) string {
	binding := "session:" + session
	if session == "" {
		c, err := r.Cookie(csrfCookie)
		if err != nil || len(c.Value) < 32 {
			c = &http.Cookie{Name: csrfCookie, Value: randomValue(), Path: "/", HttpOnly: true,
				Secure: s.opts.SecureCookies, SameSite: http.SameSiteStrictMode}
			http.SetCookie(w, c)
		}
		binding = "browser:" + c.Value
	}
	m := hmac.New(sha256.New, s.opts.CSRFKey)
	m.Write([]byte(binding))
	v := base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	r.Header.Set("X-Gatehouse-CSRF", v)
	return v
}

func (s *Site) setSession(w http.ResponseWriter, tok string) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: tok, Path: "/", HttpOnly: true, Secure: s.opts.SecureCookies,
		SameSite: http.SameSiteLaxMode, MaxAge: int(s.accounts.SessionTTL().Seconds())})
}

func (s *Site) clearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true, Secure: s.opts.SecureCookies,
		SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// View is what every page template gets: the page's own data in Data.
type View struct {
	Title string
	User  *auth.Principal // nil when signed out
	CSRF  string
	// Once is a fresh random value for forms that must not be submitted
	// twice (a reload resending a token-creating form): see Site.firstUse.
	Once  string
	Flash string
	Data  any
	// SearchBox is false on a page with a search box of its own (the
	// search page), where the top bar leaves its box out.
	SearchBox bool
}

// ownSearchBox is page data whose page shows a search box of its own.
type ownSearchBox interface{ showsSearchBox() }

func (s *Site) render(w http.ResponseWriter, r *http.Request, status int, page, title string, data any) {
	t, ok := s.pages[page]
	if !ok {
		s.log.ErrorContext(r.Context(), "unknown page", slog.String("page", page))
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	v := View{Title: title, CSRF: r.Header.Get("X-Gatehouse-CSRF"), Once: randomValue(), Data: data, SearchBox: true}
	if _, own := data.(ownSearchBox); own {
		v.SearchBox = false
	}
	if p := auth.FromContext(r.Context()); p.Authenticated() {
		v.User = p
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := t.ExecuteTemplate(w, page, v); err != nil {
		s.log.ErrorContext(r.Context(), "render page", slog.String("page", page), slog.Any("error", err))
	}
}

// renderError shows a fault's message with its status; internal errors are
// logged and shown without detail.
func (s *Site) renderError(w http.ResponseWriter, r *http.Request, err error) {
	e, ok := fault.As(err)
	if !ok || e.Kind == fault.Internal {
		// No path: some carry a secret (a confirmation id). The request's
		// access log line, with the same request_id, has it redacted.
		s.log.ErrorContext(r.Context(), "page failed", slog.Any("error", err))
		s.render(w, r, http.StatusInternalServerError, "error.html", "Error", "Something went wrong on our side.")
		return
	}
	s.render(w, r, e.Kind.Status(), "error.html", "Error", e.Message)
}

func (s *Site) now() time.Time { return time.Now() }

// requireUser returns the signed-in user, or redirects to the sign-in page.
func (s *Site) requireUser(w http.ResponseWriter, r *http.Request) (*auth.Principal, bool) {
	p := auth.FromContext(r.Context())
	if !p.Authenticated() {
		s.toSignIn(w, r)
		return nil, false
	}
	return p, true
}

// toSignIn redirects to the sign-in page, which comes back to r's page.
func (s *Site) toSignIn(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
}

// randomValue is 32 random bytes, URL-safe.
func randomValue() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// usedOnce remembers the Once values of forms already submitted, for an hour,
// so a reload that resends a form does not act twice.
type usedOnce struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

// release forgets once again, after the form it came with failed (a wrong
// password, say), so correcting and resending that form works.
func (s *Site) release(once string) {
	s.used.mu.Lock()
	delete(s.used.seen, once)
	s.used.mu.Unlock()
}

// firstUse reports whether once is a well-formed value not submitted before,
// and records it.
func (s *Site) firstUse(once string) bool {
	if len(once) < 32 {
		return false
	}
	u := s.used
	now := s.now()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) > 100_000 {
		for k, at := range u.seen {
			if now.Sub(at) > time.Hour {
				delete(u.seen, k)
			}
		}
	}
	if _, ok := u.seen[once]; ok {
		return false
	}
	u.seen[once] = now
	return true
}

// ownSettingsUser returns the signed-in user when the {user} of the path is
// them: signed out, it redirects to sign in; anyone else's settings are
// answered as a page that does not exist.
func (s *Site) ownSettingsUser(w http.ResponseWriter, r *http.Request) (*auth.Principal, bool) {
	p, ok := s.signedInForForm(w, r)
	if !ok {
		return nil, false
	}
	if r.PathValue("user") != p.UserName {
		s.notFound(w, r)
		return nil, false
	}
	return p, true
}

// signedInForForm is requireUser for pages and the forms they post: a form
// posted while signed out (the session expired) sends the person to sign in
// and then home, since its address is no page to come back to.
func (s *Site) signedInForForm(w http.ResponseWriter, r *http.Request) (*auth.Principal, bool) {
	if r.Method == http.MethodPost && !auth.FromContext(r.Context()).Authenticated() {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return nil, false
	}
	return s.requireUser(w, r)
}

// faultForForm turns a service error into a message to show beside a form and
// its status. Internal errors are rendered as the error page instead, and
// ok is false.
func (s *Site) faultForForm(w http.ResponseWriter, r *http.Request, err error) (msg string, status int, ok bool) {
	e, isFault := fault.As(err)
	if !isFault || e.Kind == fault.Internal {
		s.renderError(w, r, err)
		return "", 0, false
	}
	return e.Message, e.Kind.Status(), true
}

// ctxWithFormOTP returns the request's context carrying the one-time password the
// form named field holds, if any.
func ctxWithFormOTP(r *http.Request, field string) context.Context {
	if otp := strings.TrimSpace(r.PostForm.Get(field)); otp != "" {
		return auth.WithOTP(r.Context(), otp)
	}
	return r.Context()
}
