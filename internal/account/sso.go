package account

import (
	"context"
	"slices"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/sso"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// ssoActor is u signing in through a provider: the audit log names the
// provider's subject beside the account.
func ssoActor(u store.User, id sso.Identity) *auth.Principal {
	return &auth.Principal{UserID: u.ID, UserName: u.Name, OIDCSubject: id.Subject}
}

// ssoDetail is what a single sign-on's events say of it: the provider, its
// issuer and the way in.
func ssoDetail(id sso.Identity, way string) string {
	return way + " with " + id.Provider + " (" + id.Issuer + ")"
}

// refusedSSO notes a refused sign-in through a provider: the subject the
// provider vouched for, and the account, when one was found.
func (s *Service) refusedSSO(ctx context.Context, id sso.Identity, u store.User, way string, errp *error) {
	reason, ok := audit.RefusalOf(*errp, false)
	if !ok {
		return
	}
	e := audit.Event{Action: audit.SignIn, Actor: audit.Actor{OIDCSubject: id.Subject}, Reason: reason,
		Detail: ssoDetail(id, way)}
	if u.ID != 0 {
		e.Target = userTarget(u)
	}
	s.audit.Refused(ctx, e)
}

// SignInSSO signs in the person a provider vouched for (id, from a
// verified ID token) and starts a session labelled label. Policy decides who
// the provider admits (allowed domains, groups) and what a first sign-in
// does: the account is found by the provider's subject only; without one,
// an account is created when the provider's setting says so and neither its
// name nor its email belongs to an account here (never taken over). The
// local one-time password is not asked: the provider's own sign-in stands.
// Success and refusal are audit events naming the provider and subject.
func (s *Service) SignInSSO(ctx context.Context, prov sso.Provider, id sso.Identity, label string) (res LoginResult, err error) {
	var u store.User
	defer func() { s.refusedSSO(ctx, id, u, "sign in", &err) }()
	err = s.store.InTx(ctx, func(q store.Queries) error {
		var created bool
		u, created, err = s.ssoAccount(ctx, q, prov, id)
		if err != nil {
			return err
		}
		res.User, res.Created = u, created
		res.Token, err = s.startSessionAs(ctx, q, u, ssoActor(u, id), label, ssoDetail(id, label))
		return err
	})
	if err != nil {
		return LoginResult{}, err
	}
	return res, nil
}

// CompleteWebAuthSSO confirms an npm web login (npm login --auth-type=web)
// with a sign-in through a provider, as SignInSSO decides it: the CLI gets
// a session of its own.
func (s *Service) CompleteWebAuthSSO(ctx context.Context, loginID string, prov sso.Provider, id sso.Identity) (err error) {
	var u store.User
	defer func() { s.refusedSSO(ctx, id, u, "npm web login", &err) }()
	w, err := s.liveWebAuth(s.store.Q().WebAuthByLogin(ctx, idHash(loginID)))
	if err != nil {
		return err
	}
	if w.Result != nil || w.OTPHash != nil || w.Handed {
		return fault.Conflictf("This request was confirmed already; return to your terminal.")
	}
	if w.Kind != WebLogin {
		return fault.Invalidf("This confirmation needs your password")
	}
	// The account (created or linked on a first sign-in) commits on its
	// own: a confirmation raced by another leaves an account, which is what
	// the person asked for, and no session.
	err = s.store.InTx(ctx, func(q store.Queries) error {
		u, _, err = s.ssoAccount(ctx, q, prov, id)
		return err
	})
	if err != nil {
		return err
	}
	return s.finishWebAuthAs(ctx, w, u, ssoActor(u, id), ssoDetail(id, "npm web login"))
}

// LinkSSO links the account p signed in to with the person a provider
// vouched for, so that they may sign in through it from now on. It needs a
// sign-in of the last minutes (policy.DecideFreshSignIn: with the password,
// for an account that has one), and the provider's admission rules; a
// subject linked to an account already is refused.
func (s *Service) LinkSSO(ctx context.Context, p *auth.Principal, prov sso.Provider, id sso.Identity) (err error) {
	var u store.User
	defer func() { s.refusedSSO(ctx, id, u, "link", &err) }()
	if err := s.freshSignIn(ctx, p); err != nil {
		return err
	}
	if err := policy.DecideSSOSignIn(admission(prov), person(id)); err != nil {
		return err
	}
	return s.store.InTx(ctx, func(q store.Queries) error {
		if u, err = q.UserByID(ctx, p.UserID); err != nil {
			return err
		}
		if _, err := q.SSOIdentityBySubject(ctx, id.Issuer, id.Subject); err == nil {
			return fault.Conflictf("This %s account is linked to an account here already", prov.Name)
		} else if !fault.Is(err, fault.NotFound) {
			return err
		}
		now := s.opts.Now().UnixMilli()
		if _, err := q.CreateSSOIdentity(ctx, store.SSOIdentity{UserID: u.ID, Issuer: id.Issuer, Subject: id.Subject,
			Provider: prov.Name, Email: id.Email, CreatedAt: now, LastSignInAt: now}); err != nil {
			return err
		}
		actor := ssoActor(u, id)
		actor.Kind, actor.TokenKey = p.Kind, p.TokenKey
		return s.audit.Record(ctx, q, audit.Event{Action: audit.SSOLink, Actor: audit.ActorOf(actor),
			Target: userTarget(u), Detail: ssoDetail(id, "link")})
	})
}

// SSOLinks lists the providers p's account is linked to.
func (s *Service) SSOLinks(ctx context.Context, p *auth.Principal) ([]store.SSOIdentity, error) {
	if !p.Authenticated() {
		return nil, auth.ErrAuthRequired()
	}
	return s.store.Q().SSOIdentitiesOf(ctx, p.UserID)
}

func admission(prov sso.Provider) policy.SSOAdmission {
	return policy.SSOAdmission{Provider: prov.DisplayName(), AllowedDomains: prov.AllowedDomains, AllowedGroups: prov.AllowedGroups}
}

func person(id sso.Identity) policy.SSOPerson {
	return policy.SSOPerson{Email: id.Email, EmailVerified: id.EmailVerified, Groups: id.Groups}
}

// ssoAccount finds, or creates, the account of the person a provider
// vouched for, in the transaction q runs in: see SignInSSO.
func (s *Service) ssoAccount(ctx context.Context, q store.Queries, prov sso.Provider, id sso.Identity) (store.User, bool, error) {
	if id.Provider != prov.Name || id.Subject == "" || id.Issuer == "" {
		return store.User{}, false, &fault.Error{Kind: fault.Unauthorized, Message: "Single sign-on failed: no identity"}
	}
	if err := policy.DecideSSOSignIn(admission(prov), person(id)); err != nil {
		return store.User{}, false, err
	}
	now := s.opts.Now().UnixMilli()
	link, err := q.SSOIdentityBySubject(ctx, id.Issuer, id.Subject)
	switch {
	case err == nil:
		u, err := q.UserByID(ctx, link.UserID)
		if err != nil {
			return store.User{}, false, err
		}
		if u.Disabled() {
			return u, false, auth.ErrAccountDisabled()
		}
		if err := q.TouchSSOIdentity(ctx, link.ID, id.Email, now); err != nil {
			return u, false, err
		}
		return u, false, s.grantGroups(ctx, q, u, prov, id)
	case !fault.Is(err, fault.NotFound):
		return store.User{}, false, err
	}
	facts := policy.SSOFirstSignIn{Provider: prov.DisplayName(), CreateUsers: prov.CreateUsers, Name: id.UserName}
	if id.Email != "" {
		if _, err := q.UserByEmail(ctx, id.Email); err == nil {
			facts.EmailTaken = true
		} else if !fault.Is(err, fault.NotFound) {
			return store.User{}, false, err
		}
	}
	if facts.Name != "" {
		if ValidateUserName(facts.Name) != nil {
			facts.Name = ""
		} else if taken, err := s.nameTaken(ctx, q, facts.Name); err != nil {
			return store.User{}, false, err
		} else {
			facts.NameTaken = taken
		}
	}
	if err := policy.DecideSSOAccount(facts); err != nil {
		return store.User{}, false, err
	}
	email := id.Email
	if !id.EmailVerified || ValidateEmail(email) != nil {
		email = ""
	}
	// The account has a password nobody knows: it signs in through the
	// provider (and, for the steps that ask for a password, with a fresh
	// sign-in instead: freshSignIn).
	hash, err := s.hash(ctx, randomPassword())
	if err != nil {
		return store.User{}, false, err
	}
	u, err := q.CreateUser(ctx, store.User{Name: facts.Name, Email: email, PasswordHash: hash})
	if fault.Is(err, fault.Conflict) {
		return store.User{}, false, policy.DecideSSOAccount(policy.SSOFirstSignIn{Provider: facts.Provider,
			CreateUsers: true, Name: facts.Name, NameTaken: true})
	}
	if err != nil {
		return store.User{}, false, err
	}
	if _, err := q.CreateSSOIdentity(ctx, store.SSOIdentity{UserID: u.ID, Issuer: id.Issuer, Subject: id.Subject,
		Provider: prov.Name, Email: id.Email, CreatedAt: now, LastSignInAt: now}); err != nil {
		return store.User{}, false, err
	}
	if err := s.audit.Record(ctx, q, audit.Event{Action: audit.SignUp, Actor: audit.ActorOf(ssoActor(u, id)),
		Target: userTarget(u), Detail: ssoDetail(id, "first sign-in")}); err != nil {
		return u, true, err
	}
	return u, true, s.grantGroups(ctx, q, u, prov, id)
}

// grantGroups gives u, signing in through prov, the organization
// memberships and teams its group mapping (off by default) gives the
// person's groups (policy.SSOMemberships): as a developer (npm's plain member) of each
// organization they are not in yet, and of each team. Each addition is an
// audit event; an organization or team that does not exist is skipped
// (and logged): the mapping never creates one.
func (s *Service) grantGroups(ctx context.Context, q store.Queries, u store.User, prov sso.Provider, id sso.Identity) error {
	if len(prov.GroupMapping) == 0 {
		return nil
	}
	mapping := make([]policy.SSOGroupGrant, len(prov.GroupMapping))
	for i, m := range prov.GroupMapping {
		mapping[i] = policy.SSOGroupGrant{Group: m.Group, Org: m.Org, Team: m.Team}
	}
	actor := ssoActor(u, id)
	for _, g := range policy.SSOMemberships(mapping, id.Groups) {
		detail := "from group " + g.Group + " " + ssoDetail(id, "sign-in")
		o, err := q.OrgByName(ctx, g.Org)
		if fault.Is(err, fault.NotFound) {
			s.log.WarnContext(ctx, "sso group mapping: no such organization", "provider", prov.Name, "org", g.Org)
			continue
		}
		if err != nil {
			return err
		}
		role, err := q.RoleIn(ctx, o.ID, u.ID)
		if err != nil {
			return err
		}
		if role == "" {
			if err := q.SetMember(ctx, o.ID, u.ID, store.RoleDeveloper); err != nil {
				return err
			}
			if err := s.audit.Record(ctx, q, audit.Event{Action: audit.OrgMemberSet, Actor: audit.ActorOf(actor),
				Target: audit.Target{Org: o.Name, UserID: u.ID, User: u.Name}, Detail: string(store.RoleDeveloper) + ", " + detail}); err != nil {
				return err
			}
		}
		if g.Team == "" {
			continue
		}
		team, err := q.TeamByName(ctx, o.ID, g.Team)
		if fault.Is(err, fault.NotFound) {
			s.log.WarnContext(ctx, "sso group mapping: no such team", "provider", prov.Name, "org", g.Org, "team", g.Team)
			continue
		}
		if err != nil {
			return err
		}
		members, err := q.TeamMembers(ctx, team.ID)
		if err != nil {
			return err
		}
		if slices.Contains(members, u.Name) {
			continue
		}
		if err := q.AddTeamMember(ctx, team.ID, u.ID); err != nil {
			return err
		}
		if err := s.audit.Record(ctx, q, audit.Event{Action: audit.TeamMemberAdd, Actor: audit.ActorOf(actor),
			Target: audit.Target{Org: o.Name, Team: team.Name, UserID: u.ID, User: u.Name}, Detail: detail}); err != nil {
			return err
		}
	}
	return nil
}

// nameTaken reports whether an account has name, or had it (deleted
// accounts' names are retired).
func (s *Service) nameTaken(ctx context.Context, q store.Queries, name string) (bool, error) {
	if _, err := q.UserByName(ctx, name); err == nil {
		return true, nil
	} else if !fault.Is(err, fault.NotFound) {
		return false, err
	}
	return q.NameRetired(ctx, name)
}

// passwordOff reports whether u's password is off (the SSO-only setting,
// for everyone but administrators).
func (s *Service) passwordOff(u store.User) bool { return policy.PasswordOff(s.opts.SSOOnly, u.Admin) }

// SSOOnly reports whether local passwords are off for non-administrators.
func (s *Service) SSOOnly() bool { return s.opts.SSOOnly }

// freshSignIn checks that p is a login session started in the last minutes
// (policy.DecideFreshSignIn).
func (s *Service) freshSignIn(ctx context.Context, p *auth.Principal) error {
	if !p.Authenticated() {
		return auth.ErrAuthRequired()
	}
	var at time.Time
	if p.Kind == auth.KindSession {
		t, err := s.ownByKey(ctx, p.UserID, p.TokenKey)
		if err != nil && !fault.Is(err, fault.NotFound) {
			return err
		}
		if err == nil {
			at = time.UnixMilli(t.CreatedAt)
		}
	}
	return policy.DecideFreshSignIn(p, at, s.opts.Now())
}

// proveUser checks that p is u's person for a step that asks for the
// password (creating a token, changing 2FA, approving a staged version).
// When u's password is off (SSO-only), a sign-in of the last minutes
// (freshSignIn) stands in for it, and a password given is not looked at.
// When u is linked to a provider and gave no password (an account made by
// a first sign-in has none anybody knows), the same fresh sign-in does.
// Otherwise, the password; an empty one is Invalid with the message
// required, when it is not empty (else it is checked like any other).
func (s *Service) proveUser(ctx context.Context, p *auth.Principal, u store.User, password, required string) error {
	if s.passwordOff(u) {
		return s.freshSignIn(ctx, p)
	}
	if password == "" {
		linked, err := s.linked(ctx, u.ID)
		if err != nil {
			return err
		}
		if linked {
			return s.freshSignIn(ctx, p)
		}
		if required != "" {
			return fault.Invalidf("%s", required)
		}
	}
	return s.checkPassword(ctx, u, password)
}

// linked reports whether the account is linked to a provider.
func (s *Service) linked(ctx context.Context, userID int64) (bool, error) {
	links, err := s.store.Q().SSOIdentitiesOf(ctx, userID)
	return len(links) > 0, err
}

// PasswordOptional reports whether p's steps that ask for a password may
// be taken without one (see proveUser), for the website's forms: p's
// password is off, or p is linked to a provider.
func (s *Service) PasswordOptional(ctx context.Context, p *auth.Principal) (bool, error) {
	if !p.Authenticated() {
		return false, nil
	}
	u, err := s.store.Q().UserByID(ctx, p.UserID)
	if err != nil {
		return false, err
	}
	if s.passwordOff(u) {
		return true, nil
	}
	return s.linked(ctx, u.ID)
}

// RefusedSSO notes a sign-in through provider prov refused before anyone
// was known: the provider's answer or its ID token refused (state, nonce,
// audience, issuer, signature, expiry). way says what the sign-in was for.
func (s *Service) RefusedSSO(ctx context.Context, prov sso.Provider, way string, err error) {
	s.refusedSSO(ctx, sso.Identity{Provider: prov.Name, Issuer: prov.Issuer}, store.User{}, way, &err)
}
