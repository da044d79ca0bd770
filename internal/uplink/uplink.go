// Package uplink is gatehouse's side of the upstream registries it proxies
// (uplinks): an uplink's settings (URL, credential, timeouts, freshness,
// which names it serves, supply-chain gates), its HTTP client, and the
// checks and rewriting of the packuments it sends. The registry decides
// when to ask an uplink and what to keep; this package knows how to ask and
// what an answer may hold.
package uplink

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/units"
)

// Spec is an uplink as configured: what the settings (a --uplink flag, or an
// entry of the config file's uplinks list) say of it. NewSpec gives the
// defaults; Check says what is wrong with one.
type Spec struct {
	// Name names the uplink in logs, errors and the cache: lower-case
	// letters, digits, - and _.
	Name string
	// URL is the registry's base URL, http or https, without a trailing
	// slash; it may have a path (https://host/npm).
	URL string
	// TokenEnv names an environment variable, and TokenFile a file, holding
	// the token sent to the uplink as a bearer credential; at most one of
	// them, and the token itself never appears in a setting.
	TokenEnv, TokenFile string
	// Packages are the names the uplink serves: "*" (every name),
	// "@scope/*" (a scope), or exact names. The first uplink with a pattern
	// matching a name serves it.
	Packages []string
	// ConnectTimeout bounds connecting (TCP and TLS), ResponseTimeout the
	// wait for the answer's headers once the request is sent, and Timeout a
	// whole request, body included.
	ConnectTimeout, ResponseTimeout, Timeout time.Duration
	// MaxAge is how long a cached packument is served before it is
	// revalidated upstream (in the background: the cached copy is served
	// meanwhile).
	MaxAge time.Duration
	// NotFoundTTL is how long the uplink's 404 for a name is remembered.
	NotFoundTTL time.Duration
	// Offline keeps gatehouse from ever contacting the uplink: only what
	// is cached is served.
	Offline bool
	// MaxPackumentSize bounds a packument the uplink sends, MaxTarballSize a
	// tarball, in bytes.
	MaxPackumentSize, MaxTarballSize int64
	// MinReleaseAgeDays hides versions published less than that many days
	// ago (0: none hidden).
	MinReleaseAgeDays int
	// Deny lists versions never served, with the reason told to clients.
	Deny []Deny
}

// Deny is one entry of an uplink's deny list.
type Deny struct {
	// Package is name@range: a package name and an npm semver range of its
	// versions ("event-stream@3.3.6", "@evil/pkg@*", "left-pad@<1.1.0");
	// name alone means every version.
	Package string
	// Reason is shown to whoever asks for a denied version.
	Reason string
}

// The defaults of an uplink's settings.
const (
	DefaultConnectTimeout   = 10 * time.Second
	DefaultResponseTimeout  = 30 * time.Second
	DefaultTimeout          = 5 * time.Minute
	DefaultMaxAge           = 2 * time.Minute
	DefaultNotFoundTTL      = 30 * time.Second
	DefaultMaxPackumentSize = 64 << 20
	DefaultMaxTarballSize   = 1 << 30
)

// NewSpec returns the spec of an uplink named name at rawURL, serving every
// name, with the default timeouts, freshness, limits and no gates.
func NewSpec(name, rawURL string) Spec {
	return Spec{
		Name: name, URL: strings.TrimRight(rawURL, "/"), Packages: []string{"*"},
		ConnectTimeout: DefaultConnectTimeout, ResponseTimeout: DefaultResponseTimeout, Timeout: DefaultTimeout,
		MaxAge: DefaultMaxAge, NotFoundTTL: DefaultNotFoundTTL,
		MaxPackumentSize: DefaultMaxPackumentSize, MaxTarballSize: DefaultMaxTarballSize,
	}
}

var (
	uplinkName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	envName    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Check reports everything wrong with s, joined, each problem naming the
// setting; nil for a usable spec.
func (s Spec) Check() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !uplinkName.MatchString(s.Name) {
		bad("name %q: must be 1 to 32 lower-case letters, digits, - and _, starting with a letter or digit", s.Name)
	}
	if err := checkURL(s.URL); err != nil {
		bad("url: %w", err)
	}
	switch {
	case s.TokenEnv != "" && s.TokenFile != "":
		bad("token_env and token_file: give one of them, not both")
	case s.TokenEnv != "" && !envName.MatchString(s.TokenEnv):
		bad("token_env %q: must be the name of an environment variable (the token itself never goes in a setting)", s.TokenEnv)
	}
	if len(s.Packages) == 0 {
		bad("packages: must list at least one pattern (* serves every name)")
	}
	for _, p := range s.Packages {
		if _, err := parsePattern(p); err != nil {
			bad("packages: %w", err)
		}
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"connect_timeout", s.ConnectTimeout}, {"response_timeout", s.ResponseTimeout}, {"timeout", s.Timeout}} {
		if d.v <= 0 {
			bad("%s %s: must be more than 0", d.key, units.FormatDuration(d.v))
		}
	}
	if s.MaxAge < 0 {
		bad("max_age %s: must not be negative", units.FormatDuration(s.MaxAge))
	}
	if s.NotFoundTTL < 0 {
		bad("not_found_ttl %s: must not be negative", units.FormatDuration(s.NotFoundTTL))
	}
	if s.MaxPackumentSize < 1<<10 || s.MaxPackumentSize > 1<<30 {
		bad("max_packument_size %s: must be from 1KiB to 1GiB", units.FormatSize(s.MaxPackumentSize))
	}
	if s.MaxTarballSize < 1<<10 {
		bad("max_tarball_size %s: must be at least 1KiB", units.FormatSize(s.MaxTarballSize))
	}
	if s.MinReleaseAgeDays < 0 || s.MinReleaseAgeDays > 3650 {
		bad("min_release_age_days %d: must be from 0 to 3650", s.MinReleaseAgeDays)
	}
	for _, d := range s.Deny {
		if _, err := parseDeny(d); err != nil {
			bad("deny: %w", err)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	name := s.Name
	if name == "" {
		name = "(no name)"
	}
	return fmt.Errorf("uplink %s: %w", name, errors.Join(errs...))
}

// checkURL requires raw to be an absolute http or https URL with a host,
// without credentials (a token comes from token_env or token_file), query
// or fragment.
func checkURL(raw string) error {
	if raw == "" {
		return errors.New("must not be empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q is not a URL", raw)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q: must be an http:// or https:// URL", raw)
	case u.Host == "" || u.Opaque != "":
		return fmt.Errorf("%q: must name a host", raw)
	case u.User != nil:
		return fmt.Errorf("%q: must not hold a user name or password (give the token with token_env or token_file)", u.Redacted())
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("%q: must not have a query or fragment", raw)
	}
	return nil
}

// Secrets is where an uplink's token is read from: the environment and
// files. Nil fields are the process's own (os.Getenv, os.ReadFile).
type Secrets struct {
	Getenv   func(string) string
	ReadFile func(string) ([]byte, error)
}

// Uplink is one upstream registry, ready to ask. It is safe for concurrent use.
type Uplink struct {
	spec     Spec
	base     *url.URL
	token    string // never logged, never in an error
	patterns []pattern
	deny     []denyRule
	minAge   time.Duration
	client   *http.Client
	obs      Observer
}

// New checks s, reads its token (from the environment variable or file s
// names) and returns the uplink. An empty or missing token is an error
// naming where it was looked for, never showing it.
func New(s Spec, sec Secrets) (*Uplink, error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	u := &Uplink{spec: s, minAge: time.Duration(s.MinReleaseAgeDays) * 24 * time.Hour}
	u.spec.Packages = append([]string(nil), s.Packages...)
	u.spec.Deny = append([]Deny(nil), s.Deny...)
	u.base, _ = url.Parse(strings.TrimRight(s.URL, "/"))
	for _, p := range s.Packages {
		pat, _ := parsePattern(p)
		u.patterns = append(u.patterns, pat)
	}
	for _, d := range s.Deny {
		r, _ := parseDeny(d)
		u.deny = append(u.deny, r)
	}
	token, err := readToken(s, sec)
	if err != nil {
		return nil, fmt.Errorf("uplink %s: %w", s.Name, err)
	}
	u.token = token
	u.client = newHTTPClient(s, u.base)
	u.obs = silentObserver{}
	return u, nil
}

// Observer hears of the requests sent to uplinks (internal/metrics counts
// them). kind is packument, tarball, audit, search, keys or ping; status is the
// HTTP status code answered, or "timeout" or "error" when none was.
type Observer interface {
	// UpstreamRequest is told of each request once its answer's headers
	// came, or it failed, with the time that took.
	UpstreamRequest(uplink, kind, status string, elapsed time.Duration)
	// UpstreamBytes is told of n more bytes of an answer's body read.
	UpstreamBytes(uplink, kind string, n int64)
}

type silentObserver struct{}

func (silentObserver) UpstreamRequest(string, string, string, time.Duration) {}
func (silentObserver) UpstreamBytes(string, string, int64)                   {}

// Observed returns the uplink with obs told of its requests: a copy, the
// uplink itself unchanged.
func (u *Uplink) Observed(obs Observer) *Uplink {
	c := *u
	c.obs = obs
	return &c
}

// readToken reads the token s names, "" when it names none.
func readToken(s Spec, sec Secrets) (string, error) {
	switch {
	case s.TokenEnv != "":
		getenv := sec.Getenv
		if getenv == nil {
			getenv = os.Getenv
		}
		token := strings.TrimSpace(getenv(s.TokenEnv))
		if token == "" {
			return "", fmt.Errorf("token_env: the environment variable %s is empty or unset", s.TokenEnv)
		}
		return token, nil
	case s.TokenFile != "":
		readFile := sec.ReadFile
		if readFile == nil {
			readFile = os.ReadFile
		}
		data, err := readFile(s.TokenFile)
		if err != nil {
			return "", fmt.Errorf("token_file: %w", err)
		}
		token := strings.TrimSpace(string(data))
		if token == "" {
			return "", fmt.Errorf("token_file: %s is empty", s.TokenFile)
		}
		return token, nil
	}
	return "", nil
}

// Name is the uplink's name.
func (u *Uplink) Name() string { return u.spec.Name }

// Spec is the uplink's settings (its token is never among them).
func (u *Uplink) Spec() Spec { return u.spec }

// Offline reports whether the uplink may not be contacted.
func (u *Uplink) Offline() bool { return u.spec.Offline }

// MaxAge is how long a cached packument is served before it is revalidated.
func (u *Uplink) MaxAge() time.Duration { return u.spec.MaxAge }

// NotFoundTTL is how long the uplink's 404 for a name is remembered.
func (u *Uplink) NotFoundTTL() time.Duration { return u.spec.NotFoundTTL }

// NeedsTimes reports whether serving the uplink's packages needs each
// version's publish time, which only full packuments carry: a minimum
// release age is set.
func (u *Uplink) NeedsTimes() bool { return u.minAge > 0 }

// Serves reports whether one of the uplink's patterns matches name.
func (u *Uplink) Serves(name string) bool {
	for _, p := range u.patterns {
		if p.match(name) {
			return true
		}
	}
	return false
}

// LogValue describes the uplink for a log line: never its token, only where
// the token comes from.
func (u *Uplink) LogValue() slog.Value {
	credential := "none"
	switch {
	case u.spec.TokenEnv != "":
		credential = "the environment variable " + u.spec.TokenEnv
	case u.spec.TokenFile != "":
		credential = "the file " + u.spec.TokenFile
	}
	attrs := []slog.Attr{
		slog.String("name", u.spec.Name), slog.String("url", u.base.String()),
		slog.String("packages", strings.Join(u.spec.Packages, " ")), slog.String("credential", credential),
		slog.Bool("offline", u.spec.Offline), slog.Duration("max_age", u.spec.MaxAge),
	}
	if u.spec.MinReleaseAgeDays > 0 {
		attrs = append(attrs, slog.Int("min_release_age_days", u.spec.MinReleaseAgeDays))
	}
	if len(u.deny) > 0 {
		attrs = append(attrs, slog.Int("denied", len(u.deny)))
	}
	return slog.GroupValue(attrs...)
}

// Set is the configured uplinks, in order.
type Set struct {
	list []*Uplink
}

// NewSet returns the uplinks in order; two with one name are an error.
func NewSet(list ...*Uplink) (*Set, error) {
	seen := map[string]bool{}
	for _, u := range list {
		if seen[u.Name()] {
			return nil, fmt.Errorf("two uplinks are named %s", u.Name())
		}
		seen[u.Name()] = true
	}
	return &Set{list: list}, nil
}

// For returns the uplink that serves name: the first whose patterns match
// it, nil when none does.
func (s *Set) For(name string) *Uplink {
	if s == nil {
		return nil
	}
	for _, u := range s.list {
		if u.Serves(name) {
			return u
		}
	}
	return nil
}

// All returns the uplinks in order.
func (s *Set) All() []*Uplink {
	if s == nil {
		return nil
	}
	return append([]*Uplink(nil), s.list...)
}

// pattern is one entry of an uplink's packages: every name, a scope's
// names, or one name.
type pattern struct {
	any   bool
	scope string // "@scope/*": the scope without "@"
	name  string // an exact name
}

// parsePattern reads "*", "@scope/*" or an exact package name.
func parsePattern(s string) (pattern, error) {
	if s == "*" {
		return pattern{any: true}, nil
	}
	if rest, ok := strings.CutPrefix(s, "@"); ok {
		scope, name, found := strings.Cut(rest, "/")
		if !found || !nameChars(scope) {
			return pattern{}, fmt.Errorf("%q: a scoped pattern is @scope/* or @scope/name", s)
		}
		if name == "*" {
			return pattern{scope: scope}, nil
		}
		if !nameChars(name) {
			return pattern{}, fmt.Errorf("%q: %q is not a package name", s, name)
		}
		return pattern{name: s}, nil
	}
	if !nameChars(s) {
		return pattern{}, fmt.Errorf("%q: want *, @scope/*, or a package name", s)
	}
	return pattern{name: s}, nil
}

// nameChars reports whether s can be a package name or scope: 1 to 214
// URL-safe characters, not starting with . or _.
func nameChars(s string) bool {
	if s == "" || len(s) > 214 || s[0] == '.' || s[0] == '_' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
		if !ok {
			return false
		}
	}
	return true
}

func (p pattern) match(name string) bool {
	switch {
	case p.any:
		return true
	case p.scope != "":
		return strings.HasPrefix(name, "@"+p.scope+"/")
	}
	return name == p.name
}
