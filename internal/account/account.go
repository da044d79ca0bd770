// Package account holds users, their passwords and their login sessions.
package account

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/keyring"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/gatehouse-registry/gatehouse/internal/token"
	"github.com/google/uuid"
)

// Options configure the account service.
type Options struct {
	// RegistrationOpen lets people sign themselves up (npm adduser, the
	// website's sign-up); policy.DecideRegistration reads it.
	RegistrationOpen bool
	// SessionTTL is how long a login session lives.
	SessionTTL time.Duration
	// Tokens is the access-token policy; the zero value means DefaultTokenPolicy.
	Tokens TokenPolicy
	// Require2FA refuses writes and token creation to users without 2FA.
	Require2FA bool
	// Keyring seals TOTP secrets; required.
	Keyring *keyring.Keyring
	// Issuer names the registry in authenticator apps; empty means "gatehouse".
	Issuer string
	// Log receives security events (lockouts, 2FA changes); nil discards them.
	Log *slog.Logger
	// Audit records every account event (sign-ins, tokens, 2FA, password
	// and email changes); nil records nothing.
	Audit audit.Recorder
	// OnRevoke is called with a token's hash after it is revoked, so caches drop it.
	OnRevoke func(hash []byte)
	// FlushLastUse writes the token uses noted in memory but not yet stored
	// (see auth.Authenticator), so token and session lists show them; nil
	// means there are none.
	FlushLastUse func(ctx context.Context) error
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// SSOOnly turns local passwords off for everyone but site
	// administrators: they sign in through a single sign-on provider
	// (policy.DecidePasswordSignIn).
	SSOOnly bool
	// MaxHashing bounds the password hashes computed at once (each takes
	// argon2id's 19 MiB and a core for tens of milliseconds); more wait
	// their turn. 0 means twice the CPUs Go uses.
	MaxHashing int
}

// Service manages accounts and sessions.
type Service struct {
	store  *store.Store
	format token.Format
	opts   Options
	tokens TokenPolicy
	sealer *keyring.Sealer
	log    *slog.Logger
	// passwordMatches checks a password against a stored hash:
	// CheckPassword, which tests replace to count the hashing work done.
	passwordMatches func(encoded, password string) (bool, error)
	// dummyHash is a hash of a random password that nobody knows, made
	// on first use: a sign-in for a user that does not exist is checked
	// against it, so that it costs what a wrong password costs and its
	// timing does not tell whether the user exists.
	dummyHash func() string
	// hashing holds a slot for each password hash being computed: however
	// many sign-ins arrive at once, from however many addresses, the
	// memory and CPU that hashing takes stay bounded.
	hashing chan struct{}
	audit   audit.Recorder
}

// NewService returns the account service.
func NewService(s *store.Store, f token.Format, opts Options) (*Service, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.OnRevoke == nil {
		opts.OnRevoke = func([]byte) {}
	}
	if opts.FlushLastUse == nil {
		opts.FlushLastUse = func(context.Context) error { return nil }
	}
	if opts.Tokens == (TokenPolicy{}) {
		opts.Tokens = DefaultTokenPolicy()
	}
	if opts.Issuer == "" {
		opts.Issuer = "gatehouse"
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Audit == nil {
		opts.Audit = audit.Discard{}
	}
	if opts.Keyring == nil {
		return nil, fmt.Errorf("account service: no keyring")
	}
	sealer, err := opts.Keyring.Sealer("totp secret")
	if err != nil {
		return nil, err
	}
	dummy := sync.OnceValue(func() string {
		h, err := HashPassword(randomPassword())
		if err != nil {
			// No randomness: no password is checked against a hash that
			// fails to parse, and the cost is still spent on the next try.
			return ""
		}
		return h
	})
	if opts.MaxHashing <= 0 {
		opts.MaxHashing = 2 * runtime.GOMAXPROCS(0)
	}
	return &Service{store: s, format: f, opts: opts, tokens: opts.Tokens, sealer: sealer, log: opts.Log, audit: opts.Audit,
		passwordMatches: CheckPassword, dummyHash: dummy, hashing: make(chan struct{}, opts.MaxHashing)}, nil
}

// takeHashSlot waits for a free hashing slot, or for ctx to end; release
// gives it back.
func (s *Service) takeHashSlot(ctx context.Context) (release func(), err error) {
	select {
	case s.hashing <- struct{}{}:
		return func() { <-s.hashing }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wait to check a password: %w", context.Cause(ctx))
	}
}

// matches checks password against the stored hash encoded, in a hashing slot.
func (s *Service) matches(ctx context.Context, encoded, password string) (bool, error) {
	release, err := s.takeHashSlot(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	return s.passwordMatches(encoded, password)
}

// hash hashes a new password, in a hashing slot.
func (s *Service) hash(ctx context.Context, password string) (string, error) {
	release, err := s.takeHashSlot(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	return HashPassword(password)
}

// ValidateUserName applies npm's user name rules (npm-user-validate), with its messages.
func ValidateUserName(name string) error {
	switch {
	case name == "":
		return fault.Invalidf("Name is required")
	case name != strings.ToLower(name):
		return fault.Invalidf("Name must be lowercase")
	case url.QueryEscape(name) != name || strings.ContainsAny(name, "+ "):
		return fault.Invalidf("Name may not contain non-url-safe chars")
	case strings.HasPrefix(name, "."):
		return fault.Invalidf(`Name may not start with "."`)
	case len(name) > 214:
		return fault.Invalidf("Name length must be less than or equal to 214 characters long")
	case strings.Contains(name, "'"):
		return fault.Invalidf(`Name may not contain illegal character "'"`)
	}
	return nil
}

// ValidateEmail applies npm's email rule.
func ValidateEmail(email string) error {
	at := strings.Index(email, "@")
	switch {
	case len(email) > 254:
		return fault.Invalidf("Email length must be less then or equal to 254 characters long")
	case at <= 0 || !strings.Contains(email[at+1:], ".") || strings.HasSuffix(email, "."):
		return fault.Invalidf("Email must be an email address")
	}
	return nil
}

// MinPasswordLen is the fewest characters a new password may have.
const MinPasswordLen = 10

// ValidatePassword applies the rules every new password follows, whichever
// way it is set (npm adduser, npm profile set password, the website's sign-up
// and password change, gatehouse user add).
func ValidatePassword(password string) error {
	if utf8.RuneCountInString(password) < MinPasswordLen {
		return fault.Invalidf("Use a password of at least %d characters", MinPasswordLen)
	}
	return nil
}

// CreateUser makes an account, if policy lets who create one now
// (policy.DecideRegistration); a taken name is a Conflict. An account an
// administrator creates (gatehouse user add) is recorded as the
// operator's.
func (s *Service) CreateUser(ctx context.Context, who policy.Registrant, name, email, password string) (store.User, error) {
	var by *auth.Principal
	if who == policy.AdminRegistration {
		by = audit.Operator()
	}
	return s.CreateUserAs(ctx, who, by, name, email, password, false)
}

// CreateUserAs makes an account as CreateUser does, a site administrator's
// when admin is set; by is who creates it: nil for a sign-up, else an
// administrator (or the operator at the command line), the only ones who
// may create accounts when registration is closed, and administrators'
// accounts at all. The account and its audit event (user.signup,
// admin.user_create) commit together.
func (s *Service) CreateUserAs(ctx context.Context, who policy.Registrant, by *auth.Principal, name, email, password string, admin bool) (store.User, error) {
	if err := policy.DecideRegistration(who, s.opts.RegistrationOpen); err != nil {
		return store.User{}, err
	}
	switch {
	case who == policy.AdminRegistration:
		if err := policy.DecideAdmin(by, policy.AdminChange); err != nil {
			return store.User{}, err
		}
	case admin:
		return store.User{}, fmt.Errorf("account: a sign-up cannot make an administrator")
	}
	if err := ValidateUserName(name); err != nil {
		return store.User{}, err
	}
	if email != "" {
		if err := ValidateEmail(email); err != nil {
			return store.User{}, err
		}
	}
	q := s.store.Q()
	// A user name is a scope; an organization may hold it already.
	if _, err := q.OrgByName(ctx, name); err == nil {
		return store.User{}, fault.Conflictf("The name %s is taken by an organization", name)
	} else if !fault.Is(err, fault.NotFound) {
		return store.User{}, err
	}
	// The name of a deleted account stays retired: whoever took it would
	// own its scope. An administrator may give it out again, deliberately.
	if who == policy.SelfRegistration {
		retired, err := q.NameRetired(ctx, name)
		if err != nil {
			return store.User{}, err
		}
		if retired {
			return store.User{}, fault.Conflictf("The name %s belonged to a deleted account and cannot be used again", name)
		}
	}
	if err := ValidatePassword(password); err != nil {
		return store.User{}, err
	}
	hash, err := s.hash(ctx, password)
	if err != nil {
		return store.User{}, fmt.Errorf("hash password: %w", err)
	}
	var u store.User
	err = s.store.InTx(ctx, func(q store.Queries) error {
		var err error
		u, err = q.CreateUser(ctx, store.User{Name: name, Email: email, PasswordHash: hash, Admin: admin})
		if err != nil {
			return err
		}
		// The user's name is now a local scope: never served from an uplink.
		if err := q.Publish(ctx, store.ScopeTaken(name)); err != nil {
			return err
		}
		if who == policy.SelfRegistration {
			return s.record(ctx, q, userActor(u), audit.SignUp, userTarget(u), "")
		}
		detail := ""
		if admin {
			detail = "site administrator"
		}
		return s.record(ctx, q, by, audit.AdminUserCreate, userTarget(u), detail)
	})
	if fault.Is(err, fault.Conflict) {
		return store.User{}, fault.Conflictf("User %s already exists", name)
	}
	return u, err
}

// Registration reports whether people may sign themselves up now: nil when
// they may, else the refusal they would get.
func (s *Service) Registration() error {
	if s.opts.SSOOnly {
		return fault.Forbiddenf("Accounts on this registry are created by signing in with single sign-on")
	}
	return policy.DecideRegistration(policy.SelfRegistration, s.opts.RegistrationOpen)
}

// LoginResult is a successful login.
type LoginResult struct {
	User    store.User
	Token   string // the session token, shown to the client once
	Created bool   // the account was created by this login
}

// Login is npm's couch login: it logs in an existing user with the password,
// or creates the account (npm adduser) when policy lets people sign up.
func (s *Service) Login(ctx context.Context, name, email, password string) (LoginResult, error) {
	if err := ValidateUserName(name); err != nil {
		return LoginResult{}, err
	}
	if password == "" {
		return LoginResult{}, fault.Invalidf("Password is required")
	}
	_, err := s.store.Q().UserByName(ctx, name)
	switch {
	case fault.Is(err, fault.NotFound):
		if s.opts.SSOOnly {
			return LoginResult{}, policy.DecidePasswordSignIn(true, false)
		}
		u, err := s.CreateUser(ctx, policy.SelfRegistration, name, email, password)
		if err != nil {
			return LoginResult{}, err
		}
		raw, err := s.newSession(ctx, u, "login session")
		return LoginResult{User: u, Token: raw, Created: true}, err
	case err != nil:
		return LoginResult{}, err
	}
	return s.SignIn(ctx, name, password, "login session")
}

// SignIn logs an existing user in with the password and, with 2FA on, the
// OTP carried by ctx; it never creates an account. label names the session
// (shown on the website's sessions list). A success creates the session,
// recorded as the user.signin event; a failure is recorded too.
func (s *Service) SignIn(ctx context.Context, name, password, label string) (res LoginResult, err error) {
	var target audit.Target
	defer func() { s.refused(ctx, nil, audit.SignIn, target, &err) }()
	wrong := &fault.Error{Kind: fault.Unauthorized, Message: "Incorrect username or password"}
	u, err := s.store.Q().UserByName(ctx, name)
	if fault.Is(err, fault.NotFound) {
		// The name typed is not recorded: it may be a password typed in
		// the wrong box.
		s.noSuchUser(ctx, password)
		return LoginResult{}, wrong
	}
	if err != nil {
		return LoginResult{}, err
	}
	target = userTarget(u)
	ok, err := s.guarded(ctx, u.ID, pathPassword, func() (bool, error) { return s.matches(ctx, u.PasswordHash, password) })
	if err != nil {
		return LoginResult{}, err
	}
	if !ok {
		// No challenge header: npm then prints the message itself.
		return LoginResult{}, wrong
	}
	// Told only with the right password: nobody learns who is disabled
	// without it.
	if u.Disabled() {
		return LoginResult{}, auth.ErrAccountDisabled()
	}
	// Told, like a disabled account, only with the right password.
	if err := policy.DecidePasswordSignIn(s.opts.SSOOnly, u.Admin); err != nil {
		return LoginResult{}, err
	}
	if err := s.RequireOTP(ctx, &auth.Principal{UserID: u.ID, UserName: u.Name, Kind: auth.KindSession},
		policy.OTPLogin, nil); err != nil {
		return LoginResult{}, err
	}
	raw, err := s.newSession(ctx, u, label)
	return LoginResult{User: u, Token: raw}, err
}

// noSuchUser spends on a sign-in for a user that does not exist the work a
// wrong password costs (hashing it), so that the answer's timing does not
// tell which user names exist.
func (s *Service) noSuchUser(ctx context.Context, password string) {
	_, _ = s.matches(ctx, s.dummyHash(), password)
}

// randomPassword is 32 random bytes, base64: the password of the dummy hash.
func randomPassword() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawStdEncoding.EncodeToString(b)
}

// newSession issues a login session token for u: the sign-in's change,
// committed with its user.signin event and the time of the sign-in.
func (s *Service) newSession(ctx context.Context, u store.User, label string) (string, error) {
	var raw string
	err := s.store.InTx(ctx, func(q store.Queries) error {
		var err error
		raw, err = s.startSession(ctx, q, u, label)
		return err
	})
	return raw, err
}

// startSession issues a login session for u in the transaction q runs in,
// with its user.signin event; label names the session and the way in.
func (s *Service) startSession(ctx context.Context, q store.Queries, u store.User, label string) (string, error) {
	return s.startSessionAs(ctx, q, u, userActor(u), label, label)
}

// startSessionAs is startSession with the event's actor (a provider's
// subject beside the account, for a single sign-on) and detail.
func (s *Service) startSessionAs(ctx context.Context, q store.Queries, u store.User, actor *auth.Principal, label, detail string) (string, error) {
	now := s.opts.Now()
	raw, t, err := s.IssueToken(ctx, q, store.Token{UserID: u.ID, Kind: string(auth.KindSession),
		Name: label, ExpiresAt: sql.NullInt64{Int64: now.Add(s.opts.SessionTTL).UnixMilli(), Valid: true}})
	if err != nil {
		return "", err
	}
	if err := q.MarkSignIn(ctx, u.ID, now.UnixMilli()); err != nil {
		return "", err
	}
	target := userTarget(u)
	target.Token = t.Key
	return raw, s.record(ctx, q, actor, audit.SignIn, target, detail)
}

// SessionTTL is how long a login session lives.
func (s *Service) SessionTTL() time.Duration { return s.opts.SessionTTL }

// IssueToken generates a token string, stores its hash with t's settings and
// returns the string (the only time it exists outside the client) and the
// row. The address it is created from is its first known address, so that
// only a use from elsewhere is a token.new_address event.
func (s *Service) IssueToken(ctx context.Context, q store.Queries, t store.Token) (string, store.Token, error) {
	raw, err := s.format.Generate()
	if err != nil {
		return "", store.Token{}, fmt.Errorf("generate token: %w", err)
	}
	h := token.Hash(raw)
	t.Hash = h[:]
	t.Key = uuid.NewString()
	t.Masked = token.Mask(raw)
	if t.CreatedAt == 0 {
		t.CreatedAt = s.opts.Now().UnixMilli()
	}
	t, err = q.CreateToken(ctx, t)
	if err != nil {
		return "", store.Token{}, err
	}
	if ip := auth.ClientIP(ctx); ip.IsValid() {
		if _, err := q.AddTokenAddress(ctx, t.ID, ip.Unmap().String(), t.CreatedAt, auth.MaxTokenAddresses); err != nil {
			return "", store.Token{}, err
		}
	}
	return raw, t, nil
}

// Logout revokes the session token raw, which must belong to p's user.
func (s *Service) Logout(ctx context.Context, p *auth.Principal, raw string) error {
	if !p.Authenticated() {
		return auth.ErrAuthRequired()
	}
	if !s.format.Valid(raw) {
		return fault.NotFoundf("token not found")
	}
	h := token.Hash(raw)
	t, err := s.store.Q().TokenByHash(ctx, h[:])
	if err != nil {
		return err
	}
	if t.UserID != p.UserID {
		return fault.NotFoundf("token not found")
	}
	err = s.store.InTx(ctx, func(q store.Queries) error {
		if err := q.RevokeToken(ctx, t.ID, p.UserID); err != nil {
			return err
		}
		return s.record(ctx, q, p, audit.TokenRevoke, audit.Target{Token: t.Key}, "signed out")
	})
	if err != nil {
		return err
	}
	s.opts.OnRevoke(t.Hash)
	return nil
}

// UserByName returns a user's public record.
func (s *Service) UserByName(ctx context.Context, name string) (store.User, error) {
	return s.store.Q().UserByName(ctx, name)
}
