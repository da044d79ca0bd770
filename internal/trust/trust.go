// Package trust is trusted publishing (npm trust): a package's owners bind it
// to a CI identity (a GitHub repository and workflow file, a GitLab project
// and pipeline file, CircleCI ids, or what a generic issuer's claims say),
// and a job of that CI exchanges its OIDC ID token for a short-lived token
// that may publish, or only stage, that one package. The token is a token
// like any other (kind oidc), listed and revocable by the owner who made the
// configuration, whose rights it acts with, bounded by the configuration.
package trust

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/account"
	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/idtoken"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/registry"
	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/google/uuid"
)

// Options configure the service.
type Options struct {
	// Verifier checks ID tokens; nil when no issuer is trusted, and then
	// every exchange is refused and no configuration can be made.
	Verifier *idtoken.Verifier
	// TokenTTL is the life of an exchanged token; 0 or more than an hour means an hour.
	TokenTTL time.Duration
	// Log hears every exchange, made or refused, with the OIDC subject
	// (never a token); nil discards.
	Log *slog.Logger
	// OnRevoke is called with the hash of each token revoked with its
	// configuration, so caches drop it.
	OnRevoke func(hash []byte)
	// Audit records configurations made and revoked and exchanges made
	// (with the OIDC subject as the actor) or refused; nil records nothing.
	Audit audit.Recorder
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Service keeps trust configurations and exchanges ID tokens.
type Service struct {
	store    *store.Store
	accounts *account.Service
	registry *registry.Service
	opts     Options
}

// NewService returns the trusted publishing service.
func NewService(s *store.Store, accounts *account.Service, reg *registry.Service, opts Options) *Service {
	if opts.TokenTTL <= 0 || opts.TokenTTL > time.Hour {
		opts.TokenTTL = time.Hour
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.OnRevoke == nil {
		opts.OnRevoke = func([]byte) {}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Audit == nil {
		opts.Audit = audit.Discard{}
	}
	return &Service{store: s, accounts: accounts, registry: reg, opts: opts}
}

// Config is a trust configuration as npm trust shows it.
type Config struct {
	ID          string
	Type        string
	Issuer      string
	Claims      map[string]any
	Permissions []string
	CreatedAt   time.Time
	CreatedBy   string
}

// Request is one trust configuration as npm trust sends it, with
// gatehouse's optional Issuer (a trusted issuer's URL) for registries that
// trust several issuers of a kind.
type Request struct {
	Type        string                     `json:"type"`
	Issuer      string                     `json:"issuer"`
	Claims      map[string]json.RawMessage `json:"claims"`
	Permissions []string                   `json:"permissions"`
}

// List returns the package's trust configurations (none or one), to those
// who may manage them: its owners and its organization's owners and admins.
func (s *Service) List(ctx context.Context, p *auth.Principal, name string) ([]Config, error) {
	pkg, err := s.registry.PackageFor(ctx, p, name, policy.ManageTrust)
	if err != nil {
		return nil, err
	}
	row, err := s.store.Q().TrustConfigOf(ctx, pkg.ID)
	if fault.Is(err, fault.NotFound) {
		return []Config{}, nil
	}
	if err != nil {
		return nil, err
	}
	c, err := s.render(ctx, row)
	if err != nil {
		return nil, err
	}
	return []Config{c}, nil
}

// Create adds the package's trust configuration: reqs must hold exactly one
// (npm trust sends a list of one). It needs the package's governance right
// and, like npm, a user with 2FA and a one-time password. A package holds at
// most one configuration (npm's limit): another is a Conflict.
func (s *Service) Create(ctx context.Context, p *auth.Principal, name string, reqs []Request) (Config, error) {
	pkg, err := s.registry.PackageFor(ctx, p, name, policy.ManageTrust)
	if err != nil {
		return Config{}, err
	}
	if len(reqs) != 1 {
		return Config{}, fault.Invalidf("send a list of exactly one trust configuration")
	}
	req := reqs[0]
	claims, err := parseClaims(req.Type, req.Claims)
	if err != nil {
		return Config{}, err
	}
	perms, err := permissions(req.Permissions)
	if err != nil {
		return Config{}, err
	}
	issuer, err := s.issuerFor(req.Type, req.Issuer)
	if err != nil {
		return Config{}, err
	}
	// One per package: said before a one-time password is asked for, so
	// none is spent on a request that cannot succeed (the store still
	// refuses a second one made meanwhile).
	if _, err := s.store.Q().TrustConfigOf(ctx, pkg.ID); err == nil {
		return Config{}, errOneConfig(name)
	} else if !fault.Is(err, fault.NotFound) {
		return Config{}, err
	}
	if err := s.accounts.RequireOTP(ctx, p, policy.OTPTrust, nil); err != nil {
		return Config{}, err
	}
	row := store.TrustConfig{ID: uuid.NewString(), PackageID: pkg.ID, Type: req.Type, Issuer: issuer.URL,
		Claims: string(mustJSON(claims.document(req.Type))), Permissions: string(mustJSON(perms)),
		CreatedBy: p.UserID, CreatedAt: s.opts.Now().UnixMilli()}
	err = s.store.InTx(ctx, func(q store.Queries) error {
		if err := q.CreateTrustConfig(ctx, row); err != nil {
			return err
		}
		return s.opts.Audit.Record(ctx, q, audit.Event{Action: audit.TrustCreate, Actor: audit.ActorOf(p),
			Target: audit.Target{Package: name}, Detail: row.ID + " " + row.Type + " " + row.Issuer + " " + row.Permissions})
	})
	if fault.Is(err, fault.Conflict) {
		return Config{}, errOneConfig(name)
	}
	if err != nil {
		return Config{}, err
	}
	s.opts.Log.InfoContext(ctx, "trusted publishing configured", slog.String("package", name),
		slog.String("user", p.UserName), slog.String("id", row.ID), slog.String("type", row.Type),
		slog.String("issuer", row.Issuer), slog.String("claims", row.Claims), slog.String("permissions", row.Permissions))
	return s.render(ctx, row)
}

func errOneConfig(name string) error {
	return fault.Conflictf("%s already has a trust configuration (npm allows one per package): "+
		"revoke it first with npm trust revoke --id", name)
}

// Revoke removes the package's trust configuration id, and revokes the
// tokens exchanged under it that are still live.
func (s *Service) Revoke(ctx context.Context, p *auth.Principal, name, id string) error {
	pkg, err := s.registry.PackageFor(ctx, p, name, policy.ManageTrust)
	if err != nil {
		return err
	}
	if err := uuid.Validate(id); err != nil {
		return fault.NotFoundf("trust configuration not found")
	}
	if err := s.accounts.RequireOTP(ctx, p, policy.OTPTrust, nil); err != nil {
		return err
	}
	var revoked []store.Token
	err = s.store.InTx(ctx, func(q store.Queries) error {
		row, err := q.TrustConfigOf(ctx, pkg.ID)
		if err != nil {
			return err
		}
		if row.ID != strings.ToLower(id) {
			return fault.NotFoundf("trust configuration not found")
		}
		if err := q.DeleteTrustConfig(ctx, pkg.ID, row.ID); err != nil {
			return err
		}
		revoked, err = q.LiveTrustTokens(ctx, row.CreatedBy, row.ID)
		if err != nil {
			return err
		}
		for _, t := range revoked {
			if err := q.RevokeToken(ctx, t.ID, t.UserID); err != nil {
				return err
			}
		}
		return s.opts.Audit.Record(ctx, q, audit.Event{Action: audit.TrustRevoke, Actor: audit.ActorOf(p),
			Target: audit.Target{Package: name}, Detail: fmt.Sprintf("%s; %d token(s) revoked", row.ID, len(revoked))})
	})
	if err != nil {
		return err
	}
	for _, t := range revoked {
		s.opts.OnRevoke(t.Hash)
	}
	s.opts.Log.InfoContext(ctx, "trusted publishing revoked", slog.String("package", name),
		slog.String("user", p.UserName), slog.String("id", id), slog.Int("tokens_revoked", len(revoked)))
	return nil
}

// Exchanged is a token given for an OIDC identity.
type Exchanged struct {
	Token   string
	Created time.Time
	Expires time.Time
}

// The answers of the exchange, npm's words (the CLI logs body.message).
func errUnauthorized() error {
	return &fault.Error{Kind: fault.Unauthorized, Message: "OIDC token exchange error - unauthorized"}
}

func errPackageNotFound() error {
	return fault.NotFoundf("OIDC token exchange error - package not found")
}

// Exchange verifies the ID token raw that a CI job presents and, when the
// package's trust configuration matches it, issues a token that may publish
// (or stage) that package. An invalid, untrusted or replayed token is
// Unauthorized; every other refusal (no such package, no configuration, a
// configuration of another issuer or other claims, an owner who may no
// longer publish) is the same NotFound, so a token proves nothing about
// which packages exist. Each outcome is logged with the OIDC subject.
func (s *Service) Exchange(ctx context.Context, name, raw string) (Exchanged, error) {
	log := s.opts.Log.With(slog.String("package", name))
	if s.opts.Verifier == nil {
		log.InfoContext(ctx, "trusted publishing exchange refused", slog.String("reason", "no trusted issuers are configured"))
		return Exchanged{}, errUnauthorized()
	}
	id, err := s.opts.Verifier.Verify(ctx, raw)
	if err != nil {
		level := slog.LevelInfo
		if errors.Is(err, idtoken.ErrIssuerUnavailable) {
			level = slog.LevelWarn
		}
		log.Log(ctx, level, "trusted publishing exchange refused", slog.String("reason", err.Error()))
		// Who presented a token that did not verify is not known: the
		// refusal has no actor, and its reason says nothing of the token.
		s.opts.Audit.Refused(ctx, audit.Event{Action: audit.TrustExchange, Target: audit.Target{Package: name},
			Reason: "the ID token did not verify"})
		return Exchanged{}, errUnauthorized()
	}
	log = log.With(slog.String("issuer", id.Issuer.URL), slog.String("subject", id.Subject))
	job := audit.Actor{OIDCSubject: id.Subject}
	refuseAs := func(reason string, err error) (Exchanged, error) {
		log.InfoContext(ctx, "trusted publishing exchange refused", slog.String("reason", reason))
		s.opts.Audit.Refused(ctx, audit.Event{Action: audit.TrustExchange, Actor: job, Target: audit.Target{Package: name},
			Reason: reason})
		return Exchanged{}, err
	}
	refuse := func(reason string) (Exchanged, error) { return refuseAs(reason, errPackageNotFound()) }
	q := s.store.Q()
	pkg, err := q.PackageByName(ctx, name)
	if fault.Is(err, fault.NotFound) {
		return refuse("no such package")
	}
	if err != nil {
		return Exchanged{}, err
	}
	row, err := q.TrustConfigOf(ctx, pkg.ID)
	if fault.Is(err, fault.NotFound) {
		return refuse("the package has no trust configuration")
	}
	if err != nil {
		return Exchanged{}, err
	}
	if row.Issuer != id.Issuer.URL {
		return refuse("the trust configuration is bound to the issuer " + row.Issuer)
	}
	claims, err := storedClaims(row)
	if err != nil {
		return Exchanged{}, err
	}
	if ok, why := claims.match(id); !ok {
		return refuse("the token's claims do not match the trust configuration: " + why)
	}
	var perms []string
	if err := json.Unmarshal([]byte(row.Permissions), &perms); err != nil {
		return Exchanged{}, fmt.Errorf("trust configuration %s: permissions: %w", row.ID, err)
	}
	owner, err := q.UserByID(ctx, row.CreatedBy)
	if err != nil {
		return Exchanged{}, err
	}
	if owner.Disabled() {
		// The token would be refused at its first use; refuse it now, so
		// that the log says so instead of recording an exchange.
		return refuse(owner.Name + ", who made the trust configuration, is disabled")
	}
	grant := &auth.Trust{Package: pkg.Name, Permissions: perms, ConfigID: row.ID, Issuer: id.Issuer.URL, Subject: id.Subject}
	p := &auth.Principal{UserID: owner.ID, UserName: owner.Name, Email: owner.Email, Kind: auth.KindOIDC, Trust: grant}
	// The token acts with the rights of the owner who made the
	// configuration: if they may no longer publish (or stage), it is refused now.
	action := policy.Stage
	if grant.Publishes() {
		action = policy.Publish
	}
	if _, err := s.registry.PackageFor(ctx, p, pkg.Name, action); err != nil {
		return refuse(fmt.Sprintf("%s, who made the trust configuration, may not %s it: %v", owner.Name, action, err))
	}
	now := s.opts.Now()
	expires := now.Add(s.opts.TokenTTL)
	desc := truncate(id.Issuer.URL+" "+id.Subject, 1024)
	var token string
	var rec store.Token
	// The replay mark, the token and its audit event commit together.
	err = s.store.InTx(ctx, func(q store.Queries) error {
		fresh, err := q.UseExchange(ctx, id.ReplayKey, id.Expiry.Add(idtoken.DefaultSkew).UnixMilli(), now.UnixMilli())
		if err != nil {
			return err
		}
		if !fresh {
			return errReplay
		}
		token, rec, err = s.accounts.IssueToken(ctx, q, store.Token{UserID: owner.ID, Kind: string(auth.KindOIDC),
			Name: "trusted publishing: " + pkg.Name, Description: desc, Grants: string(mustJSON(grant)),
			CreatedAt: now.UnixMilli(), ExpiresAt: sql.NullInt64{Int64: expires.UnixMilli(), Valid: true}})
		if err != nil {
			return err
		}
		return s.opts.Audit.Record(ctx, q, audit.Event{Action: audit.TrustExchange,
			Actor:  audit.Actor{UserID: owner.ID, User: owner.Name, TokenKind: string(auth.KindOIDC), OIDCSubject: id.Subject},
			Target: audit.Target{Package: pkg.Name, Token: rec.Key},
			Detail: truncate(id.Issuer.URL+"; "+strings.Join(perms, ",")+"; configuration "+row.ID, 500)})
	})
	if errors.Is(err, errReplay) {
		const reason = "the ID token was exchanged before (replay)"
		log.WarnContext(ctx, "trusted publishing exchange refused", slog.String("reason", reason))
		s.opts.Audit.Refused(ctx, audit.Event{Action: audit.TrustExchange, Actor: job, Target: audit.Target{Package: name},
			Reason: reason})
		return Exchanged{}, errUnauthorized()
	}
	if err != nil {
		return Exchanged{}, err
	}
	log.InfoContext(ctx, "trusted publishing exchange", slog.String("user", owner.Name), slog.String("token_key", rec.Key),
		slog.String("permissions", strings.Join(perms, ",")), slog.Time("expires", expires))
	return Exchanged{Token: token, Created: now, Expires: expires}, nil
}

// errReplay is an ID token presented a second time.
var errReplay = errors.New("trust: ID token replayed")

// issuerFor picks the trusted issuer a new configuration of type typ is
// bound to: the one named, or the only one that can serve the type.
func (s *Service) issuerFor(typ, named string) (idtoken.Issuer, error) {
	if s.opts.Verifier == nil {
		return idtoken.Issuer{}, fault.Forbiddenf("Trusted publishing is not enabled on this registry: its operator trusts no OIDC issuer")
	}
	kinds := kindsFor(typ)
	var fit []idtoken.Issuer
	for _, is := range s.opts.Verifier.Issuers() {
		if slices.Contains(kinds, is.Kind) && (named == "" || named == is.URL) {
			fit = append(fit, is)
		}
	}
	slices.SortFunc(fit, func(a, b idtoken.Issuer) int { return strings.Compare(a.URL, b.URL) })
	switch {
	case len(fit) == 1:
		return fit[0], nil
	case named != "":
		return idtoken.Issuer{}, fault.Invalidf("%s is not a trusted issuer for %s trust configurations", named, typ)
	case len(fit) == 0:
		return idtoken.Issuer{}, fault.Invalidf("this registry trusts no issuer for %s trust configurations", typ)
	}
	urls := make([]string, len(fit))
	for i, is := range fit {
		urls[i] = is.URL
	}
	return idtoken.Issuer{}, fault.Invalidf("this registry trusts several issuers for %s trust configurations (%s): "+
		"name one in the configuration's \"issuer\" field", typ, strings.Join(urls, ", "))
}

// permissions checks a configuration's permissions; none given means
// publish, as npm trust before 11.15 sent none.
func permissions(list []string) ([]string, error) {
	if len(list) == 0 {
		return []string{auth.PermCreatePackage}, nil
	}
	var out []string
	for _, p := range list {
		if p != auth.PermCreatePackage && p != auth.PermCreateStagedPackage {
			return nil, fault.Invalidf("unknown permission %q: want createPackage or createStagedPackage", p)
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out, nil
}

// storedClaims reads a stored configuration's claims.
func storedClaims(row store.TrustConfig) (Claims, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(row.Claims), &raw); err != nil {
		return Claims{}, fmt.Errorf("trust configuration %s: claims: %w", row.ID, err)
	}
	c, err := parseClaims(row.Type, raw)
	if err != nil {
		return Claims{}, fmt.Errorf("trust configuration %s: stored claims: %w", row.ID, err)
	}
	return c, nil
}

// render turns a stored configuration into what npm trust shows.
func (s *Service) render(ctx context.Context, row store.TrustConfig) (Config, error) {
	var claims map[string]any
	if err := json.Unmarshal([]byte(row.Claims), &claims); err != nil {
		return Config{}, fmt.Errorf("trust configuration %s: claims: %w", row.ID, err)
	}
	var perms []string
	if err := json.Unmarshal([]byte(row.Permissions), &perms); err != nil {
		return Config{}, fmt.Errorf("trust configuration %s: permissions: %w", row.ID, err)
	}
	c := Config{ID: row.ID, Type: row.Type, Issuer: row.Issuer, Claims: claims, Permissions: perms,
		CreatedAt: time.UnixMilli(row.CreatedAt)}
	if u, err := s.store.Q().UserByID(ctx, row.CreatedBy); err == nil {
		c.CreatedBy = u.Name
	} else if !fault.Is(err, fault.NotFound) {
		return Config{}, err
	}
	return c, nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("trust: encode %T: %v", v, err))
	}
	return b
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
