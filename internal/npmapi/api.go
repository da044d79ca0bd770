// Package npmapi speaks npm's registry protocol over HTTP: it decodes what the
// npm CLI (and pnpm, yarn, bun) send, calls the domain services and encodes
// their answers. It holds no business rules.
package npmapi

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gatehouse-registry/gatehouse/internal/account"
	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/hook"
	"github.com/gatehouse-registry/gatehouse/internal/org"
	"github.com/gatehouse-registry/gatehouse/internal/registry"
	"github.com/gatehouse-registry/gatehouse/internal/signing"
	"github.com/gatehouse-registry/gatehouse/internal/throttle"
	"github.com/gatehouse-registry/gatehouse/internal/trust"
)

// Options configure the API.
type Options struct {
	// BaseURL is the public URL for tarball links; empty means the request's own.
	BaseURL string
	// Limits are the per-address limits, shared with the website; the zero
	// value means throttle.DefaultLimits.
	Limits throttle.Limits
	// Keys lists the registry's public signing keys for GET /-/npm/v1/keys
	// (signing.Service); nil answers 404, which npm takes as "no keys".
	Keys KeyLister
	// Trust is trusted publishing (npm trust and the OIDC exchange); nil
	// answers that the registry does not offer it.
	Trust *trust.Service
	// Audit is the audit log, read by GET /-/npm/v1/user/events and
	// GET /-/admin/audit; nil answers 404 to both.
	Audit *audit.Log
	// Hooks are the webhooks (npm hook); nil answers 404.
	Hooks *hook.Service
}

// KeyLister lists the public keys that verify the registry signatures
// gatehouse serves.
type KeyLister interface {
	PublicKeys(ctx context.Context) ([]signing.PublicKey, error)
}

// API is the npm registry protocol's handlers: Routes lists them for the
// route table.
type API struct {
	accounts *account.Service
	registry *registry.Service
	orgs     *org.Service
	authn    *auth.Authenticator
	log      *slog.Logger
	opts     Options
	// routeNames names each route by its pattern (see Route.Pattern), for
	// the log line of a request that fails.
	routeNames map[string]string
	// lastBase is the base URL made last from a request (without
	// BaseURL): the next request for the same host reuses it.
	lastBase atomic.Pointer[requestBase]
	// bases are the base URLs made from requests that packuments are
	// cached for (see maxCachedBases).
	bases struct {
		sync.Mutex
		urls   []string
		warned bool
	}
}

// requestBase is the base URL of the requests for one host, over TLS or not.
type requestBase struct {
	host string
	tls  bool
	url  string
	// cached says whether packuments with this base in their tarball
	// links are kept in the document caches (see maxCachedBases).
	cached bool
}

// maxCachedBases is how many base URLs made from requests' Host headers
// (without BaseURL) the document caches keep packuments for: the first
// ones seen. A packument is cached with its base filled in, so without a
// bound a client sending a new Host header with each request would make
// each read a store read and a cache entry, and evict everyone else's
// documents. A packument for any other base is the cached one without a
// base (BasePlaceholder in its links), filled for that one response
// (registry.WithBase, sent as JSON): no store read, nothing kept. A
// registry reached under a few names (a loopback address, an internal and a
// public host name) has them all cached; one with BaseURL set has one.
const maxCachedBases = 4

// New returns the API.
func New(accounts *account.Service, reg *registry.Service, orgs *org.Service, authn *auth.Authenticator, log *slog.Logger, opts Options) *API {
	opts.BaseURL = strings.TrimRight(opts.BaseURL, "/")
	if opts.Limits == (throttle.Limits{}) {
		opts.Limits = throttle.DefaultLimits()
	}
	a := &API{accounts: accounts, registry: reg, orgs: orgs, authn: authn, log: log, opts: opts, routeNames: map[string]string{}}
	for _, rt := range a.Routes() {
		a.routeNames[rt.Pattern()] = rt.Name
	}
	return a
}

// principal resolves the bearer token, if any. A request without one is
// anonymous; a request with an unknown, revoked or expired one is treated as
// anonymous too, so a public read still works with a stale token while
// whatever needs a login gets 401. A token used from outside its IP ranges is
// refused outright.
func (a *API) principal(r *http.Request) (*auth.Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, nil
	}
	scheme, cred, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return nil, nil
	}
	p, err := a.authn.Bearer(r.Context(), strings.TrimSpace(cred), auth.ClientIP(r.Context()))
	if err != nil {
		// A token used from outside its IP ranges fails closed, on every request.
		if e, ok := fault.As(err); ok && e.Kind == fault.Unauthorized && e.Challenge != "ipaddress" {
			return nil, nil
		}
		return nil, err
	}
	return p, nil
}

func (a *API) ping(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{})
}

func (a *API) whoami(w http.ResponseWriter, r *http.Request) {
	p := auth.FromContext(r.Context())
	if !p.Authenticated() {
		a.writeError(w, r, auth.ErrAuthRequired())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"username": p.UserName})
}

// couchUserName extracts NAME from "org.couchdb.user:NAME".
func couchUserName(id string) (string, bool) {
	return strings.CutPrefix(id, "org.couchdb.user:")
}

type couchLoginBody struct {
	Name     string `json:"name"`
	Password string `json:"password"`
	Email    string `json:"email"`
}

func (a *API) couchLogin(w http.ResponseWriter, r *http.Request) {
	name, ok := couchUserName(r.PathValue("id"))
	if !ok {
		a.writeError(w, r, fault.NotFoundf("Not found"))
		return
	}
	var body couchLoginBody
	if err := decodeJSON(r, &body); err != nil {
		a.writeError(w, r, err)
		return
	}
	if body.Name != "" && body.Name != name {
		a.writeError(w, r, fault.Invalidf("the name in the body does not match the URL"))
		return
	}
	// Failed logins count against the address, whichever user they name
	// (the website's sign-in shares the budget); a login that succeeds,
	// or only asks for the OTP, is given back.
	ticket, ok, wait := a.opts.Limits.SignIns.Take(auth.ClientIP(r.Context()))
	if !ok {
		secs := throttle.RetryAfter(wait)
		a.writeError(w, r, &fault.Error{Kind: fault.Locked, RetryAfter: secs,
			Message: "Too many failed logins from your address; try again in " + strconv.Itoa(secs) + " seconds"})
		return
	}
	res, err := a.accounts.Login(r.Context(), name, body.Email, body.Password)
	if err != nil {
		ticket.Done(account.FailedSignIn(err, auth.OTP(r.Context()) != ""))
		a.writeError(w, r, err)
		return
	}
	ticket.Done(false)
	a.log.InfoContext(r.Context(), "login", slog.String("user", res.User.Name), slog.Bool("created", res.Created))
	writeJSON(w, http.StatusCreated, map[string]any{
		"ok": true, "id": "org.couchdb.user:" + res.User.Name, "rev": "_we-dont-use-revs-any-more", "token": res.Token,
	})
}

func (a *API) userDocument(w http.ResponseWriter, r *http.Request) {
	name, ok := couchUserName(r.PathValue("id"))
	if !ok {
		a.writeError(w, r, fault.NotFoundf("Not found"))
		return
	}
	if !auth.FromContext(r.Context()).Authenticated() {
		a.writeError(w, r, auth.ErrAuthRequired())
		return
	}
	u, err := a.accounts.UserByName(r.Context(), name)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"_id": "org.couchdb.user:" + u.Name, "name": u.Name, "email": u.Email})
}

func (a *API) logout(w http.ResponseWriter, r *http.Request) {
	if err := a.accounts.Logout(r.Context(), auth.FromContext(r.Context()), r.PathValue("token")); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// webLogin starts npm login --auth-type=web: the CLI shows loginUrl to the
// person and polls doneUrl. Account creation ({"create": true}, npm adduser)
// is not offered in the browser: the 404 makes npm fall back to asking for a
// username, password and email.
func (a *API) webLogin(w http.ResponseWriter, r *http.Request) {
	// Each start writes a row: an address may start a few at once, then
	// one every few seconds (the rows waiting are bounded too, per address
	// and in all, by the account service).
	if ok, wait := a.opts.Limits.WebLogins.Spend(auth.ClientIP(r.Context())); !ok {
		secs := throttle.RetryAfter(wait)
		a.writeError(w, r, &fault.Error{Kind: fault.Locked, RetryAfter: secs,
			Message: "Too many web logins started from your address; try again in " + strconv.Itoa(secs) + " seconds"})
		return
	}
	var body struct {
		Create bool `json:"create"`
	}
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &body); err != nil {
			a.writeError(w, r, err)
			return
		}
	}
	if body.Create {
		a.writeError(w, r, fault.NotFoundf("creating accounts in the browser is not available; npm adduser asks in the terminal"))
		return
	}
	st, err := a.accounts.StartWebAuth(r.Context(), account.WebLogin, nil, r.Header.Get("npm-command"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	base := a.baseURL(r)
	writeJSON(w, http.StatusOK, map[string]string{
		"loginUrl": base + "/-/web/login/" + st.LoginID,
		"doneUrl":  base + "/-/v1/login/done/" + st.DoneID,
	})
}

// webLoginDone is the doneUrl npm polls: 202 with Retry-After until the
// person confirms, then 200 {"token"} once: a session token for a web login,
// a one-time code for a web OTP.
func (a *API) webLoginDone(w http.ResponseWriter, r *http.Request) {
	secret, pending, err := a.accounts.PollWebAuth(r.Context(), r.PathValue("secret"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if pending {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusAccepted, map[string]string{})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"token": secret})
}

// advisories answers npm's bulk audit (npm 7 and later): the body, gzipped
// as npm sends it or not, maps each installed package's name to its
// versions. The uplinks are asked about the names they may hear of
// (registry.Advisories) and their answer is returned; without uplinks the
// answer is empty (npm: "found 0 vulnerabilities"). When an uplink fails,
// what the others answered is returned with an npm-notice header, which
// npm prints, saying the audit is incomplete.
func (a *API) advisories(w http.ResponseWriter, r *http.Request) {
	body, err := readAuditBody(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var installed map[string][]string
	if err := json.Unmarshal(body, &installed); err != nil {
		a.writeError(w, r, fault.Invalidf("invalid JSON body: want an object mapping package names to lists of versions"))
		return
	}
	adv, err := a.registry.Advisories(r.Context(), auth.FromContext(r.Context()), installed)
	if err != nil {
		if !fault.Is(err, fault.Upstream) && !fault.Is(err, fault.UpstreamTimeout) {
			a.writeError(w, r, err)
			return
		}
		w.Header().Set("npm-notice", "gatehouse: an uplink could not be asked for advisories, so this audit may miss some (see the registry's log)")
	}
	writeJSON(w, http.StatusOK, adv)
}

// maxAuditJSON bounds an audit's body once decompressed.
const maxAuditJSON = 16 << 20

// readAuditBody reads an audit's body, gunzipping it when its
// Content-Encoding says gzip, at most maxAuditJSON bytes once decompressed.
func readAuditBody(r *http.Request) ([]byte, error) {
	var src io.Reader = r.Body
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, err
			}
			return nil, fault.Invalidf("the body is not valid gzip")
		}
		defer zr.Close()
		src = zr
	default:
		return nil, fault.Invalidf("content encoding %q is not supported: send gzip or none", enc)
	}
	body, err := io.ReadAll(io.LimitReader(src, maxAuditJSON+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, fault.Invalidf("the body is not valid gzip")
	}
	if len(body) > maxAuditJSON {
		return nil, fault.New(fault.TooLarge, "the audit's body is larger than the %d-byte limit once decompressed", maxAuditJSON)
	}
	return body, nil
}

func (a *API) emptyAudit(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	writeJSON(w, http.StatusOK, map[string]any{
		"actions": []any{}, "advisories": map[string]any{}, "muted": []any{},
		"metadata": map[string]any{
			"vulnerabilities": map[string]int{"info": 0, "low": 0, "moderate": 0, "high": 0, "critical": 0},
			"dependencies":    0, "devDependencies": 0, "optionalDependencies": 0, "totalDependencies": 0,
		},
	})
}

func (a *API) search(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, _ := strconv.Atoi(q.Get("from"))
	size, _ := strconv.Atoi(q.Get("size"))
	hits, total, err := a.registry.Search(r.Context(), auth.FromContext(r.Context()), q.Get("text"), from, size)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	objects := make([]map[string]any, 0, len(hits))
	for _, h := range hits {
		maintainers := make([]map[string]string, 0, len(h.Owners))
		for _, o := range h.Owners {
			maintainers = append(maintainers, map[string]string{"username": o.Name, "email": o.Email})
		}
		pkg := map[string]any{
			"name": h.Name, "version": h.Version, "description": h.Description, "keywords": h.Keywords,
			"date":        h.Modified.UTC().Format("2006-01-02T15:04:05.000Z"),
			"links":       map[string]string{},
			"maintainers": maintainers,
		}
		if h.Scope != "" {
			pkg["scope"] = h.Scope
		} else {
			pkg["scope"] = "unscoped"
		}
		if len(maintainers) > 0 {
			pkg["publisher"] = maintainers[0]
		}
		objects = append(objects, map[string]any{
			"package":     pkg,
			"score":       map[string]any{"final": 1, "detail": map[string]float64{"quality": 1, "popularity": 1, "maintenance": 1}},
			"searchScore": 1,
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"objects": objects, "total": total, "time": timeNow()})
}

// decodeJSON reads a JSON body into v; malformed JSON is a 400 and a body
// over the limit a 413.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fault.New(fault.TooLarge, "request body is larger than the %d-byte limit", mbe.Limit)
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fault.Invalidf("invalid JSON body: field %q must be %s", te.Field, te.Type)
		}
		return fault.Invalidf("invalid JSON body")
	}
	if dec.More() {
		return fault.Invalidf("invalid JSON body: trailing data")
	}
	if _, err := dec.Token(); err != io.EOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fault.New(fault.TooLarge, "request body is larger than the %d-byte limit", mbe.Limit)
		}
		return fault.Invalidf("invalid JSON body: trailing data")
	}
	return nil
}

// baseURL is where tarball links point: the configured URL, or the URL this
// request came to.
func (a *API) baseURL(r *http.Request) string {
	if a.opts.BaseURL != "" {
		return a.opts.BaseURL
	}
	return a.requestBase(r).url
}

// packumentBase is baseURL, and whether packuments for it are cached
// (maxCachedBases): always with BaseURL set. Only a packument's read takes
// one of the places, the first time its base is seen while one is free.
func (a *API) packumentBase(r *http.Request) (base string, cached bool) {
	if a.opts.BaseURL != "" {
		return a.opts.BaseURL, true
	}
	b := a.requestBase(r)
	if b.cached {
		return b.url, true
	}
	if !a.cacheBase(b.url, true) {
		return b.url, false
	}
	a.lastBase.Store(&requestBase{host: b.host, tls: b.tls, url: b.url, cached: true})
	return b.url, true
}

// requestBase is the base URL made from r's Host header (in lower case)
// and scheme.
func (a *API) requestBase(r *http.Request) *requestBase {
	// The same host comes again and again: its URL is made once, not on
	// every request (one entry, whatever Host a client sends).
	tls := r.TLS != nil
	if b := a.lastBase.Load(); b != nil && b.host == r.Host && b.tls == tls {
		return b
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	b := &requestBase{host: r.Host, tls: tls, url: scheme + "://" + strings.ToLower(r.Host)}
	b.cached = a.cacheBase(b.url, false)
	a.lastBase.Store(b)
	return b
}

// cacheBase reports whether packuments for base are cached: it is one of
// the first maxCachedBases that packument reads saw. With admit, a base
// not yet seen takes a free place; the first one refused is logged once.
func (a *API) cacheBase(base string, admit bool) bool {
	a.bases.Lock()
	defer a.bases.Unlock()
	if slices.Contains(a.bases.urls, base) {
		return true
	}
	if !admit {
		return false
	}
	if len(a.bases.urls) < maxCachedBases {
		a.bases.urls = append(a.bases.urls, base)
		return true
	}
	if !a.bases.warned && a.log != nil {
		a.bases.warned = true
		a.log.Warn("requests name more hosts than packuments are cached for: those for other hosts are filled on each read; set --url to the registry's public URL",
			"cached", strings.Join(a.bases.urls, " "), "max", maxCachedBases)
	}
	return false
}

// fillBase replaces the base placeholder in a stored document, escaping the
// URL for a JSON string.
func (a *API) fillBase(r *http.Request, body []byte) []byte {
	enc, _ := json.Marshal(a.baseURL(r))
	return bytes.ReplaceAll(body, []byte(registry.BasePlaceholder), enc[1:len(enc)-1])
}
