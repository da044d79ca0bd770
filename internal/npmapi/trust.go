package npmapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/throttle"
	"github.com/gatehouse-registry/gatehouse/internal/trust"
)

// Trusted publishing (npm trust; the OIDC exchange of npm publish). The
// shapes are what npm 11.10+ and npm 12 send and render
// (lib/trust-cmd.js, lib/commands/trust/*.js, lib/utils/oidc.js).

// trustObject is one trust configuration as npm trust renders it: type,
// id, claims (file, repository or project, environment) and permissions,
// with gatehouse's issuer, creation time and creator beside them.
func trustObject(c trust.Config) map[string]any {
	return map[string]any{
		"id": c.ID, "type": c.Type, "claims": c.Claims, "permissions": c.Permissions,
		"issuer": c.Issuer, "created": c.CreatedAt.UTC().Format(time.RFC3339), "created_by": c.CreatedBy,
	}
}

// listTrust serves GET /-/package/:pkg/trust (npm trust list): a list of
// the package's configurations, none or one.
func (a *API) listTrust(w http.ResponseWriter, r *http.Request) {
	if a.opts.Trust == nil {
		a.writeError(w, r, errTrustDisabled())
		return
	}
	list, err := a.opts.Trust.List(r.Context(), principalOf(r), r.PathValue("pkg"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]map[string]any, len(list))
	for i, c := range list {
		out[i] = trustObject(c)
	}
	writeJSON(w, http.StatusOK, out)
}

// createTrust serves POST /-/package/:pkg/trust (npm trust github, gitlab,
// circleci): the body is a list of one configuration; the answer is the
// list of the one made, with its id.
func (a *API) createTrust(w http.ResponseWriter, r *http.Request) {
	if a.opts.Trust == nil {
		a.writeError(w, r, errTrustDisabled())
		return
	}
	var body []trust.Request
	if err := decodeJSON(r, &body); err != nil {
		a.writeError(w, r, err)
		return
	}
	c, err := a.opts.Trust.Create(r.Context(), principalOf(r), r.PathValue("pkg"), body)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, []map[string]any{trustObject(c)})
}

// revokeTrust serves DELETE /-/package/:pkg/trust/:id (npm trust revoke).
func (a *API) revokeTrust(w http.ResponseWriter, r *http.Request) {
	if a.opts.Trust == nil {
		a.writeError(w, r, errTrustDisabled())
		return
	}
	a.noContent(w, r, a.opts.Trust.Revoke(r.Context(), principalOf(r), r.PathValue("pkg"), r.PathValue("id")))
}

func errTrustDisabled() error {
	return fault.Forbiddenf("Trusted publishing is not enabled on this registry: its operator trusts no OIDC issuer")
}

// exchangeOIDC serves POST /-/npm/v1/oidc/token/exchange/package/:pkg: a CI
// job presents its OIDC ID token as the bearer and gets a short-lived token
// for the package, 201 {token_type, token, created, expires}. Refusals
// carry npm's words in "message", which npm logs at --loglevel verbose.
// The bearer is an ID token, not a gatehouse token: this route does not
// resolve the caller.
func (a *API) exchangeOIDC(w http.ResponseWriter, r *http.Request) {
	scheme, raw, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	raw = strings.TrimSpace(raw)
	if !strings.EqualFold(scheme, "Bearer") || raw == "" {
		writeExchangeError(w, http.StatusBadRequest, "OIDC token exchange error - bad request: no ID token in the Authorization header")
		return
	}
	if a.opts.Trust == nil {
		writeExchangeError(w, http.StatusUnauthorized, "OIDC token exchange error - unauthorized")
		return
	}
	// Refusals count against the address (each costs a signature check
	// and a log line); an exchange that succeeds is given back.
	ticket, ok, wait := a.opts.Limits.Exchanges.Take(auth.ClientIP(r.Context()))
	if !ok {
		secs := throttle.RetryAfter(wait)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeExchangeError(w, http.StatusTooManyRequests, "OIDC token exchange error - too many refused exchanges from your address; try again in "+
			strconv.Itoa(secs)+" seconds")
		return
	}
	ex, err := a.opts.Trust.Exchange(r.Context(), r.PathValue("pkg"), raw)
	ticket.Done(err != nil)
	if err != nil {
		e, ok := fault.As(err)
		if !ok || e.Kind == fault.Internal {
			a.writeError(w, r, err)
			return
		}
		writeExchangeError(w, e.Kind.Status(), e.Message)
		return
	}
	iso := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, map[string]string{
		"token_type": "oidc", "token": ex.Token, "created": iso(ex.Created), "expires": iso(ex.Expires),
	})
}

// writeExchangeError answers a refused exchange: npm reads "message"; other
// clients of gatehouse read "error".
func writeExchangeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, map[string]string{"message": msg, "error": msg})
}
