package web

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/hook"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// The Webhooks page (docs/webhooks.md): the user's hooks, a form to add
// one, each hook's last deliveries with a redeliver button, and removal.
// The hook service decides who may do what.

// hooksView is the Webhooks page.
type hooksView struct {
	Base   string
	Hooks  []hookRow
	Events []string
	Notice string
	Error  string
	// Form keeps what was typed when adding failed (never the secret).
	Form struct{ Type, Name, Endpoint string }
}

// hookRow is one hook and its last deliveries.
type hookRow struct {
	hook.Hook
	Deliveries []store.HookDelivery
}

func hooksBase(user string) string { return "/settings/" + user + "/hooks" }

// hooksPage serves GET /settings/:user/hooks.
func (s *Site) hooksPage(w http.ResponseWriter, r *http.Request) {
	_, ok := s.ownSettingsUser(w, r)
	if !ok {
		return
	}
	notice := ""
	switch {
	case r.URL.Query().Has("added"):
		notice = "The webhook was added. Its secret is not shown again."
	case r.URL.Query().Has("removed"):
		notice = "The webhook was removed."
	case r.URL.Query().Has("redelivered"):
		notice = "The event was queued for delivery again."
	}
	s.renderHooks(w, r, http.StatusOK, hooksView{Notice: notice})
}

func (s *Site) renderHooks(w http.ResponseWriter, r *http.Request, status int, v hooksView) {
	if s.opts.Hooks == nil {
		s.notFound(w, r)
		return
	}
	p := auth.FromContext(r.Context())
	list, _, err := s.opts.Hooks.List(r.Context(), p, hook.ListOptions{})
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v.Base, v.Events = hooksBase(p.UserName), hook.Events()
	for _, h := range list {
		ds, err := s.opts.Hooks.Deliveries(r.Context(), p, h.ID)
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		if len(ds) > 10 {
			ds = ds[:10]
		}
		v.Hooks = append(v.Hooks, hookRow{Hook: h, Deliveries: ds})
	}
	s.render(w, r, status, "hooks.html", "Webhooks", v)
}

// hooksUser is ownSettingsUser for the Webhooks forms: without webhooks
// the page does not exist.
func (s *Site) hooksUser(w http.ResponseWriter, r *http.Request) (*auth.Principal, bool) {
	p, ok := s.ownSettingsUser(w, r)
	if ok && s.opts.Hooks == nil {
		s.notFound(w, r)
		return nil, false
	}
	return p, ok
}

// addHook serves POST /settings/:user/hooks.
func (s *Site) addHook(w http.ResponseWriter, r *http.Request) {
	p, ok := s.hooksUser(w, r)
	if !ok {
		return
	}
	f := r.PostForm
	req := hook.Request{Type: f.Get("type"), Name: strings.TrimSpace(f.Get("name")),
		Endpoint: strings.TrimSpace(f.Get("endpoint")), Secret: f.Get("secret"), Events: f["events"]}
	h, err := s.opts.Hooks.Create(r.Context(), p, req)
	if err != nil {
		if msg, status, ok := s.faultForForm(w, r, err); ok {
			v := hooksView{Error: msg}
			v.Form.Type, v.Form.Name, v.Form.Endpoint = req.Type, req.Name, req.Endpoint
			s.renderHooks(w, r, status, v)
		}
		return
	}
	s.log.InfoContext(r.Context(), "hook added", slog.String("user", p.UserName), slog.String("hook", h.ID),
		slog.String("via", "website"))
	http.Redirect(w, r, hooksBase(p.UserName)+"?added", http.StatusSeeOther)
}

// removeHook serves POST /settings/:user/hooks/:id/delete.
func (s *Site) removeHook(w http.ResponseWriter, r *http.Request) {
	p, ok := s.hooksUser(w, r)
	if !ok {
		return
	}
	if _, err := s.opts.Hooks.Delete(r.Context(), p, r.PathValue("id")); err != nil {
		s.renderError(w, r, err)
		return
	}
	http.Redirect(w, r, hooksBase(p.UserName)+"?removed", http.StatusSeeOther)
}

// redeliverHook serves POST /settings/:user/hooks/:id/deliveries/:delivery/redeliver.
func (s *Site) redeliverHook(w http.ResponseWriter, r *http.Request) {
	p, ok := s.hooksUser(w, r)
	if !ok {
		return
	}
	did, err := strconv.ParseInt(r.PathValue("delivery"), 10, 64)
	if err != nil {
		s.notFound(w, r)
		return
	}
	if _, err := s.opts.Hooks.Redeliver(r.Context(), p, r.PathValue("id"), did); err != nil {
		s.renderError(w, r, err)
		return
	}
	http.Redirect(w, r, hooksBase(p.UserName)+"?redelivered", http.StatusSeeOther)
}

// adminHooksView is the administrators' Webhooks page: every account's hooks.
type adminHooksView struct {
	Hooks      []hook.Hook
	Total      int
	Prev, Next string
}

// adminHooksPerPage is how many hooks a page of /admin/hooks shows.
const adminHooksPerPage = 100

// adminHooksPage serves GET /admin/hooks[?page=N]: every account's webhooks
// (who made each, what it watches, its endpoint, its last delivery), for
// administrators; to everyone else the page does not exist.
func (s *Site) adminHooksPage(w http.ResponseWriter, r *http.Request) {
	p, ok := s.adminPrincipal(w, r, policy.AdminRead)
	if !ok {
		return
	}
	if s.opts.Hooks == nil {
		s.notFound(w, r)
		return
	}
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	page = max(page, 0)
	list, total, err := s.opts.Hooks.List(r.Context(), p, hook.ListOptions{All: true, Limit: adminHooksPerPage,
		Offset: page * adminHooksPerPage})
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v := adminHooksView{Hooks: list, Total: total}
	if page > 0 {
		v.Prev = "/admin/hooks?page=" + strconv.Itoa(page-1)
	}
	if (page+1)*adminHooksPerPage < total {
		v.Next = "/admin/hooks?page=" + strconv.Itoa(page+1)
	}
	s.render(w, r, http.StatusOK, "admin_hooks.html", "Webhooks (administration)", v)
}
