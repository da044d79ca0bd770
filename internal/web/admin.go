package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/admin"
	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// The admin section: the accounts (a list, searchable and paged, and a page
// per account with the administrator's actions), the audit log, and "Add me
// as owner" on a package's page. package admin does the work and
// policy.DecideAdmin decides who may: to anyone it refuses as NotFound
// (everyone but administrators, signed in or not) the section is the page
// that does not exist, the same as any other path nothing serves.
//
// Every change asks the administrator's password again, and a one-time
// password when they have 2FA, as a new token does, and each form is sent
// once (a reload does not act twice).

// adminPrincipal returns the signed-in administrator who may do a, or
// answers: the page that does not exist to everyone policy refuses so,
// and the refusal's message to an administrator with the wrong credential.
func (s *Site) adminPrincipal(w http.ResponseWriter, r *http.Request, a policy.AdminAction) (*auth.Principal, bool) {
	p := auth.FromContext(r.Context())
	if s.opts.Admin == nil || s.opts.Audit == nil {
		s.notFound(w, r)
		return nil, false
	}
	if err := policy.DecideAdmin(p, a); err != nil {
		if fault.Is(err, fault.NotFound) {
			s.notFound(w, r)
		} else {
			s.renderError(w, r, err)
		}
		return nil, false
	}
	return p, true
}

// adminUserRow is an account as the admin pages show it.
type adminUserRow struct {
	Name, Email         string
	Created, LastSignIn time.Time
	SignedIn            bool // LastSignIn is set
	TFA, Admin          bool
	Disabled            bool
	DisabledAt          time.Time
	Reenroll            bool // must enable 2FA again
	URL                 string
}

func adminUserRowOf(u store.UserSummary) adminUserRow {
	return adminUserRow{Name: u.Name, Email: u.Email, Created: time.UnixMilli(u.CreatedAt),
		LastSignIn: time.UnixMilli(u.LastSignInAt), SignedIn: u.LastSignInAt != 0, TFA: u.TFA, Admin: u.Admin,
		Disabled: u.Disabled(), DisabledAt: time.UnixMilli(u.DisabledAt), Reenroll: u.TFAReenroll,
		URL: adminUserURL(u.Name)}
}

func adminUserURL(name string) string { return "/admin/users/" + url.PathEscape(name) }

// adminUsersView is the list of accounts.
type adminUsersView struct {
	Search string
	Users  []adminUserRow
	Total  int
	// Next and First are the addresses of the next page and the first.
	Next, First string
	Notice      string
}

// adminUsersPage lists the accounts, searched by name or email, by name.
func (s *Site) adminUsersPage(w http.ResponseWriter, r *http.Request) {
	p, ok := s.adminPrincipal(w, r, policy.AdminRead)
	if !ok {
		return
	}
	q := r.URL.Query()
	v, err := s.adminUsers(r, p, q.Get("q"), q.Get("after"))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "admin_users.html", "Users", v)
}

func (s *Site) adminUsers(r *http.Request, p *auth.Principal, search, after string) (adminUsersView, error) {
	search = strings.TrimSpace(search)
	page, err := s.opts.Admin.Users(r.Context(), p, search, after, admin.DefaultPerPage)
	if err != nil {
		return adminUsersView{}, err
	}
	v := adminUsersView{Search: search, Total: page.Total}
	for _, u := range page.Users {
		v.Users = append(v.Users, adminUserRowOf(u))
	}
	link := func(after string) string {
		q := url.Values{}
		if search != "" {
			q.Set("q", search)
		}
		if after != "" {
			q.Set("after", after)
		}
		if len(q) == 0 {
			return "/admin/users"
		}
		return "/admin/users?" + q.Encode()
	}
	if page.Next != "" {
		v.Next = link(page.Next)
	}
	if after != "" {
		v.First = link("")
	}
	return v, nil
}

// adminUserView is an account's page: what it is, its latest events, and
// the administrator's forms.
type adminUserView struct {
	User    adminUserRow
	Self    bool // the administrator's own account
	NeedOTP bool // the forms ask for a one-time password
	Events  []eventRow
	// EventsURL is the audit page of the account's events.
	EventsURL string
	Heir      string
	Notice    string
	Error     string
	// Reset is a password reset link just made: shown in this answer only.
	Reset        string
	ResetExpires time.Time
}

// adminForm is one action's form on an account's page (the template
// adminaction).
type adminForm struct {
	User, Action, Label, Hint, Class string
	CSRF, Once                       string
	NeedOTP                          bool
}

// adminFormOf fills an action's form in for the page v (an account's page).
func adminFormOf(v View, user, action, label, hint, class string) adminForm {
	d, _ := v.Data.(adminUserView)
	return adminForm{User: user, Action: action, Label: label, Hint: hint, Class: class, CSRF: v.CSRF, Once: v.Once,
		NeedOTP: d.NeedOTP}
}

// adminUserEvents is how many of an account's latest events its page shows.
const adminUserEvents = 10

// adminUserData reads the named account's page for p.
func (s *Site) adminUserData(r *http.Request, p *auth.Principal, name string) (adminUserView, error) {
	ctx := r.Context()
	u, err := s.opts.Admin.User(ctx, p, name)
	if err != nil {
		return adminUserView{}, err
	}
	v := adminUserView{User: adminUserRowOf(u), Self: u.ID == p.UserID,
		EventsURL: "/admin/audit?" + url.Values{"user": {u.Name}}.Encode()}
	if v.NeedOTP, err = s.accounts.NeedsOTP(ctx, p, policy.OTPAdmin); err != nil {
		return adminUserView{}, err
	}
	page, err := s.opts.Audit.AdminLog(ctx, p, audit.Filter{User: u.Name}, 0, adminUserEvents)
	if err != nil {
		return adminUserView{}, err
	}
	v.Events = eventRows(page.Events, 0)
	return v, nil
}

// adminUserPage shows an account to an administrator.
func (s *Site) adminUserPage(w http.ResponseWriter, r *http.Request) {
	p, ok := s.adminPrincipal(w, r, policy.AdminRead)
	if !ok {
		return
	}
	v, err := s.adminUserData(r, p, r.PathValue("user"))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "admin_user.html", v.User.Name, v)
}

// adminUserAction does one of the administrator's actions on an account,
// named by the last part of the path: disable, enable, reset-password,
// reset-2fa, revoke-tokens, promote, demote, delete. The service refuses
// what may not be done (an administrator's own account disabled, a package
// left without owners) with a message shown above the forms.
func (s *Site) adminUserAction(w http.ResponseWriter, r *http.Request) {
	p, ok := s.adminPrincipal(w, r, policy.AdminChange)
	if !ok {
		return
	}
	name, action := r.PathValue("user"), r.PathValue("action")
	f := r.PostForm
	c := admin.Confirm{Password: f.Get("password")}
	ctx := ctxWithFormOTP(r, "otp")
	once := f.Get("once")
	if action == "delete" {
		s.adminDeleteUser(w, r, p, name, once)
		return
	}
	if !slices.Contains([]string{"disable", "enable", "promote", "demote", "reset-2fa", "revoke-tokens", "reset-password"}, action) {
		s.notFound(w, r)
		return
	}
	if !s.firstUse(once) {
		s.adminUserAnswer(w, r, p, name, http.StatusConflict, func(v *adminUserView) {
			v.Error = "This form was already sent, so nothing was done again."
		})
		return
	}
	notice, reset, err := s.adminChange(ctx, p, c, name, action)
	if err != nil {
		s.release(once)
		s.adminRefused(w, r, p, name, err, func(*adminUserView) {})
		return
	}
	s.adminUserAnswer(w, r, p, name, http.StatusOK, func(v *adminUserView) {
		v.Notice = notice
		if reset.Secret != "" {
			v.Reset = strings.TrimSuffix(s.registryURL(r), "/") + reset.Path()
			v.ResetExpires = reset.Expires
		}
	})
}

// adminChange does the action (one of adminUserAction's but delete) on the
// named account, and says what was done.
func (s *Site) adminChange(ctx context.Context, p *auth.Principal, c admin.Confirm, name, action string) (
	notice string, reset admin.PasswordReset, err error) {
	svc := s.opts.Admin
	switch action {
	case "disable":
		return name + " is disabled: their sessions and tokens are refused, and they cannot sign in.", reset,
			svc.SetDisabled(ctx, p, c, name, true)
	case "enable":
		return name + " is enabled again.", reset, svc.SetDisabled(ctx, p, c, name, false)
	case "promote":
		return name + " is an administrator now.", reset, svc.SetAdmin(ctx, p, c, name, true)
	case "demote":
		return name + " is no longer an administrator.", reset, svc.SetAdmin(ctx, p, c, name, false)
	case "reset-2fa":
		return name + "'s two-factor authentication is off: they must enable it again before any write or new token.",
			reset, svc.ResetTFA(ctx, p, c, name)
	case "revoke-tokens":
		n, err := svc.RevokeTokens(ctx, p, c, name)
		return fmt.Sprintf("Revoked %d token(s) and session(s) of %s.", n, name), reset, err
	case "reset-password":
		reset, err = svc.ResetPassword(ctx, p, c, name)
		return name + "'s password no longer works and their sessions ended.", reset, err
	}
	return "", reset, fmt.Errorf("admin action %q", action)
}

// adminRefused shows the account's page again with the service's refusal
// above the forms (and the one-time password field when it asked for one),
// with its status; set adds what the form had (the heir).
func (s *Site) adminRefused(w http.ResponseWriter, r *http.Request, p *auth.Principal, name string, err error,
	set func(v *adminUserView)) {
	msg, status, ok := s.faultForForm(w, r, err)
	if !ok {
		return
	}
	s.adminUserAnswer(w, r, p, name, status, func(v *adminUserView) {
		v.Error = msg
		if e, _ := fault.As(err); e != nil && e.Challenge == "OTP" {
			v.NeedOTP = true
			v.Error = "Enter the one-time password from your authenticator app with your password."
		}
		set(v)
	})
}

// adminUserAnswer shows the account's page again after a form, as set
// changes it (a notice, an error).
func (s *Site) adminUserAnswer(w http.ResponseWriter, r *http.Request, p *auth.Principal, name string, status int,
	set func(v *adminUserView)) {
	v, err := s.adminUserData(r, p, name)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	set(&v)
	s.render(w, r, status, "admin_user.html", v.User.Name, v)
}

// adminDeleteUser deletes an account, its packages going to the heir the
// form names (a user or an organization); the list of accounts says what
// was handed over.
func (s *Site) adminDeleteUser(w http.ResponseWriter, r *http.Request, p *auth.Principal, name, once string) {
	heir := strings.TrimSpace(r.PostForm.Get("heir"))
	if !s.firstUse(once) {
		s.adminUserAnswer(w, r, p, name, http.StatusConflict, func(v *adminUserView) {
			v.Error, v.Heir = "This form was already sent, so nothing was done again.", heir
		})
		return
	}
	if r.PostForm.Get("confirm") != name {
		s.release(once)
		s.adminUserAnswer(w, r, p, name, http.StatusBadRequest, func(v *adminUserView) {
			v.Error, v.Heir = "Type the account's name to confirm that it is to be deleted.", heir
		})
		return
	}
	d, err := s.opts.Admin.DeleteUser(ctxWithFormOTP(r, "otp"), p, admin.Confirm{Password: r.PostForm.Get("password")}, name, heir)
	if err != nil {
		s.release(once)
		s.adminRefused(w, r, p, name, err, func(v *adminUserView) { v.Heir = heir })
		return
	}
	v, err := s.adminUsers(r, p, "", "")
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v.Notice = "Deleted " + d.User + "."
	if len(d.HandedOver) > 0 {
		v.Notice += fmt.Sprintf(" %s now own %s.", strings.Join(d.Heirs, ", "), strings.Join(d.HandedOver, ", "))
	}
	s.render(w, r, http.StatusOK, "admin_users.html", "Users", v)
}

// adminAuditView is the audit page: its filter and a page of events.
type adminAuditView struct {
	Page                                eventsView
	User, Action, Outcome, Since, Until string
	// Areas and Actions are the action filter's choices: every action of an
	// area ("token."), or one.
	Areas   []string
	Actions []audit.Action
	Error   string
}

// auditAreas are the areas of the actions, as the action filter offers them.
func auditAreas() []string {
	var areas []string
	for _, a := range audit.Actions() {
		area, _, _ := strings.Cut(string(a), ".")
		if !slices.Contains(areas, area+".") {
			areas = append(areas, area+".")
		}
	}
	return areas
}

// adminAuditPage shows the whole audit log to an administrator, filtered by
// user, action (or area, "token."), outcome and time, newest first.
func (s *Site) adminAuditPage(w http.ResponseWriter, r *http.Request) {
	p, ok := s.adminPrincipal(w, r, policy.AuditRead)
	if !ok {
		return
	}
	q := r.URL.Query()
	v := adminAuditView{User: q.Get("user"), Action: q.Get("action"), Outcome: q.Get("outcome"),
		Since: q.Get("since"), Until: q.Get("until"), Areas: auditAreas(), Actions: audit.Actions()}
	show := func(err error) {
		msg, status, ok := s.faultForForm(w, r, err)
		if !ok {
			return
		}
		v.Error = msg
		s.render(w, r, status, "admin_audit.html", "Audit log", v)
	}
	f, err := audit.ParseFilter(q.Get, s.now())
	if err != nil {
		show(err)
		return
	}
	before, err := cursorParam(r)
	if err != nil {
		show(err)
		return
	}
	page, err := s.opts.Audit.AdminLog(r.Context(), p, f, before, audit.DefaultPerPage)
	if err != nil {
		show(err)
		return
	}
	v.Page.Events, v.Page.Total = eventRows(page.Events, 0), page.Total
	link := func(before int64) string {
		l := url.Values{}
		for _, k := range []string{"user", "action", "outcome", "since", "until"} {
			if val := q.Get(k); val != "" {
				l.Set(k, val)
			}
		}
		if before != 0 {
			l.Set("before", strconv.FormatInt(before, 10))
		}
		if len(l) == 0 {
			return "/admin/audit"
		}
		return "/admin/audit?" + l.Encode()
	}
	if page.Next != 0 {
		v.Page.Next = link(page.Next)
	}
	if before != 0 {
		v.Page.First = link(0)
	}
	s.render(w, r, http.StatusOK, "admin_audit.html", "Audit log", v)
}

// adminAddOwner is "Add me as owner" on a package's page: the administrator
// becomes an owner of a package that is not theirs, recorded in the audit
// log as admin.owner_add. Back on the package page, they are one of its
// owners.
func (s *Site) adminAddOwner(w http.ResponseWriter, r *http.Request) {
	p, ok := s.adminPrincipal(w, r, policy.AdminChange)
	if !ok {
		return
	}
	pkg := strings.TrimSpace(r.PostForm.Get("package"))
	err := s.opts.Admin.AddOwner(ctxWithFormOTP(r, "otp"), p, admin.Confirm{Password: r.PostForm.Get("password")}, pkg, p.UserName)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	http.Redirect(w, r, "/package/"+pkg, http.StatusSeeOther)
}
