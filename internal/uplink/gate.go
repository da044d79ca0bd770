package uplink

import (
	"fmt"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// denyRule is a parsed Deny: a package name and the versions of it denied.
type denyRule struct {
	name   string
	rng    string // the range as written, "" for every version
	c      *semver.Constraints
	reason string
}

// parseDeny reads "name@range" (the range may be left out: every version).
// Prereleases count: "pkg@*" denies 2.0.0-beta.1 too.
func parseDeny(d Deny) (denyRule, error) {
	spec := strings.TrimSpace(d.Package)
	if strings.TrimSpace(d.Reason) == "" {
		return denyRule{}, fmt.Errorf("%q: a reason is required (it is shown to whoever asks for a denied version)", spec)
	}
	name, rng := spec, ""
	at := strings.LastIndexByte(spec, '@')
	if at > 0 {
		name, rng = spec[:at], strings.TrimSpace(spec[at+1:])
	}
	if _, err := parsePattern(name); err != nil || strings.HasSuffix(name, "*") {
		return denyRule{}, fmt.Errorf("%q: want name@range, such as event-stream@3.3.6 or @scope/pkg@<2", spec)
	}
	r := denyRule{name: name, rng: rng, reason: strings.TrimSpace(d.Reason)}
	if rng == "" {
		rng = "*"
	}
	c, err := semver.NewConstraint(rng)
	if err != nil {
		return denyRule{}, fmt.Errorf("%q: %q is not a semver range: %v", spec, rng, err)
	}
	c.IncludePrerelease = true
	r.c = c
	return r, nil
}

// denies reports whether the rule covers name@version. A version that is
// not semver cannot be placed in a range: a rule naming its package denies
// it, failing closed.
func (r denyRule) denies(name, version string) bool {
	if r.name != name {
		return false
	}
	if r.rng == "" {
		return true
	}
	v, err := semver.NewVersion(version)
	if err != nil {
		return true
	}
	return r.c.Check(v)
}

// Allowed returns nil when the uplink's gates let version of name be
// served at now, and otherwise a Forbidden fault giving the reason: the deny
// list's, or the minimum release age (published is the version's publish
// time as the uplink gave it; zero when it gave none, which the minimum age
// refuses, failing closed).
func (u *Uplink) Allowed(name, version string, published, now time.Time) error {
	for _, r := range u.deny {
		if r.denies(name, version) {
			return fault.Forbiddenf("%s@%s is denied by uplink %s: %s", name, version, u.Name(), r.reason)
		}
	}
	if u.minAge <= 0 {
		return nil
	}
	if published.IsZero() {
		return fault.Forbiddenf("%s@%s is held back by uplink %s: its publish time is unknown, and versions are served "+
			"only %d days after their release", name, version, u.Name(), u.spec.MinReleaseAgeDays)
	}
	if now.Sub(published) < u.minAge {
		return fault.Forbiddenf("%s@%s is held back by uplink %s until %s: it was published %s, and versions are served "+
			"only %d days after their release", name, version, u.Name(), published.Add(u.minAge).UTC().Format(time.RFC3339),
			published.UTC().Format(time.RFC3339), u.spec.MinReleaseAgeDays)
	}
	return nil
}

// allowedFrom is when a version published at published, held back only by
// the minimum release age, comes of age; zero when nothing but time would
// change the verdict (it is allowed, denied, or of unknown age).
func (u *Uplink) allowedFrom(name, version string, published, now time.Time) time.Time {
	if u.minAge <= 0 || published.IsZero() {
		return time.Time{}
	}
	for _, r := range u.deny {
		if r.denies(name, version) {
			return time.Time{}
		}
	}
	if from := published.Add(u.minAge); from.After(now) {
		return from
	}
	return time.Time{}
}
