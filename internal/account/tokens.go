package account

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/gatehouse-registry/gatehouse/internal/token"
)

// TokenPolicy are the server's rules for access tokens (spec/tokens.md sections 1 and 4).
type TokenPolicy struct {
	// LegacyTokens allows creating and using read-only, automation and publish tokens.
	LegacyTokens bool
	// MaxWriteTokenDays caps the lifetime of granular tokens that can write or bypass 2FA.
	MaxWriteTokenDays int
	// DefaultWriteTokenDays and DefaultReadTokenDays apply when no expiry is given.
	DefaultWriteTokenDays int
	DefaultReadTokenDays  int
	// LegacyMaxDays, when positive, makes legacy tokens expire after that many days.
	LegacyMaxDays int
	// MaxTokensPerUser bounds the live tokens of one user.
	MaxTokensPerUser int
}

// DefaultTokenPolicy is npm's policy as of 2026.
func DefaultTokenPolicy() TokenPolicy {
	return TokenPolicy{LegacyTokens: true, MaxWriteTokenDays: 90, DefaultWriteTokenDays: 7,
		DefaultReadTokenDays: 30, MaxTokensPerUser: 1000}
}

// Limits on granular token fields.
const (
	maxNameLen        = 128
	maxDescriptionLen = 1024
	maxSelections     = 50
	maxCIDRs          = 50
)

// TokenRequest is a request to create an access token, as the API or the
// website sends it. Fields left nil were not given.
type TokenRequest struct {
	Password string
	// Legacy kinds: Automation, or ReadOnly true/false. Nil for granular.
	ReadOnly   *bool
	Automation *bool

	Name        *string
	Description *string
	// ExpiresDays or ExpiresAt (an absolute time); at most one.
	ExpiresDays *int
	ExpiresAt   *time.Time
	CIDR        []string

	PackagesAll bool
	Packages    []string
	Scopes      []string
	PackagePerm *string
	Orgs        []string
	OrgPerm     *string
	Bypass2FA   bool

	// granularFields lists the granular-only fields given, for telling the kinds apart.
	GranularFieldGiven bool
}

// CreatedToken is a new token: its stored record and the string, which is
// never available again.
type CreatedToken struct {
	Token  string
	Record store.Token
}

// TokenInfo is a stored token decoded for display and enforcement.
type TokenInfo struct {
	Record store.Token
	Grants auth.Grants
	CIDR   []string
	// Trust is what a token exchanged for a CI job's OIDC identity may do
	// (kind oidc); nil for every other kind.
	Trust *auth.Trust
}

// Decode reads a stored token's JSON columns.
func Decode(t store.Token) (TokenInfo, error) {
	info := TokenInfo{Record: t}
	if err := json.Unmarshal([]byte(t.CIDR), &info.CIDR); err != nil {
		return info, fmt.Errorf("decode token cidr: %w", err)
	}
	if err := json.Unmarshal([]byte(t.Grants), &info.Grants); err != nil {
		return info, fmt.Errorf("decode token grants: %w", err)
	}
	if auth.Kind(t.Kind) == auth.KindOIDC {
		info.Trust = &auth.Trust{}
		if err := json.Unmarshal([]byte(t.Grants), info.Trust); err != nil {
			return info, fmt.Errorf("decode token trust: %w", err)
		}
	}
	return info, nil
}

func invalid(msg string) error { return fault.Invalidf("%s", msg) }

// ParseCIDRs validates a list of CIDR ranges (IPv4 and IPv6), with npm's message.
func ParseCIDRs(list []string) ([]netip.Prefix, error) {
	if len(list) > maxCIDRs {
		return nil, fault.Invalidf("CIDR whitelist can hold at most %d entries", maxCIDRs)
	}
	out := make([]netip.Prefix, 0, len(list))
	for _, c := range list {
		p, err := netip.ParsePrefix(strings.TrimSpace(c))
		if err != nil {
			return nil, fault.Invalidf("CIDR whitelist contains invalid CIDR entry: %s", c)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// permission parses a permission value with npm's messages.
func permission(v *string, field string, hasSelection bool) (auth.Permission, error) {
	if v == nil || *v == "" {
		if hasSelection {
			return auth.ReadOnly, nil
		}
		return auth.NoAccess, nil
	}
	p := auth.Permission(*v)
	switch {
	case field == "packages_and_scopes_permission" && (p == auth.NoAccess || p == auth.ReadOnly || p == auth.ReadWrite || p == auth.ReadWriteStageOnly):
		return p, nil
	case field == "orgs_permission" && (p == auth.NoAccess || p == auth.ReadOnly || p == auth.ReadWrite):
		return p, nil
	case field == "packages_and_scopes_permission":
		return "", invalid("Invalid packages_and_scopes_permission. Must be one of: no-access, read-only, read-write, read-write-stage-only")
	default:
		return "", invalid("Invalid orgs_permission. Must be one of: no-access, read-only, read-write")
	}
}

// normalizeSelections trims, de-duplicates and checks package and scope names.
func normalizeSelections(packages, scopes, orgs []string, packagesAll bool) ([]string, []string, []string, bool, error) {
	var pk []string
	seen := map[string]bool{}
	for _, p := range packages {
		p = strings.TrimSpace(p)
		if p == "*" {
			packagesAll = true
			continue
		}
		if p == "" || seen["p"+p] {
			continue
		}
		if err := validatePackageSelection(p); err != nil {
			return nil, nil, nil, false, err
		}
		seen["p"+p] = true
		pk = append(pk, p)
	}
	var sc []string
	for _, s := range scopes {
		s = strings.TrimPrefix(strings.TrimSpace(s), "@")
		s = strings.TrimSuffix(s, "/")
		if s == "" || seen["s"+s] {
			continue
		}
		if ValidateUserName(s) != nil {
			return nil, nil, nil, false, fault.Invalidf("Invalid scope: %s", s)
		}
		seen["s"+s] = true
		sc = append(sc, s)
	}
	var og []string
	for _, o := range orgs {
		o = strings.TrimPrefix(strings.TrimSpace(o), "@")
		if o == "" || seen["o"+o] {
			continue
		}
		if ValidateUserName(o) != nil {
			return nil, nil, nil, false, fault.Invalidf("Invalid organization: %s", o)
		}
		seen["o"+o] = true
		og = append(og, o)
	}
	if len(pk)+len(sc) > maxSelections {
		return nil, nil, nil, false, fault.Invalidf("A token can select at most %d packages and scopes", maxSelections)
	}
	if len(og) > maxSelections {
		return nil, nil, nil, false, fault.Invalidf("A token can select at most %d organizations", maxSelections)
	}
	sort.Strings(pk)
	sort.Strings(sc)
	sort.Strings(og)
	return pk, sc, og, packagesAll, nil
}

// validatePackageSelection accepts a package name as npm would look it up,
// capital letters included: packages with legacy names (JSONStream) are
// granted by their exact name.
func validatePackageSelection(name string) error {
	ok := len(name) <= 214 && !strings.ContainsAny(name, " \t\n\"'()*!~%\\")
	if strings.HasPrefix(name, "@") {
		scope, bare, found := strings.Cut(name[1:], "/")
		ok = ok && found && scope != "" && bare != "" && !strings.Contains(bare, "/")
	} else {
		ok = ok && !strings.Contains(name, "/") && !strings.HasPrefix(name, ".") && !strings.HasPrefix(name, "_")
	}
	if !ok {
		return fault.Invalidf("Invalid package name: %s", name)
	}
	return nil
}

// CreateToken checks the user's password and creates an access token for p's
// user as req describes. Only a login session or a legacy publish token may
// create tokens.
func (s *Service) CreateToken(ctx context.Context, p *auth.Principal, req TokenRequest) (_ CreatedToken, err error) {
	defer s.refused(ctx, p, audit.TokenCreate, audit.Target{}, &err)
	if err := MayManageTokens(p); err != nil {
		return CreatedToken{}, err
	}
	rec, err := s.planToken(req)
	if err != nil {
		return CreatedToken{}, err
	}
	u, err := s.store.Q().UserByID(ctx, p.UserID)
	if err != nil {
		return CreatedToken{}, err
	}
	if err := s.proveUser(ctx, p, u, req.Password, "Password is required to create a token"); err != nil {
		return CreatedToken{}, err
	}
	if err := s.RequireOTP(ctx, p, policy.OTPTokens, nil); err != nil {
		return CreatedToken{}, err
	}
	rec.UserID = u.ID
	var out CreatedToken
	err = s.store.InTx(ctx, func(q store.Queries) error {
		n, err := q.CountLiveTokens(ctx, u.ID, s.opts.Now().UnixMilli())
		if err != nil {
			return err
		}
		if n >= s.tokens.MaxTokensPerUser {
			return fault.Invalidf("You have reached the maximum number of tokens")
		}
		raw, stored, err := s.IssueToken(ctx, q, rec)
		if err != nil {
			return err
		}
		out = CreatedToken{Token: raw, Record: stored}
		info, err := Decode(stored)
		if err != nil {
			return err
		}
		detail := stored.Kind
		if sum := info.Summary(); sum != "" && stored.Kind == string(auth.KindGranular) {
			detail += ": " + sum
		}
		return s.record(ctx, q, p, audit.TokenCreate, audit.Target{Token: stored.Key}, detail)
	})
	return out, err
}

// MayManageTokens refuses token management to every credential but a login
// session and a legacy publish token.
func MayManageTokens(p *auth.Principal) error {
	return policy.DecideAccount(p, policy.ManageTokens)
}

// planToken validates req and returns the record to store (without user, key and hash).
func (s *Service) planToken(req TokenRequest) (store.Token, error) {
	now := s.opts.Now()
	legacy := (req.ReadOnly != nil || req.Automation != nil) && !req.GranularFieldGiven
	if legacy {
		return s.planLegacy(req, now)
	}
	if req.Name == nil || strings.TrimSpace(*req.Name) == "" {
		return store.Token{}, invalid("Token name is required")
	}
	name := strings.TrimSpace(*req.Name)
	if len([]rune(name)) > maxNameLen {
		return store.Token{}, fault.Invalidf("Token name must be at most %d characters", maxNameLen)
	}
	desc := ""
	if req.Description != nil {
		desc = strings.TrimSpace(*req.Description)
		if len([]rune(desc)) > maxDescriptionLen {
			return store.Token{}, fault.Invalidf("Token description must be at most %d characters", maxDescriptionLen)
		}
	}
	packages, scopes, orgs, all, err := normalizeSelections(req.Packages, req.Scopes, req.Orgs, req.PackagesAll)
	if err != nil {
		return store.Token{}, err
	}
	hasPackages := all || len(packages) > 0 || len(scopes) > 0
	pkgPerm, err := permission(req.PackagePerm, "packages_and_scopes_permission", hasPackages)
	if err != nil {
		return store.Token{}, err
	}
	orgPerm, err := permission(req.OrgPerm, "orgs_permission", len(orgs) > 0)
	if err != nil {
		return store.Token{}, err
	}
	switch {
	case !hasPackages && len(orgs) == 0 && pkgPerm == auth.NoAccess && orgPerm == auth.NoAccess:
		return store.Token{}, invalid("Please select at least one: package, scope or organization.")
	case pkgPerm != auth.NoAccess && !hasPackages:
		return store.Token{}, invalid("You must select at least one package or scope if granting package/scopes permissions to this token.")
	case orgPerm != auth.NoAccess && len(orgs) == 0:
		return store.Token{}, invalid("You must select at least one organization if granting organization permissions to this token.")
	case pkgPerm == auth.NoAccess && orgPerm == auth.NoAccess:
		return store.Token{}, invalid("You must have at least one package / scope or organization added to this token.")
	}
	if pkgPerm == auth.NoAccess {
		packages, scopes, all = nil, nil, false
	}
	if orgPerm == auth.NoAccess {
		orgs = nil
	}
	writes := pkgPerm == auth.ReadWrite || pkgPerm == auth.ReadWriteStageOnly || orgPerm == auth.ReadWrite || req.Bypass2FA
	expires, err := s.expiry(req, now, writes)
	if err != nil {
		return store.Token{}, err
	}
	cidrs, err := ParseCIDRs(req.CIDR)
	if err != nil {
		return store.Token{}, err
	}
	grants := auth.Grants{PackagesAll: all, Packages: packages, Scopes: scopes, PackagePerm: pkgPerm, Orgs: orgs, OrgPerm: orgPerm}
	return store.Token{
		Kind: string(auth.KindGranular), Name: name, Description: desc,
		CIDR: encodeCIDRs(cidrs), Grants: string(mustJSON(grants)), Bypass2FA: req.Bypass2FA,
		ExpiresAt: sql.NullInt64{Int64: expires.UnixMilli(), Valid: true},
	}, nil
}

func (s *Service) planLegacy(req TokenRequest, now time.Time) (store.Token, error) {
	if !s.tokens.LegacyTokens {
		return store.Token{}, fault.Forbiddenf("Legacy tokens are disabled on this registry; create a granular access token.")
	}
	kind := auth.KindPublish
	switch {
	case req.Automation != nil && *req.Automation:
		kind = auth.KindAutomation
	case req.ReadOnly != nil && *req.ReadOnly:
		kind = auth.KindReadOnly
	}
	cidrs, err := ParseCIDRs(req.CIDR)
	if err != nil {
		return store.Token{}, err
	}
	name := ""
	if req.Name != nil {
		name = strings.TrimSpace(*req.Name)
		if len([]rune(name)) > maxNameLen {
			return store.Token{}, fault.Invalidf("Token name must be at most %d characters", maxNameLen)
		}
	}
	t := store.Token{Kind: string(kind), Name: name, CIDR: encodeCIDRs(cidrs)}
	if s.tokens.LegacyMaxDays > 0 {
		t.ExpiresAt = sql.NullInt64{Int64: now.AddDate(0, 0, s.tokens.LegacyMaxDays).UnixMilli(), Valid: true}
	}
	return t, nil
}

// expiry works out a granular token's expiry time from req.
func (s *Service) expiry(req TokenRequest, now time.Time, writes bool) (time.Time, error) {
	var at time.Time
	switch {
	case req.ExpiresDays != nil && req.ExpiresAt != nil:
		return at, invalid("Give either expires (days) or expiry (a date), not both")
	case req.ExpiresDays != nil:
		if *req.ExpiresDays < 1 {
			return at, invalid("Expiration must be at least 1 day in the future")
		}
		if *req.ExpiresDays > 100*365 {
			return at, invalid("Expiration is too far in the future")
		}
		at = now.AddDate(0, 0, *req.ExpiresDays)
	case req.ExpiresAt != nil:
		at = *req.ExpiresAt
		// A date typed on a form means the end of that day; allow a minute of clock skew.
		if at.Before(now.Add(24*time.Hour - time.Minute)) {
			return at, invalid("Expiration must be at least 1 day in the future")
		}
		if at.After(now.AddDate(100, 0, 0)) {
			return at, invalid("Expiration is too far in the future")
		}
	case writes:
		at = now.AddDate(0, 0, s.tokens.DefaultWriteTokenDays)
	default:
		at = now.AddDate(0, 0, s.tokens.DefaultReadTokenDays)
	}
	if writes && s.tokens.MaxWriteTokenDays > 0 && at.After(now.AddDate(0, 0, s.tokens.MaxWriteTokenDays).Add(time.Minute)) {
		return at, fault.Invalidf("Read-write tokens cannot have expiration longer than %d days", s.tokens.MaxWriteTokenDays)
	}
	return at, nil
}

func encodeCIDRs(ps []netip.Prefix) string {
	list := make([]string, len(ps))
	for i, p := range ps {
		list[i] = p.String()
	}
	return string(mustJSON(list))
}

func mustJSON(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("account: encode %T: %v", v, err))
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}

// TokenPage is one page of a user's access tokens.
type TokenPage struct {
	Tokens []TokenInfo
	Total  int
}

// ListTokens returns one page of p's user's access tokens (sessions excluded), newest first.
func (s *Service) ListTokens(ctx context.Context, p *auth.Principal, page, perPage int) (TokenPage, error) {
	if err := MayManageTokens(p); err != nil {
		return TokenPage{}, err
	}
	return s.listTokens(ctx, p.UserID, page, perPage)
}

// purgeAfter is how long an expired token stays listed (as expired) before it is deleted.
const purgeAfter = 30 * 24 * time.Hour

func (s *Service) listTokens(ctx context.Context, userID int64, page, perPage int) (TokenPage, error) {
	s.flushLastUse(ctx)
	q := s.store.Q()
	if err := q.PurgeExpiredTokens(ctx, userID, s.opts.Now().Add(-purgeAfter).UnixMilli()); err != nil {
		return TokenPage{}, err
	}
	recs, total, err := q.ListTokens(ctx, userID, page*perPage, perPage)
	if err != nil {
		return TokenPage{}, err
	}
	out := TokenPage{Total: total}
	for _, r := range recs {
		info, err := Decode(r)
		if err != nil {
			return TokenPage{}, err
		}
		out.Tokens = append(out.Tokens, info)
	}
	return out, nil
}

// RevokeToken revokes one of p's user's tokens, named by its whole string, its
// key, or a unique key prefix of at least 6 characters.
func (s *Service) RevokeToken(ctx context.Context, p *auth.Principal, ref string) (_ store.Token, err error) {
	defer s.refused(ctx, p, audit.TokenRevoke, audit.Target{}, &err)
	if err := MayManageTokens(p); err != nil {
		return store.Token{}, err
	}
	// Revoking asks for an OTP like a profile change does, and, unlike token
	// creation, stays possible under require_2fa: taking power away is always allowed.
	if err := s.RequireOTP(ctx, p, policy.OTPProfile, nil); err != nil {
		return store.Token{}, err
	}
	return s.revokeFor(ctx, p, p.UserID, ref)
}

// AdminListTokens returns every live access token of the named user, for the
// administrator's command line.
func (s *Service) AdminListTokens(ctx context.Context, userName string) ([]TokenInfo, error) {
	u, err := s.store.Q().UserByName(ctx, userName)
	if err != nil {
		return nil, err
	}
	var all []TokenInfo
	for page := 0; ; page++ {
		res, err := s.listTokens(ctx, u.ID, page, 100)
		if err != nil {
			return nil, err
		}
		all = append(all, res.Tokens...)
		if (page+1)*100 >= res.Total {
			return all, nil
		}
	}
}

// AdminRevokeToken revokes any user's token, named by its key, a unique key
// prefix of at least 6 characters, or the whole token string; p is an
// administrator, or the operator at the command line.
func (s *Service) AdminRevokeToken(ctx context.Context, p *auth.Principal, ref string) (store.Token, error) {
	if err := policy.DecideAdmin(p, policy.AdminChange); err != nil {
		return store.Token{}, err
	}
	return s.revokeFor(ctx, p, 0, ref)
}

// revokeFor revokes, for p, the token ref of user userID (of any user when
// userID is 0), with its audit event.
func (s *Service) revokeFor(ctx context.Context, p *auth.Principal, userID int64, ref string) (store.Token, error) {
	notFound := fault.NotFoundf("token not found")
	var rec store.Token
	err := s.store.InTx(ctx, func(q store.Queries) error {
		var err error
		if s.format.Valid(ref) {
			h := token.Hash(ref)
			rec, err = q.TokenByHash(ctx, h[:])
		} else if len(ref) >= 6 && !strings.ContainsAny(ref, "%_") {
			rec, err = q.TokenByKeyPrefix(ctx, userID, ref)
		} else {
			return notFound
		}
		if err != nil {
			if fault.Is(err, fault.NotFound) {
				return notFound
			}
			return err
		}
		if (userID != 0 && rec.UserID != userID) || rec.RevokedAt.Valid {
			return notFound
		}
		if err := q.RevokeToken(ctx, rec.ID, rec.UserID); err != nil {
			return err
		}
		target := audit.Target{Token: rec.Key}
		if rec.UserID != p.UserID {
			owner, err := q.UserByID(ctx, rec.UserID)
			if err != nil {
				return err
			}
			target.UserID, target.User = owner.ID, owner.Name
		}
		return s.record(ctx, q, p, audit.TokenRevoke, target, rec.Kind)
	})
	if err == nil {
		s.opts.OnRevoke(rec.Hash)
	}
	return rec, err
}

// Expired reports whether the token's expiry has passed at now.
func (t TokenInfo) Expired(now time.Time) bool {
	return t.Record.ExpiresAt.Valid && t.Record.ExpiresAt.Int64 <= now.UnixMilli()
}

// Summary describes in a few words what a token may do, for lists.
func (t TokenInfo) Summary() string {
	switch auth.Kind(t.Record.Kind) {
	case auth.KindReadOnly:
		return "read packages"
	case auth.KindAutomation:
		return "read and publish packages, no OTP"
	case auth.KindPublish:
		return "everything the user may do"
	case auth.KindSession:
		return "login session"
	case auth.KindOIDC:
		return t.Trust.Summary()
	}
	g := t.Grants
	var parts []string
	if g.PackagePerm != "" && g.PackagePerm != auth.NoAccess {
		var what []string
		if g.PackagesAll {
			what = append(what, "all packages")
		}
		what = append(what, g.Packages...)
		for _, sc := range g.Scopes {
			what = append(what, "@"+sc)
		}
		parts = append(parts, string(g.PackagePerm)+" on "+strings.Join(what, ", "))
	}
	if g.OrgPerm != "" && g.OrgPerm != auth.NoAccess {
		parts = append(parts, string(g.OrgPerm)+" on orgs "+strings.Join(g.Orgs, ", "))
	}
	if t.Record.Bypass2FA {
		parts = append(parts, "bypasses 2FA")
	}
	return strings.Join(parts, "; ")
}
