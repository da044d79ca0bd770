package npmapi

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/account"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// tokenFields are the fields POST /-/npm/v1/tokens accepts, with their
// aliases (spec/tokens.md section 3); any other field is refused.
var tokenFields = map[string]bool{
	"password": true, "readonly": true, "automation": true,
	"name": true, "description": true, "token_description": true,
	"expires": true, "expiry": true, "cidr_whitelist": true, "cidr": true,
	"packages_and_scopes_permission": true, "packages_all": true, "packages": true, "scopes": true,
	"orgs_permission": true, "orgs": true, "bypass_2fa": true,
}

// granularOnly are the fields that make a request a granular token request.
var granularOnly = []string{"description", "token_description", "expires", "expiry",
	"packages_and_scopes_permission", "packages_all", "packages", "scopes", "orgs_permission", "orgs", "bypass_2fa"}

// optionalField decodes the field key of raw as a T: nil when it is missing
// or null, an Invalid error saying message when it is not a T.
func optionalField[T any](raw map[string]json.RawMessage, key, message string) (*T, error) {
	v, ok := raw[key]
	if !ok || string(v) == "null" {
		return nil, nil
	}
	var x T
	if json.Unmarshal(v, &x) != nil {
		return nil, fault.Invalidf("%s", message)
	}
	return &x, nil
}

// parseTokenRequest decodes a token-create body strictly: unknown fields and
// wrong types are refused with npm's messages where npm has one.
func parseTokenRequest(raw map[string]json.RawMessage) (account.TokenRequest, error) {
	var req account.TokenRequest
	var unknown []string
	for k := range raw {
		if !tokenFields[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return req, fault.Invalidf("Unknown field: %s", strings.Join(unknown, ", "))
	}
	str := func(key string) (*string, error) {
		return optionalField[string](raw, key, key+" must be a string")
	}
	boolean := func(key string) (*bool, error) {
		return optionalField[bool](raw, key, key+" must be true or false")
	}
	list := func(key, message string) ([]string, error) {
		l, err := optionalField[[]string](raw, key, message)
		if l == nil {
			return nil, err
		}
		return *l, nil
	}
	var err error
	pw, err := str("password")
	if err != nil {
		return req, err
	}
	if pw != nil {
		req.Password = *pw
	}
	if req.ReadOnly, err = boolean("readonly"); err != nil {
		return req, err
	}
	if req.Automation, err = boolean("automation"); err != nil {
		return req, err
	}
	if req.Name, err = str("name"); err != nil {
		return req, fault.Invalidf("Token name must be a string")
	}
	if req.Description, err = str("description"); err != nil {
		return req, err
	}
	if req.Description == nil {
		if req.Description, err = str("token_description"); err != nil {
			return req, err
		}
	}
	if req.Packages, err = list("packages", "Packages must be an array"); err != nil {
		return req, err
	}
	if req.Scopes, err = list("scopes", "Scopes must be an array"); err != nil {
		return req, err
	}
	if req.Orgs, err = list("orgs", "Organizations must be an array"); err != nil {
		return req, err
	}
	for _, key := range []string{"cidr_whitelist", "cidr"} {
		l, err := list(key, "CIDR whitelist must be an array of CIDR ranges")
		if err != nil {
			// npm 10 documents a comma-separated string too.
			s, serr := str(key)
			if serr != nil || s == nil {
				return req, err
			}
			l = strings.Split(*s, ",")
		}
		req.CIDR = append(req.CIDR, l...)
	}
	all, err := boolean("packages_all")
	if err != nil {
		return req, err
	}
	req.PackagesAll = all != nil && *all
	if req.PackagePerm, err = str("packages_and_scopes_permission"); err != nil {
		return req, fault.Invalidf("Invalid packages_and_scopes_permission. Must be one of: no-access, read-only, read-write, read-write-stage-only")
	}
	if req.OrgPerm, err = str("orgs_permission"); err != nil {
		return req, fault.Invalidf("Invalid orgs_permission. Must be one of: no-access, read-only, read-write")
	}
	bypass, err := boolean("bypass_2fa")
	if err != nil {
		return req, err
	}
	req.Bypass2FA = bypass != nil && *bypass
	if v, ok := raw["expires"]; ok && string(v) != "null" {
		days, err := parseExpires(v)
		if err != nil {
			return req, err
		}
		switch {
		case days.days != nil:
			req.ExpiresDays = days.days
		default:
			req.ExpiresAt = days.at
		}
	}
	if v, ok := raw["expiry"]; ok && string(v) != "null" && req.ExpiresDays == nil && req.ExpiresAt == nil {
		e, err := parseExpires(v)
		if err != nil {
			return req, err
		}
		req.ExpiresDays, req.ExpiresAt = e.days, e.at
	}
	for _, k := range granularOnly {
		if v, ok := raw[k]; ok && string(v) != "null" {
			req.GranularFieldGiven = true
		}
	}
	return req, nil
}

type expiresValue struct {
	days *int
	at   *time.Time
}

// parseExpires reads an expiry: a number of days (number or numeric string)
// or an ISO 8601 date or date-time.
func parseExpires(v json.RawMessage) (expiresValue, error) {
	bad := fault.Invalidf("expires must be a number of days or an ISO 8601 date")
	var n json.Number
	dec := json.NewDecoder(strings.NewReader(string(v)))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return expiresValue{}, bad
	}
	switch t := x.(type) {
	case json.Number:
		n = t
	case string:
		if d, err := strconv.Atoi(strings.TrimSpace(t)); err == nil {
			return expiresValue{days: &d}, nil
		}
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
			if at, err := time.Parse(layout, t); err == nil {
				if layout == "2006-01-02" {
					// A date means the end of that day (UTC): "expires on the 30th" includes the 30th.
					at = at.Add(24*time.Hour - time.Millisecond)
				}
				return expiresValue{at: &at}, nil
			}
		}
		return expiresValue{}, bad
	default:
		return expiresValue{}, bad
	}
	d, err := strconv.Atoi(n.String())
	if err != nil {
		return expiresValue{}, bad
	}
	return expiresValue{days: &d}, nil
}

// tokenObject is a token as the API shows it, in both of npm's spellings.
// The full token string appears only in the create answer; lists show its
// first 8 characters in "token" (a prefix, so `npm token revoke <whole
// token>` can match it) and first 8 + last 4 in "masked".
func tokenObject(info account.TokenInfo, full string) map[string]any {
	r := info.Record
	iso := func(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z") }
	var expires, lastUsed any
	if r.ExpiresAt.Valid {
		expires = iso(r.ExpiresAt.Int64)
	}
	if r.LastUsedAt.Valid {
		lastUsed = map[string]string{"time": iso(r.LastUsedAt.Int64), "ip": r.LastUsedIP}
	}
	tok := full
	if tok == "" {
		tok = r.Masked[:min(8, len(r.Masked))]
	}
	g := info.Grants
	kind := auth.Kind(r.Kind)
	readonly := kind == auth.KindReadOnly || (kind == auth.KindGranular && !g.PackagePerm.CanWrite() &&
		g.PackagePerm != auth.ReadWriteStageOnly && g.OrgPerm != auth.ReadWrite)
	// npm prints "with IP whitelist:" for any cidr_whitelist it is given, even
	// an empty one, so a token without ranges carries null.
	var cidr any
	if len(info.CIDR) > 0 {
		cidr = info.CIDR
	}
	packages := g.Packages
	if g.PackagesAll {
		packages = []string{"*"}
	}
	var permissions []map[string]string
	var scopes []map[string]string
	if kind == auth.KindGranular {
		if g.PackagePerm != "" && g.PackagePerm != auth.NoAccess {
			permissions = append(permissions, map[string]string{"name": "package", "action": action(g.PackagePerm)})
		}
		if g.OrgPerm != "" && g.OrgPerm != auth.NoAccess {
			permissions = append(permissions, map[string]string{"name": "org", "action": action(g.OrgPerm)})
		}
		for _, p := range packages {
			scopes = append(scopes, map[string]string{"type": "package", "name": p})
		}
		for _, s := range g.Scopes {
			scopes = append(scopes, map[string]string{"type": "package", "name": "@" + s})
		}
		for _, o := range g.Orgs {
			scopes = append(scopes, map[string]string{"type": "org", "name": o})
		}
	}
	if kind == auth.KindOIDC && info.Trust != nil {
		// One package, written by publishing or staging it.
		packages = []string{info.Trust.Package}
		permissions = []map[string]string{{"name": "package", "action": "write"}}
		scopes = []map[string]string{{"type": "package", "name": info.Trust.Package}}
	}
	pkgPerm, orgPerm := string(g.PackagePerm), string(g.OrgPerm)
	if kind != auth.KindGranular {
		pkgPerm, orgPerm = "", ""
	}
	created := iso(r.CreatedAt)
	return map[string]any{
		"key": r.Key, "token": tok, "masked": r.Masked, "name": r.Name, "description": r.Description,
		"type": r.Kind, "readonly": readonly, "automation": kind == auth.KindAutomation, "bypass_2fa": r.Bypass2FA,
		"cidr_whitelist": cidr, "cidr": cidr, "expires": expires, "expiry": expires,
		"created": created, "updated": created, "last_used": lastUsed, "accessed": lastUsed,
		"revoked": r.RevokedAt.Valid, "expired": info.Expired(time.Now()), "permissions": nonNilList(permissions), "scopes_detail": nonNilList(scopes),
		"packages": nonNilStrings(packages), "scopes": nonNilStrings(g.Scopes), "orgs": nonNilStrings(g.Orgs),
		"packages_and_scopes_permission": pkgPerm, "orgs_permission": orgPerm,
	}
}

func action(p auth.Permission) string {
	if p.CanRead() && p != auth.ReadOnly {
		return "write"
	}
	return "read"
}

func nonNilList(l []map[string]string) []map[string]string {
	if l == nil {
		return []map[string]string{}
	}
	return l
}

func nonNilStrings(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request) {
	var raw map[string]json.RawMessage
	if err := decodeJSON(r, &raw); err != nil {
		a.writeError(w, r, err)
		return
	}
	if raw == nil {
		a.writeError(w, r, fault.Invalidf("the body must be a JSON object"))
		return
	}
	req, err := parseTokenRequest(raw)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	created, err := a.accounts.CreateToken(r.Context(), auth.FromContext(r.Context()), req)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	info, err := account.Decode(created.Record)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.log.InfoContext(r.Context(), "token created", "user", auth.FromContext(r.Context()).UserName,
		"key", created.Record.Key, "type", created.Record.Kind)
	writeJSON(w, http.StatusCreated, tokenObject(info, created.Token))
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, err := nonNegative(q.Get("page"), 0)
	if err != nil {
		a.writeError(w, r, fault.Invalidf("page must be a non-negative integer"))
		return
	}
	perPage, err := nonNegative(q.Get("perPage"), 10)
	if err != nil || perPage < 1 || perPage > 100 {
		a.writeError(w, r, fault.Invalidf("perPage must be an integer from 1 to 100"))
		return
	}
	res, err := a.accounts.ListTokens(r.Context(), auth.FromContext(r.Context()), page, perPage)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	objects := make([]map[string]any, 0, len(res.Tokens))
	for _, t := range res.Tokens {
		objects = append(objects, tokenObject(t, ""))
	}
	urls := map[string]string{}
	if (page+1)*perPage < res.Total {
		urls["next"] = "/-/npm/v1/tokens?page=" + strconv.Itoa(page+1) + "&perPage=" + strconv.Itoa(perPage)
	}
	if page > 0 {
		urls["prev"] = "/-/npm/v1/tokens?page=" + strconv.Itoa(page-1) + "&perPage=" + strconv.Itoa(perPage)
	}
	writeJSON(w, http.StatusOK, map[string]any{"objects": objects, "total": res.Total, "urls": urls})
}

func nonNegative(s string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fault.Invalidf("not a non-negative integer")
	}
	return n, nil
}

func (a *API) revokeToken(w http.ResponseWriter, r *http.Request) {
	ref := r.PathValue("token")
	rec, err := a.accounts.RevokeToken(r.Context(), auth.FromContext(r.Context()), ref)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.log.InfoContext(r.Context(), "token revoked", "user", auth.FromContext(r.Context()).UserName, "key", rec.Key)
	w.WriteHeader(http.StatusNoContent)
}
