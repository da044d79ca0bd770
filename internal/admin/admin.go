// Package admin is site administration: what an administrator does to
// accounts other than their own, and to packages they do not own. They list
// the accounts, disable and enable them (a disabled account's every
// credential and sign-in is refused at once, on every node; nothing is
// deleted), reset a password (a link to hand over) or 2FA (its owner must
// enable it again), revoke every token of an account, delete one (its
// packages go to heirs, never left without an owner), promote and demote
// administrators, and add an owner (themself included) to any package.
//
// policy.DecideAdmin decides who may: an administrator's login session,
// which gives its password again and, with 2FA on, a one-time password for
// every change; or the operator at the command line. Administrators do not
// bypass the registry's policy for packages: they are no owners of packages
// they do not own, and adding themselves as one is an audit event like
// every other change here.
package admin

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/account"
	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/registry"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// DefaultResetTTL is how long a password reset link lives.
const DefaultResetTTL = 24 * time.Hour

// Options configure the service.
type Options struct {
	// Audit records every change; nil records nothing.
	Audit audit.Recorder
	// Forget drops every credential this node keeps in memory
	// (auth.Authenticator.ForgetAll), so that a change takes effect here at
	// once; other nodes hear of it through the store's change feed. nil
	// does nothing.
	Forget func()
	// ResetTTL is how long a password reset link lives; 0 means
	// DefaultResetTTL.
	ResetTTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Service is site administration.
type Service struct {
	store    *store.Store
	accounts *account.Service
	registry *registry.Service
	opts     Options
}

// New returns site administration over the store, with the account service
// (password and 2FA checks of the administrator) and the registry (package
// ownership).
func New(st *store.Store, accounts *account.Service, reg *registry.Service, opts Options) *Service {
	if opts.Audit == nil {
		opts.Audit = audit.Discard{}
	}
	if opts.Forget == nil {
		opts.Forget = func() {}
	}
	if opts.ResetTTL <= 0 {
		opts.ResetTTL = DefaultResetTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{store: st, accounts: accounts, registry: reg, opts: opts}
}

// Bounds of the list of accounts.
const (
	DefaultPerPage = 50
	MaxPerPage     = 200
)

// UserPage is a page of the list of accounts.
type UserPage struct {
	Users []store.UserSummary
	// Total is how many accounts the search finds in all.
	Total int
	// Next is the cursor of the next page (the last name shown), "" at the end.
	Next string
}

// Users lists the accounts whose name or email contains search (any case),
// by name, after the name after.
func (s *Service) Users(ctx context.Context, p *auth.Principal, search, after string, perPage int) (UserPage, error) {
	if err := policy.DecideAdmin(p, policy.AdminRead); err != nil {
		return UserPage{}, err
	}
	if perPage < 1 || perPage > MaxPerPage {
		return UserPage{}, fault.Invalidf("perPage must be from 1 to %d", MaxPerPage)
	}
	search = strings.TrimSpace(search)
	if len(search) > 254 || len(after) > 214 {
		return UserPage{}, fault.Invalidf("the search is at most 254 characters")
	}
	q := s.store.Q()
	users, err := q.ListUsers(ctx, search, after, perPage+1)
	if err != nil {
		return UserPage{}, err
	}
	total, err := q.CountUsers(ctx, search)
	if err != nil {
		return UserPage{}, err
	}
	page := UserPage{Users: users, Total: total}
	if len(users) > perPage {
		page.Users = users[:perPage]
		page.Next = users[perPage-1].Name
	}
	return page, nil
}

// User returns one account, as the list shows it.
func (s *Service) User(ctx context.Context, p *auth.Principal, name string) (store.UserSummary, error) {
	if err := policy.DecideAdmin(p, policy.AdminRead); err != nil {
		return store.UserSummary{}, err
	}
	u, err := userNamed(ctx, s.store.Q(), name)
	if err != nil {
		return store.UserSummary{}, err
	}
	tf, err := s.store.Q().TwoFactorOf(ctx, u.ID)
	if err != nil {
		return store.UserSummary{}, err
	}
	return store.UserSummary{User: u, TFA: tf.Enabled()}, nil
}

func userNamed(ctx context.Context, q store.Queries, name string) (store.User, error) {
	u, err := q.UserByName(ctx, strings.TrimPrefix(strings.TrimSpace(name), "@"))
	if fault.Is(err, fault.NotFound) {
		return u, fault.NotFoundf("user %q not found", name)
	}
	return u, err
}

// Confirm is how the administrator confirms a change: their password again
// (the one-time password, with 2FA on, comes in the context as for every
// OTP). The operator at the command line confirms nothing.
type Confirm struct {
	Password string
}

// change is the skeleton of every change: p may administer (policy), p
// confirms with its password and one-time password, then fn runs in one
// transaction on the named account and its event (action, on the account,
// with fn's detail) commits with it. Afterwards this node forgets the
// credentials it keeps. A refusal is noted in the audit log.
func (s *Service) change(ctx context.Context, p *auth.Principal, c Confirm, action audit.Action, name string,
	fn func(q store.Queries, u store.User) (detail string, err error)) (err error) {
	target := audit.Target{User: name}
	defer func() {
		if reason, ok := audit.RefusalOf(err, auth.OTP(ctx) != ""); ok {
			s.opts.Audit.Refused(ctx, audit.Event{Action: action, Actor: audit.ActorOf(p), Target: target, Reason: reason})
		}
	}()
	if err := s.confirm(ctx, p, c); err != nil {
		return err
	}
	err = s.store.InTx(ctx, func(q store.Queries) error {
		u, err := userNamed(ctx, q, name)
		if err != nil {
			return err
		}
		target = audit.Target{UserID: u.ID, User: u.Name}
		detail, err := fn(q, u)
		if err != nil {
			return err
		}
		return s.opts.Audit.Record(ctx, q, audit.Event{Action: action, Actor: audit.ActorOf(p), Target: target, Detail: detail})
	})
	if err == nil {
		s.opts.Forget()
		s.registry.Changed()
	}
	return err
}

// confirm checks that p may change the site and has confirmed it.
func (s *Service) confirm(ctx context.Context, p *auth.Principal, c Confirm) error {
	if err := policy.DecideAdmin(p, policy.AdminChange); err != nil {
		return err
	}
	if p.Kind == auth.KindOperator {
		return nil
	}
	if err := s.accounts.VerifyPassword(ctx, p, c.Password); err != nil {
		return err
	}
	return s.accounts.RequireOTP(ctx, p, policy.OTPAdmin, nil)
}

// notOwn refuses an administrator's change to their own account that would
// lock them out (disable, demote, delete): another administrator, or the
// operator at the command line, does that.
func notOwn(p *auth.Principal, u store.User, what string) error {
	if p.Kind != auth.KindOperator && p.UserID == u.ID {
		return fault.Forbiddenf("You cannot %s your own account: ask another administrator, or use the command line", what)
	}
	return nil
}

// CreateUser makes an account (gatehouse user add), an administrator's when
// admin is set, whether registration is open or not.
func (s *Service) CreateUser(ctx context.Context, p *auth.Principal, c Confirm, name, email, password string, admin bool) (store.User, error) {
	if err := s.confirm(ctx, p, c); err != nil {
		return store.User{}, err
	}
	return s.accounts.CreateUserAs(ctx, policy.AdminRegistration, p, name, email, password, admin)
}

// SetAdmin promotes the named user to site administrator, or demotes them.
func (s *Service) SetAdmin(ctx context.Context, p *auth.Principal, c Confirm, name string, admin bool) error {
	action := audit.AdminPromote
	if !admin {
		action = audit.AdminDemote
	}
	return s.change(ctx, p, c, action, name, func(q store.Queries, u store.User) (string, error) {
		if !admin {
			if err := notOwn(p, u, "demote"); err != nil {
				return "", err
			}
		}
		if u.Admin == admin {
			return "", fault.Conflictf("%s is %s already", u.Name, map[bool]string{true: "an administrator", false: "not an administrator"}[admin])
		}
		return "", q.SetAdmin(ctx, u.ID, admin)
	})
}

// SetDisabled disables the named user (every session and token refused at
// once, every node within a second; sign-in refused with a message saying
// so; nothing deleted) or enables them again.
func (s *Service) SetDisabled(ctx context.Context, p *auth.Principal, c Confirm, name string, disabled bool) error {
	action := audit.AdminDisable
	if !disabled {
		action = audit.AdminEnable
	}
	return s.change(ctx, p, c, action, name, func(q store.Queries, u store.User) (string, error) {
		if disabled {
			if err := notOwn(p, u, "disable"); err != nil {
				return "", err
			}
		}
		if u.Disabled() == disabled {
			return "", fault.Conflictf("%s is %s already", u.Name, map[bool]string{true: "disabled", false: "enabled"}[disabled])
		}
		at := int64(0)
		if disabled {
			at = s.opts.Now().UnixMilli()
		}
		return "", q.SetDisabled(ctx, u.ID, at)
	})
}

// PasswordReset is a password reset link's secret, to put in the link
// /-/web/reset/SECRET that the administrator hands to the account's owner.
type PasswordReset struct {
	User    string
	Secret  string
	Expires time.Time
}

// Path is the reset link's path on the registry's address.
func (r PasswordReset) Path() string { return "/-/web/reset/" + r.Secret }

// ResetPassword starts a password reset of the named user: their password
// stops working and their login sessions end at once, and the link returned
// lets them set a new one (with a one-time password, when their 2FA is on)
// until it expires. A new reset replaces the previous link.
func (s *Service) ResetPassword(ctx context.Context, p *auth.Principal, c Confirm, name string) (PasswordReset, error) {
	var out PasswordReset
	err := s.change(ctx, p, c, audit.AdminPasswordReset, name, func(q store.Queries, u store.User) (string, error) {
		secret, hash, err := account.NewResetSecret()
		if err != nil {
			return "", err
		}
		// The old password stops working: it is replaced by a random one nobody knows.
		unusable, _, err := account.NewResetSecret()
		if err != nil {
			return "", err
		}
		pwHash, err := account.HashPassword(unusable)
		if err != nil {
			return "", err
		}
		if err := q.SetPassword(ctx, u.ID, pwHash); err != nil {
			return "", err
		}
		expires := s.opts.Now().Add(s.opts.ResetTTL)
		if err := q.SetPasswordReset(ctx, u.ID, hash, expires.UnixMilli()); err != nil {
			return "", err
		}
		ended, err := q.RevokeUserTokens(ctx, u.ID, 0, true)
		if err != nil {
			return "", err
		}
		out = PasswordReset{User: u.Name, Secret: secret, Expires: expires}
		return fmt.Sprintf("link valid until %s; %d session(s) ended", expires.UTC().Format(time.RFC3339), len(ended)), nil
	})
	return out, err
}

// ResetTFA turns the named user's two-factor authentication off, for a lost
// device: their recovery codes go too, and they must enable 2FA again
// before any write or new token (they can still sign in with their
// password, and turn it on).
func (s *Service) ResetTFA(ctx context.Context, p *auth.Principal, c Confirm, name string) error {
	return s.change(ctx, p, c, audit.AdminTFAReset, name, func(q store.Queries, u store.User) (string, error) {
		tf, err := q.TwoFactorOf(ctx, u.ID)
		if err != nil {
			return "", err
		}
		if tf.Mode == store.TFAOff {
			return "", fault.Conflictf("%s has no two-factor authentication to reset", u.Name)
		}
		if err := q.SetTwoFactor(ctx, u.ID, store.TwoFactor{LastStep: tf.LastStep}); err != nil {
			return "", err
		}
		if err := q.ReplaceRecoveryCodes(ctx, u.ID, nil); err != nil {
			return "", err
		}
		// Only a confirmed 2FA must be enabled again: one still pending
		// protected nothing yet.
		if tf.Enabled() {
			if err := q.SetTFAReenroll(ctx, u.ID, true); err != nil {
				return "", err
			}
		}
		return "was " + string(tf.Mode), nil
	})
}

// RevokeTokens revokes every access token and login session of the named
// user, and reports how many.
func (s *Service) RevokeTokens(ctx context.Context, p *auth.Principal, c Confirm, name string) (int64, error) {
	var n int64
	err := s.change(ctx, p, c, audit.AdminTokensRevoke, name, func(q store.Queries, u store.User) (string, error) {
		revoked, err := q.RevokeUserTokens(ctx, u.ID, 0, false)
		n = int64(len(revoked))
		return fmt.Sprintf("%d token(s) and session(s)", n), err
	})
	return n, err
}

// Deleted is what deleting an account did.
type Deleted struct {
	User string
	// HandedOver are the packages the account owned alone, now the heirs'.
	HandedOver []string
	// Heirs are the users who took them.
	Heirs []string
}

// DeleteUser deletes the named account: its credentials, memberships and
// 2FA go with it; the packages it owned alone go to heir (a user, or an
// organization whose owners take them); its name is retired, so nobody
// signs up with it (and takes its scope) later. It refuses when the account
// owns packages alone and no heir is named, or owns an organization alone.
func (s *Service) DeleteUser(ctx context.Context, p *auth.Principal, c Confirm, name, heir string) (Deleted, error) {
	var out Deleted
	err := s.change(ctx, p, c, audit.AdminUserDelete, name, func(q store.Queries, u store.User) (string, error) {
		if err := notOwn(p, u, "delete"); err != nil {
			return "", err
		}
		if orgs, err := q.SoleOrgOwnerships(ctx, u.ID); err != nil || len(orgs) > 0 {
			if err != nil {
				return "", err
			}
			return "", fault.Conflictf("%s is the only owner of the organization(s) %s: make someone else an owner first",
				u.Name, strings.Join(orgs, ", "))
		}
		heirs, err := s.heirs(ctx, q, heir, u)
		if err != nil {
			return "", err
		}
		handed, err := s.registry.HandOver(ctx, q, p, u, heirs)
		if err != nil {
			return "", err
		}
		// What goes with the account, for the log: trusted publishing it
		// configured stops, and its memberships end.
		trusted, err := q.TrustedPackagesBy(ctx, u.ID)
		if err != nil {
			return "", err
		}
		memberships, err := q.OrgsOf(ctx, u.ID)
		if err != nil {
			return "", err
		}
		if err := q.DeleteUser(ctx, u); err != nil {
			return "", err
		}
		out = Deleted{User: u.Name, HandedOver: handed}
		for _, h := range heirs {
			out.Heirs = append(out.Heirs, h.Name)
		}
		var detail []string
		if len(handed) > 0 {
			detail = append(detail, fmt.Sprintf("%d package(s) handed to %s", len(handed), strings.Join(out.Heirs, ", ")))
		}
		if len(trusted) > 0 {
			detail = append(detail, "trusted publishing removed from "+listed(trusted))
		}
		if len(memberships) > 0 {
			orgs := make([]string, len(memberships))
			for i, m := range memberships {
				orgs[i] = m.Org.Name
			}
			detail = append(detail, "left "+listed(orgs))
		}
		return strings.Join(detail, "; "), nil
	})
	return out, err
}

// heirs resolves the heir of a deleted account: a user, or the owners of an
// organization (but the account itself); "" is none.
func (s *Service) heirs(ctx context.Context, q store.Queries, name string, deleted store.User) ([]store.User, error) {
	name = strings.TrimPrefix(strings.TrimSpace(name), "@")
	if name == "" {
		return nil, nil
	}
	if u, err := q.UserByName(ctx, name); err == nil {
		if u.ID == deleted.ID {
			return nil, fault.Invalidf("the heir must be someone else")
		}
		if u.Disabled() {
			// Packages handed to an account nobody can use would have no
			// owner who can act for them.
			return nil, fault.Invalidf("the heir %s is disabled; enable the account first, or choose another heir", u.Name)
		}
		return []store.User{u}, nil
	} else if !fault.Is(err, fault.NotFound) {
		return nil, err
	}
	o, err := q.OrgByName(ctx, name)
	if fault.Is(err, fault.NotFound) {
		return nil, fault.NotFoundf("the heir %q is neither a user nor an organization", name)
	}
	if err != nil {
		return nil, err
	}
	members, err := q.Members(ctx, o.ID)
	if err != nil {
		return nil, err
	}
	var heirs []store.User
	for _, m := range members {
		if m.Role != store.RoleOwner || m.UserID == deleted.ID {
			continue
		}
		u, err := q.UserByID(ctx, m.UserID)
		if err != nil {
			return nil, err
		}
		if u.Disabled() {
			continue
		}
		heirs = append(heirs, u)
	}
	if len(heirs) == 0 {
		return nil, fault.Invalidf("the organization %s has no other owner (not disabled) to take the packages", o.Name)
	}
	return heirs, nil
}

// AddOwner makes the named user an owner of a package that is not
// theirs: how an administrator takes a package over (adding themself),
// recorded as admin.owner_add.
func (s *Service) AddOwner(ctx context.Context, p *auth.Principal, c Confirm, pkg, name string) (err error) {
	defer func() {
		if reason, ok := audit.RefusalOf(err, auth.OTP(ctx) != ""); ok {
			s.opts.Audit.Refused(ctx, audit.Event{Action: audit.AdminOwnerAdd, Actor: audit.ActorOf(p),
				Target: audit.Target{Package: pkg, User: name}, Reason: reason})
		}
	}()
	if err := s.confirm(ctx, p, c); err != nil {
		return err
	}
	err = s.store.InTx(ctx, func(q store.Queries) error {
		u, err := userNamed(ctx, q, name)
		if err != nil {
			return err
		}
		return s.registry.AddOwnerAsAdmin(ctx, q, p, pkg, u)
	})
	if err == nil {
		s.registry.Changed()
	}
	return err
}

// listed names up to ten of names, and how many more there are.
func listed(names []string) string {
	if len(names) <= 10 {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:10], ", "), len(names)-10)
}
