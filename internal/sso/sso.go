// Package sso is the relying party of single sign-on with OpenID Connect
// (docs/sso.md): the providers the operator configured, the authorization
// code flow with PKCE, state and nonce, and the ID token's verification
// (signature, issuer, audience, expiry) with go-oidc. What it hands back is
// an Identity: who the provider says signed in. Whether they may sign in,
// and to which account, is for policy and the account service to decide.
//
// A flow in progress is held by the browser alone, in a cookie sealed with
// the server key: the state, the nonce and the PKCE verifier never leave
// the server in the clear, and any node can finish a flow another started.
package sso

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/keyring"
	"golang.org/x/oauth2"
)

// Provider is one OpenID provider as the operator configures it (the
// sso_providers setting). The client secret is read from a file or an
// environment variable, never from the configuration itself.
type Provider struct {
	// Name is the provider's short name, in the paths of the flow
	// (/-/web/sso/NAME/callback is its redirect URI) and in the audit log.
	Name string `json:"name"`
	// Title is what the sign-in button says: "Sign in with TITLE"; empty
	// means Name.
	Title string `json:"title,omitempty"`
	// Issuer is the provider's issuer URL; its discovery document is at
	// ISSUER/.well-known/openid-configuration.
	Issuer   string `json:"issuer"`
	ClientID string `json:"client_id"`
	// ClientSecretFile and ClientSecretEnv name where the client secret is:
	// a file (its first line), or an environment variable. One of them.
	ClientSecretFile string `json:"client_secret_file,omitempty"`
	ClientSecretEnv  string `json:"client_secret_env,omitempty"`
	// Scopes are asked for besides openid; empty means email and profile.
	Scopes []string `json:"scopes,omitempty"`
	// UsernameClaim names the claim that becomes the user name of an
	// account created on first sign-in; empty means preferred_username.
	UsernameClaim string `json:"username_claim,omitempty"`
	// GroupsClaim names the claim listing the person's groups; empty means
	// groups.
	GroupsClaim string `json:"groups_claim,omitempty"`
	// AllowedDomains, when set, admits only people whose verified email is
	// in one of these domains; AllowedGroups, when set, only members of one
	// of these groups. Both set: both must hold.
	AllowedDomains []string `json:"allowed_domains,omitempty"`
	AllowedGroups  []string `json:"allowed_groups,omitempty"`
	// CreateUsers creates an account on a person's first sign-in; without
	// it, only people already linked to an account may sign in.
	CreateUsers bool `json:"create_users,omitempty"`
	// GroupMapping, off when empty, makes members of a provider's group
	// members of an organization here (and of one of its teams) when they
	// sign in. It only adds: see docs/sso.md.
	GroupMapping []GroupMapping `json:"group_mapping,omitempty"`
}

// GroupMapping maps a provider's group to an organization and, optionally,
// one of its teams.
type GroupMapping struct {
	Group string `json:"group"`
	Org   string `json:"org"`
	Team  string `json:"team,omitempty"`
}

// DisplayName is what the sign-in button names.
func (p Provider) DisplayName() string {
	if p.Title != "" {
		return p.Title
	}
	return p.Name
}

// Claim names' defaults.
const (
	DefaultUsernameClaim = "preferred_username"
	DefaultGroupsClaim   = "groups"
)

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// maxProviders bounds the providers configured.
const maxProviders = 20

// Check reports what is wrong with the providers' settings: names, URLs,
// one source for each secret. It reads no secret.
func Check(list []Provider) error {
	var errs []error
	if len(list) > maxProviders {
		errs = append(errs, fmt.Errorf("%d providers: at most %d", len(list), maxProviders))
	}
	seen := map[string]bool{}
	for i, p := range list {
		where := fmt.Sprintf("provider %d (%s)", i+1, p.Name)
		if !namePattern.MatchString(p.Name) {
			errs = append(errs, fmt.Errorf("%s: name must be 1 to 32 of a-z, 0-9, - and _, starting with a letter or digit", where))
		}
		if seen[p.Name] {
			errs = append(errs, fmt.Errorf("%s: listed twice", where))
		}
		seen[p.Name] = true
		if err := checkIssuerURL(p.Issuer); err != nil {
			errs = append(errs, fmt.Errorf("%s: issuer: %w", where, err))
		}
		if p.ClientID == "" {
			errs = append(errs, fmt.Errorf("%s: client_id is required", where))
		}
		if (p.ClientSecretFile == "") == (p.ClientSecretEnv == "") {
			errs = append(errs, fmt.Errorf("%s: give the client secret as exactly one of client_secret_file and client_secret_env", where))
		}
		for _, d := range p.AllowedDomains {
			if d == "" || strings.ContainsAny(d, "@ /") {
				errs = append(errs, fmt.Errorf("%s: allowed domain %q: want a domain such as example.com", where, d))
			}
		}
		for _, m := range p.GroupMapping {
			if m.Group == "" || m.Org == "" || strings.HasPrefix(m.Org, "@") {
				errs = append(errs, fmt.Errorf("%s: group_mapping entries need a group and an org (without @)", where))
				break
			}
		}
		if len(p.Title) > 64 {
			errs = append(errs, fmt.Errorf("%s: title longer than 64 characters", where))
		}
	}
	return errors.Join(errs...)
}

// checkIssuerURL wants https, or http on a loopback host (tests, a provider
// on the same machine).
func checkIssuerURL(s string) error {
	u, err := parseURL(s)
	if err != nil {
		return err
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		return fmt.Errorf("%q: must be https (http only on a loopback address)", s)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q: no query or fragment", s)
	}
	return nil
}

// Identity is who a provider says signed in, from a verified ID token.
type Identity struct {
	Provider      string // the operator's name for the provider
	Issuer        string
	Subject       string
	Email         string
	EmailVerified bool
	// UserName is the value of the provider's username claim, if any.
	UserName string
	Groups   []string
}

// Flow is a sign-in in progress, sealed into the browser's cookie.
type Flow struct {
	Provider string `json:"p"`
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	// Login is the id of the npm web login this sign-in confirms, if any.
	Login string `json:"l,omitempty"`
	// Next is where the website goes after the sign-in.
	Next string `json:"x,omitempty"`
	// Link is the id of the signed-in account this sign-in links the
	// provider to, if any (the profile page's "Link").
	Link int64 `json:"k,omitempty"`
	// Expires is when the flow stops being accepted (Unix ms).
	Expires int64 `json:"e"`
}

// FlowTTL bounds how long a person may take at the provider.
const FlowTTL = 10 * time.Minute

// Options configure the relying party.
type Options struct {
	// Client makes the requests to the providers (discovery, keys, the
	// token endpoint); nil means one with a 10-second timeout.
	Client *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Getenv reads the environment, for client_secret_env; nil means os.Getenv.
	Getenv func(string) string
}

// Relying is the relying party of every configured provider.
type Relying struct {
	list   []Provider
	rps    map[string]*party
	sealer *keyring.Sealer
	client *http.Client
	now    func() time.Time
}

// party is one provider's relying party, its discovery made on first use.
type party struct {
	cfg    Provider
	secret string

	mu       sync.Mutex
	provider *oidc.Provider
	failedAt time.Time
}

// retryDiscovery is how long a failed discovery is remembered before a
// sign-in asks the provider again.
const retryDiscovery = 30 * time.Second

// New returns the relying party of the providers in list, reading each
// client secret; the sealer (from the server key) seals the flows.
func New(list []Provider, sealer *keyring.Sealer, opts Options) (*Relying, error) {
	if err := Check(list); err != nil {
		return nil, err
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	r := &Relying{list: list, rps: map[string]*party{}, sealer: sealer, client: opts.Client, now: opts.Now}
	for _, p := range list {
		secret, err := readSecret(p, opts.Getenv)
		if err != nil {
			return nil, err
		}
		r.rps[p.Name] = &party{cfg: p, secret: secret}
	}
	return r, nil
}

// readSecret reads p's client secret from its file or variable. The error
// names where it looked, never what it found.
func readSecret(p Provider, getenv func(string) string) (string, error) {
	var secret string
	if p.ClientSecretFile != "" {
		b, err := os.ReadFile(p.ClientSecretFile)
		if err != nil {
			return "", fmt.Errorf("sso provider %s: client secret: %w", p.Name, err)
		}
		secret, _, _ = strings.Cut(string(b), "\n")
	} else {
		secret = getenv(p.ClientSecretEnv)
	}
	secret = strings.TrimSpace(secret)
	if secret == "" {
		where := p.ClientSecretFile
		if where == "" {
			where = "$" + p.ClientSecretEnv
		}
		return "", fmt.Errorf("sso provider %s: client secret: %s is empty", p.Name, where)
	}
	return secret, nil
}

// Providers lists the configured providers, in the order configured.
func (r *Relying) Providers() []Provider {
	if r == nil {
		return nil
	}
	return slices.Clone(r.list)
}

// Provider returns the provider named name.
func (r *Relying) Provider(name string) (Provider, bool) {
	if r == nil {
		return Provider{}, false
	}
	p, ok := r.rps[name]
	if !ok {
		return Provider{}, false
	}
	return p.cfg, true
}

// errUnknown answers for a provider that is not configured.
func errUnknown() error { return fault.NotFoundf("There is no such sign-in provider.") }

// discover returns the provider's discovery, made on first use.
func (r *Relying) discover(p *party) (*oidc.Provider, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.provider != nil {
		return p.provider, nil
	}
	if !p.failedAt.IsZero() && r.now().Sub(p.failedAt) < retryDiscovery {
		return nil, unavailable(p.cfg)
	}
	// The provider keeps this context for its key fetches: it must not end
	// with the request that happened to discover it. The client's timeout
	// bounds each request.
	op, err := oidc.NewProvider(oidc.ClientContext(context.Background(), r.client), p.cfg.Issuer)
	if err != nil {
		p.failedAt = r.now()
		return nil, fmt.Errorf("%w (discovery of %s: %v)", unavailable(p.cfg), p.cfg.Issuer, err)
	}
	p.provider = op
	return op, nil
}

func unavailable(p Provider) error {
	return &fault.Error{Kind: fault.Upstream, RetryAfter: int(retryDiscovery.Seconds()),
		Message: "Sign-in with " + p.DisplayName() + " is unavailable right now; try again in a minute."}
}

func (r *Relying) oauth(p *party, op *oidc.Provider, redirectURL string) *oauth2.Config {
	scopes := []string{oidc.ScopeOpenID}
	extra := p.cfg.Scopes
	if len(extra) == 0 {
		extra = []string{"email", "profile"}
	}
	for _, s := range extra {
		if s != oidc.ScopeOpenID && !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	return &oauth2.Config{ClientID: p.cfg.ClientID, ClientSecret: p.secret, Endpoint: op.Endpoint(),
		RedirectURL: redirectURL, Scopes: scopes}
}

// Start begins a sign-in with provider name: it returns the provider's
// authorization URL to send the browser to, and the sealed flow to keep in
// the browser's cookie until the callback. f carries Login, Next and Link;
// Start fills in the rest.
func (r *Relying) Start(ctx context.Context, name, redirectURL string, f Flow) (authURL, sealed string, err error) {
	p, ok := r.rps[name]
	if !ok {
		return "", "", errUnknown()
	}
	op, err := r.discover(p)
	if err != nil {
		return "", "", err
	}
	f.Provider = name
	f.State, f.Nonce, f.Verifier = random(), random(), oauth2.GenerateVerifier()
	f.Expires = r.now().Add(FlowTTL).UnixMilli()
	plain, err := json.Marshal(f)
	if err != nil {
		return "", "", fmt.Errorf("sso flow: %w", err)
	}
	box, err := r.sealer.Seal(plain, []byte("sso flow "+name))
	if err != nil {
		return "", "", err
	}
	authURL = r.oauth(p, op, redirectURL).AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier))
	return authURL, base64.RawURLEncoding.EncodeToString(box), nil
}

// Refusals of a callback. Each is Unauthorized, and says what to do; the
// audit log keeps the reason.
var (
	ErrNoFlow  = refusal("no sign-in in progress in this browser (or it expired); start again")
	ErrState   = refusal("the sign-in answer does not match the sign-in this browser started (state); start again")
	ErrNonce   = refusal("the provider's ID token was not issued for this sign-in (nonce); start again")
	ErrIDToken = refusal("the provider's ID token was refused")
)

func refusal(msg string) *fault.Error {
	return &fault.Error{Kind: fault.Unauthorized, Message: "Single sign-on failed: " + msg + "."}
}

// Open reads the flow sealed for provider name, refusing one expired or
// sealed for another provider.
func (r *Relying) Open(name, sealed string) (Flow, error) {
	box, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || sealed == "" {
		return Flow{}, ErrNoFlow
	}
	plain, err := r.sealer.Open(box, []byte("sso flow "+name))
	if err != nil {
		return Flow{}, ErrNoFlow
	}
	var f Flow
	if err := json.Unmarshal(plain, &f); err != nil || f.Provider != name || f.Expires <= r.now().UnixMilli() {
		return Flow{}, ErrNoFlow
	}
	return f, nil
}

// Finish completes flow f at its callback: the state the provider sent
// back must be the flow's, the code is exchanged (with the PKCE verifier)
// for an ID token, which must be signed by the provider's keys, for this
// client, unexpired and carry the flow's nonce. errParam is the provider's
// error answer, if it sent one instead of a code.
func (r *Relying) Finish(ctx context.Context, f Flow, redirectURL, state, code, errParam string) (Identity, error) {
	p, ok := r.rps[f.Provider]
	if !ok {
		return Identity{}, errUnknown()
	}
	if state == "" || len(state) != len(f.State) || !constantEqual(state, f.State) {
		return Identity{}, ErrState
	}
	if errParam != "" {
		return Identity{}, refusal("the provider answered " + strings.Map(printable, truncate(errParam, 64)))
	}
	if code == "" {
		return Identity{}, refusal("the provider sent no code")
	}
	op, err := r.discover(p)
	if err != nil {
		return Identity{}, err
	}
	ctx = oidc.ClientContext(ctx, r.client)
	tok, err := r.oauth(p, op, redirectURL).Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		return Identity{}, fmt.Errorf("%w (%v)", refusal("the provider did not accept the code"), err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, refusal("the provider sent no ID token")
	}
	return r.verify(ctx, p, op, raw, f.Nonce)
}

// verify checks an ID token: signature (the provider's published keys),
// issuer, audience (this client), expiry, and nonce.
func (r *Relying) verify(ctx context.Context, p *party, op *oidc.Provider, raw, nonce string) (Identity, error) {
	v := op.Verifier(&oidc.Config{ClientID: p.cfg.ClientID, Now: r.now})
	idt, err := v.Verify(ctx, raw)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrIDToken, err)
	}
	if idt.Nonce == "" || !constantEqual(idt.Nonce, nonce) {
		return Identity{}, ErrNonce
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrIDToken, err)
	}
	id := Identity{Provider: p.cfg.Name, Issuer: idt.Issuer, Subject: idt.Subject}
	id.Email, _ = claims["email"].(string)
	id.EmailVerified = verified(claims["email_verified"])
	uc := p.cfg.UsernameClaim
	if uc == "" {
		uc = DefaultUsernameClaim
	}
	id.UserName, _ = claims[uc].(string)
	gc := p.cfg.GroupsClaim
	if gc == "" {
		gc = DefaultGroupsClaim
	}
	id.Groups = groups(claims[gc])
	if id.Subject == "" {
		return Identity{}, fmt.Errorf("%w: no subject", ErrIDToken)
	}
	return id, nil
}

// verified reads email_verified, which some providers send as a string.
func verified(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case string:
		return v == "true"
	}
	return false
}

// maxGroups bounds the groups read from a token.
const maxGroups = 1000

// groups reads a groups claim: a list of strings (or one string).
func groups(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, g := range v {
			if s, ok := g.(string); ok && s != "" {
				out = append(out, s)
			}
			if len(out) == maxGroups {
				break
			}
		}
		return out
	}
	return nil
}
