package registry

import (
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// Limits that npm itself applies.
const (
	// maxNameLength is the longest package name npm accepts for a new package.
	maxNameLength = 214
	// maxVersionLength is node-semver's MAX_LENGTH.
	maxVersionLength = 256
	// maxTagLength is the longest dist-tag gatehouse accepts.
	maxTagLength = 128
	// maxSafeInteger is JavaScript's Number.MAX_SAFE_INTEGER: node-semver
	// refuses numeric version components above it.
	maxSafeInteger = 1<<53 - 1
	// maxEchoed is how much of a client-supplied string an error message repeats.
	maxEchoed = 100
)

// ValidatePackageName applies npm's rules for a new package name (what
// validate-npm-package-name calls "validForNewPackages"): non-empty, at most
// 214 characters, lowercase, no leading period, hyphen or underscore, no
// leading or trailing spaces, URL-safe (a scoped name is "@scope/name" with
// both parts URL-safe), not node_modules or favicon.ico, not a Node core
// module name, and no ~'!()* in the part after the scope. Every broken rule is
// named in the message, in validate-npm-package-name's words.
func ValidatePackageName(name string) error {
	errs, warns := packageNameProblems(name)
	return nameError(name, append(errs, warns...))
}

// ValidateLegacyPackageName applies npm's rules for the name of a package that
// may already exist ("validForOldPackages"): the rules of ValidatePackageName
// that npm has always applied. Names that npm accepted once and refuses for
// new packages today (capital letters, ~'!()*, a core module's name, more
// than 214 characters) pass, so that a package such as JSONStream can be
// read, installed, imported and published to; creating one is still refused.
func ValidateLegacyPackageName(name string) error {
	errs, _ := packageNameProblems(name)
	return nameError(name, errs)
}

// nameError is the invalid-name error listing problems, or nil when there are
// none.
func nameError(name string, problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	return fault.Invalidf("invalid package name %s: %s", quoteClipped(name), strings.Join(problems, "; "))
}

// packageNameProblems lists what is wrong with name in
// validate-npm-package-name's order: errors break a rule npm has always had,
// warnings one that holds only for new packages.
func packageNameProblems(name string) (errs, warns []string) {
	if name == "" {
		return []string{"name length must be greater than zero"}, nil
	}
	if strings.HasPrefix(name, ".") {
		errs = append(errs, "name cannot start with a period")
	}
	if strings.HasPrefix(name, "-") {
		errs = append(errs, "name cannot start with a hyphen")
	}
	if strings.HasPrefix(name, "_") {
		errs = append(errs, "name cannot start with an underscore")
	}
	if strings.TrimFunc(name, isJSSpace) != name {
		errs = append(errs, "name cannot contain leading or trailing spaces")
	}
	lower := strings.ToLower(name)
	for _, excluded := range [...]string{"node_modules", "favicon.ico"} {
		if lower == excluded {
			errs = append(errs, excluded+" is not a valid package name")
		}
	}

	if isCoreModule(lower) {
		warns = append(warns, name+" is a core module name")
	}
	if jsLength(name) > maxNameLength {
		warns = append(warns, "name can no longer contain more than 214 characters")
	}
	if lower != name {
		warns = append(warns, "name can no longer contain capital letters")
	}
	last := name[strings.LastIndexByte(name, '/')+1:]
	if strings.ContainsAny(last, "~'!()*") {
		warns = append(warns, `name can no longer contain special characters ("~'!()*")`)
	}

	if !isURLSafe(name) {
		scope, bare, scoped := splitScoped(name)
		if scoped && strings.HasPrefix(bare, ".") {
			errs = append(errs, "name cannot start with a period")
		}
		if !scoped || !isURLSafe(scope) || !isURLSafe(bare) {
			errs = append(errs, "name can only contain URL-friendly characters")
		}
	}
	return errs, warns
}

// splitScoped matches validate-npm-package-name's scoped pattern
// ^(?:@([^/]+?)[/])?([^/]+?)$ and reports whether the scope part was present.
func splitScoped(name string) (scope, bare string, scoped bool) {
	if rest, ok := strings.CutPrefix(name, "@"); ok {
		if s, b, ok := strings.Cut(rest, "/"); ok && s != "" && b != "" && !strings.Contains(b, "/") {
			return s, b, true
		}
	}
	return "", name, false
}

// SplitName returns the scope without "@" ("" for an unscoped name) and the
// bare name: "@acme/web" gives "acme" and "web", "web" gives "" and "web".
func SplitName(name string) (scope, bare string) {
	if rest, ok := strings.CutPrefix(name, "@"); ok {
		if s, b, ok := strings.Cut(rest, "/"); ok {
			return s, b
		}
	}
	return "", name
}

// TarballFilename is the file name npm gives a tarball, "<bare>-<version>.tgz":
// "web-1.0.0.tgz" for version 1.0.0 of @acme/web.
func TarballFilename(name, version string) string {
	_, bare := SplitName(name)
	return bare + "-" + version + ".tgz"
}

// ValidateVersion accepts only a strict semver 2.0.0 version, which is what
// npm publishes ("1.2.3", "1.0.0-beta.1+build"). It refuses a "v" prefix,
// missing components, leading zeros, numbers above JavaScript's safe integer
// range and anything longer than 256 characters.
func ValidateVersion(v string) error {
	if len(v) > maxVersionLength || !isStrictSemver(v) {
		return fault.Invalidf("Invalid version: %s", quoteClipped(v))
	}
	// Stored versions are parsed with this library; never accept one it refuses.
	if _, err := semver.StrictNewVersion(v); err != nil {
		return fault.Invalidf("Invalid version: %s", quoteClipped(v))
	}
	return nil
}

// ValidateTag accepts a dist-tag: non-empty, at most 128 characters, URL-safe
// (unchanged by encodeURIComponent) and not a valid semver range, since npm
// would read such a tag as a range ("1.x", "~1.2", "2").
func ValidateTag(tag string) error {
	if tag == "" {
		return fault.Invalidf("tag name cannot be empty")
	}
	if len(tag) > maxTagLength {
		return fault.Invalidf("tag name %s is longer than %d characters", quoteClipped(tag), maxTagLength)
	}
	if isURLSafe(tag) {
		if isSemverRange(tag) {
			return fault.Invalidf("Tag name must not be a valid SemVer range: %s", tag)
		}
		return nil
	}
	// Not usable as a tag either way; name the more helpful reason when the
	// client clearly meant a range such as "^1.0.0" or ">=2".
	if _, err := semver.NewConstraint(tag); err == nil {
		return fault.Invalidf("Tag name must not be a valid SemVer range: %s", clip(tag))
	}
	return fault.Invalidf("invalid tag name %s: tags may not have any characters that encodeURIComponent encodes", quoteClipped(tag))
}

// isURLSafe reports whether encodeURIComponent would leave s unchanged.
func isURLSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isURLSafeByte(s[i]) {
			return false
		}
	}
	return true
}

func isURLSafeByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-_.!~*'()", c) >= 0
}

// isJSSpace reports whether JavaScript's String.prototype.trim removes r.
func isJSSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF:
		return true
	}
	return 0x2000 <= r && r <= 0x200A
}

// jsLength is the length of s as JavaScript counts it, in UTF-16 code units.
func jsLength(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r > 0xFFFF {
			n++
		}
	}
	return n
}

// isCoreModule reports whether name is one of Node's built-in module names,
// as listed by validate-npm-package-name.
func isCoreModule(name string) bool {
	switch name {
	case "_http_agent", "_http_client", "_http_common", "_http_incoming", "_http_outgoing", "_http_server",
		"_stream_duplex", "_stream_passthrough", "_stream_readable", "_stream_transform", "_stream_wrap",
		"_stream_writable", "_tls_common", "_tls_wrap",
		"assert", "assert/strict", "async_hooks", "buffer", "child_process", "cluster", "console", "constants",
		"crypto", "dgram", "diagnostics_channel", "dns", "dns/promises", "domain", "events", "fs", "fs/promises",
		"http", "http2", "https", "inspector", "inspector/promises", "module", "net", "os", "path", "path/posix",
		"path/win32", "perf_hooks", "process", "punycode", "querystring", "readline", "readline/promises", "repl",
		"stream", "stream/consumers", "stream/promises", "stream/web", "string_decoder", "sys", "timers",
		"timers/promises", "tls", "trace_events", "tty", "url", "util", "util/types", "v8", "vm", "wasi",
		"worker_threads", "zlib", "node:sea", "node:sqlite", "node:test", "node:test/reporters":
		return true
	}
	return false
}

// isStrictSemver reports whether v is a semver 2.0.0 version whose numeric
// components node-semver can hold.
func isStrictSemver(v string) bool {
	v, build, hasBuild := strings.Cut(v, "+")
	if hasBuild && !allIdentifiers(build, isBuildIdentifier) {
		return false
	}
	core, pre, hasPre := strings.Cut(v, "-")
	if hasPre && !allIdentifiers(pre, isPrereleaseIdentifier) {
		return false
	}
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if _, ok := safeNumber(p); !ok {
			return false
		}
	}
	return true
}

// allIdentifiers reports whether s is one or more dot-separated identifiers,
// each accepted by ok.
func allIdentifiers(s string, ok func(string) bool) bool {
	for _, id := range strings.Split(s, ".") {
		if !ok(id) {
			return false
		}
	}
	return true
}

// isBuildIdentifier reports whether id is a non-empty run of [0-9A-Za-z-].
func isBuildIdentifier(id string) bool {
	if id == "" {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-') {
			return false
		}
	}
	return true
}

// isPrereleaseIdentifier reports whether id is a numeric identifier without a
// leading zero or an alphanumeric one holding at least one letter or hyphen.
func isPrereleaseIdentifier(id string) bool {
	if !isBuildIdentifier(id) {
		return false
	}
	if strings.Trim(id, "0123456789") != "" {
		return true
	}
	return id == "0" || id[0] != '0'
}

// safeNumber parses a numeric identifier ("0" or digits without a leading
// zero) that is at most JavaScript's largest safe integer.
func safeNumber(s string) (int64, bool) {
	if s == "" || len(s) > 16 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, n <= maxSafeInteger
}

// xrange is a parsed node-semver XRANGEPLAIN: up to three components, each a
// number or a wildcard (x, X, *, or missing), with an optional prerelease.
type xrange struct {
	vs     int       // how many leading "v" characters
	parts  [3]string // "" when missing
	pre    string
	hasPre bool
}

// parseXRange parses s as an XRANGEPLAIN made of URL-safe characters (so
// without build metadata or spaces).
func parseXRange(s string) (xrange, bool) {
	var x xrange
	for x.vs < len(s) && s[x.vs] == 'v' {
		x.vs++
	}
	s = s[x.vs:]
	core, pre, hasPre := strings.Cut(s, "-")
	parts := strings.Split(core, ".")
	if len(parts) > 3 || (hasPre && len(parts) != 3) {
		return xrange{}, false
	}
	if hasPre && !allIdentifiers(pre, isPrereleaseIdentifier) {
		return xrange{}, false
	}
	for i, p := range parts {
		if !isWildcard(p) && !isNumericIdentifier(p) {
			return xrange{}, false
		}
		x.parts[i] = p
	}
	x.pre, x.hasPre = pre, hasPre
	return x, true
}

func isWildcard(p string) bool { return p == "x" || p == "X" || p == "*" }

// isNumericIdentifier reports whether p is "0" or digits without a leading zero.
func isNumericIdentifier(p string) bool {
	if p == "" || (p[0] == '0' && len(p) > 1) {
		return false
	}
	return strings.Trim(p, "0123456789") == ""
}

// isX is node-semver's isX: missing or a wildcard.
func isX(p string) bool { return p == "" || isWildcard(p) }

// below reports whether the numeric component p is at most maxSafeInteger-bump,
// so that p+bump is still a version component node-semver accepts.
func below(p string, bump int64) bool {
	n, ok := safeNumber(p)
	return ok && n+bump <= maxSafeInteger
}

// isSemverRange reports whether node-semver's validRange accepts the URL-safe
// string s. With no spaces, "|", "^", "<", ">", "=" or "+" possible, a range is
// a tilde range, an x-range, or (after node-semver drops the first "*") a
// single exact version.
func isSemverRange(s string) bool {
	if rest, ok := strings.CutPrefix(s, "~"); ok {
		if x, ok := parseXRange(rest); ok {
			M, m, p := x.parts[0], x.parts[1], x.parts[2]
			if valid, wild := wildcardRangeValid(M, m, p); wild {
				return valid
			}
			return below(M, 0) && below(m, 1) && below(p, 0)
		}
	} else if x, ok := parseXRange(s); ok {
		M, m, p := x.parts[0], x.parts[1], x.parts[2]
		badOrder := (isX(M) && !isX(m)) || (isX(m) && p != "" && !isX(p))
		if !badOrder { // node-semver leaves a bad order as it is; handled below.
			if valid, wild := wildcardRangeValid(M, m, p); wild {
				return valid
			}
			return x.vs <= 1 && below(M, 0) && below(m, 0) && below(p, 0)
		}
	}
	return isComparatorVersion(strings.Replace(s, "*", "", 1))
}

// wildcardRangeValid is the part of isSemverRange that a tilde range and an
// x-range share: when one of the parts M.m.p is a wildcard (wild), whether
// the range's upper bound, made by bumping the part before it, is still a
// version node-semver accepts (valid).
func wildcardRangeValid(M, m, p string) (valid, wild bool) {
	switch {
	case isX(M):
		return true, true
	case isX(m):
		return below(M, 1), true
	case isX(p):
		return below(M, 0) && below(m, 1), true
	}
	return false, false
}

// isComparatorVersion reports whether s is a full version with an optional
// single "v", as a node-semver comparator without an operator requires.
func isComparatorVersion(s string) bool {
	s = strings.TrimPrefix(s, "v")
	x, ok := parseXRange(s)
	if !ok || x.vs != 0 {
		return false
	}
	for _, p := range x.parts {
		if isX(p) || !below(p, 0) {
			return false
		}
	}
	return true
}

// clip shortens a client-supplied string for an error message.
func clip(s string) string {
	if len(s) <= maxEchoed {
		return s
	}
	return s[:maxEchoed] + "..."
}

// quoteClipped quotes a client-supplied string, shortened, for an error message.
// The quoted text stays within maxEchoed bytes (and its quotes) however many
// bytes quoting escapes: a byte that is not UTF-8 quotes as four.
func quoteClipped(s string) string {
	if q := strconv.Quote(s); len(q) <= maxEchoed+2 {
		return q
	}
	for cut := min(len(s), maxEchoed); cut > 0; cut-- {
		if q := strconv.Quote(s[:cut]); len(q) <= maxEchoed+2 {
			return q + "..."
		}
	}
	return `""...`
}
