package config

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/units"
	"github.com/gatehouse-registry/gatehouse/internal/uplink"
)

// uplinkSettings are the settings of upstream registries: the uplinks
// themselves, the switch that keeps them all offline, and whether a local
// package may take a name an uplink has.
func uplinkSettings() []setting {
	return []setting{
		{
			flag: "uplink", env: "GATEHOUSE_UPLINK", key: "uplinks", arg: "NAME=URL",
			help: "An upstream registry to proxy and cache (an uplink), serving every name that is not local: " +
				"--uplink npmjs=URL with the public npm registry's URL makes gatehouse the one registry a team " +
				"installs everything from. Repeat the flag for more uplinks (the first whose names match serves a " +
				"name); the environment variable takes NAME=URL,NAME=URL. The config file's uplinks list also takes " +
				"tables, with the names each uplink serves, its credential, timeouts, freshness and supply-chain " +
				"gates (docs/uplinks.md). A name that is local, or in a user's or organization's scope, is never " +
				"fetched from an uplink.",
			repeat: true,
			show: func(c Config) string {
				if len(c.Uplinks) == 0 {
					return "none (only local packages)"
				}
				parts := make([]string, len(c.Uplinks))
				for i, u := range c.Uplinks {
					parts[i] = u.Name + "=" + u.URL
				}
				return strings.Join(parts, ",")
			},
			set:    setUplinks,
			decode: decodeUplinks,
			check:  checkUplinks,
		},
		setting{
			flag: "offline", env: "GATEHOUSE_OFFLINE", key: "offline", arg: "true|false",
			help: "When true, no uplink is ever contacted: packages are served from what gatehouse cached of them, " +
				"and what it never cached is not found. An uplink of the config file can also be offline on its own.",
		}.onOff(func(c *Config) *bool { return &c.Offline }),
		setting{
			flag: "publish-uplink-names", env: "GATEHOUSE_PUBLISH_UPLINK_NAMES", key: "publish_uplink_names",
			arg: "refuse|allow",
			help: "Whether a new unscoped package may be published under a name an uplink already has. refuse (the " +
				"default) keeps anyone from shadowing a public package here (dependency confusion); while the " +
				"uplink cannot be asked (offline, failing), new unscoped names are refused too. allow lets local " +
				"packages take such names, which then stop coming from the uplink.",
		}.choice(func(c *Config) *string { return &c.PublishUplinkNames }, "refuse", "allow"),
	}
}

// setUplinks reads "NAME=URL,NAME=URL": uplinks with the defaults, each
// serving every name.
func setUplinks(c *Config, s string) error {
	c.Uplinks = nil
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		spec, err := parseUplinkFlag(part)
		if err != nil {
			return err
		}
		c.Uplinks = append(c.Uplinks, spec)
	}
	return nil
}

// parseUplinkFlag reads NAME=URL.
func parseUplinkFlag(s string) (uplink.Spec, error) {
	name, rawURL, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(name) == "" || strings.TrimSpace(rawURL) == "" {
		return uplink.Spec{}, fmt.Errorf("%q: want NAME=URL, such as npmjs=https://registry.example.com", s)
	}
	return uplink.NewSpec(strings.TrimSpace(name), strings.TrimSpace(rawURL)), nil
}

// checkUplinks checks every uplink and that their names differ.
func checkUplinks(c Config) error {
	var errs []error
	seen := map[string]bool{}
	for _, u := range c.Uplinks {
		if err := u.Check(); err != nil {
			errs = append(errs, err)
		}
		if seen[u.Name] {
			errs = append(errs, fmt.Errorf("two uplinks are named %q", u.Name))
		}
		seen[u.Name] = true
	}
	return errors.Join(errs...)
}

// uplinkKeys are the keys of an uplink's table in the config file.
var uplinkKeys = []string{
	"name", "url", "token_env", "token_file", "packages", "connect_timeout", "response_timeout", "timeout",
	"max_age", "not_found_ttl", "offline", "max_packument_size", "max_tarball_size", "min_release_age_days", "deny",
}

// decodeUplinks reads the config file's uplinks: a list whose entries are
// "NAME=URL" strings or tables of uplinkKeys.
func decodeUplinks(c *Config, v any) error {
	var list []any
	switch v := v.(type) {
	case []any:
		list = v
	case []map[string]any: // TOML's array of tables
		for _, m := range v {
			list = append(list, m)
		}
	default:
		return fmt.Errorf("must be a list of uplinks, got %s", describe(v))
	}
	c.Uplinks = nil
	for i, item := range list {
		var spec uplink.Spec
		var err error
		switch item := item.(type) {
		case string:
			spec, err = parseUplinkFlag(item)
		case map[string]any:
			spec, err = decodeUplink(item)
		default:
			err = fmt.Errorf("must be NAME=URL or a table, got %s", describe(item))
		}
		if err != nil {
			return fmt.Errorf("uplink %d: %w", i+1, err)
		}
		c.Uplinks = append(c.Uplinks, spec)
	}
	return nil
}

// decodeUplink reads one uplink's table.
func decodeUplink(m map[string]any) (uplink.Spec, error) {
	var unknown []string
	for k := range m {
		if !slices.Contains(uplinkKeys, k) {
			unknown = append(unknown, strconv.Quote(k))
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return uplink.Spec{}, fmt.Errorf("unknown key %s (known keys: %s)", strings.Join(unknown, ", "), strings.Join(uplinkKeys, ", "))
	}
	var errs []error
	str := func(key string) string {
		v, ok := m[key]
		if !ok {
			return ""
		}
		s, ok := v.(string)
		if !ok {
			errs = append(errs, fmt.Errorf("key %s: must be a string, got %s", key, describe(v)))
		}
		return s
	}
	spec := uplink.NewSpec(str("name"), str("url"))
	spec.TokenEnv, spec.TokenFile = str("token_env"), str("token_file")
	if v, ok := m["packages"]; ok {
		list, err := stringList(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("key packages: %w", err))
		}
		spec.Packages = list
	}
	for _, d := range []struct {
		key string
		dst *time.Duration
	}{
		{"connect_timeout", &spec.ConnectTimeout}, {"response_timeout", &spec.ResponseTimeout}, {"timeout", &spec.Timeout},
		{"max_age", &spec.MaxAge}, {"not_found_ttl", &spec.NotFoundTTL},
	} {
		if v, ok := m[d.key]; ok {
			if err := fileDuration(d.dst, v); err != nil {
				errs = append(errs, fmt.Errorf("key %s: %w", d.key, err))
			}
		}
	}
	for _, sz := range []struct {
		key string
		dst *int64
	}{{"max_packument_size", &spec.MaxPackumentSize}, {"max_tarball_size", &spec.MaxTarballSize}} {
		if v, ok := m[sz.key]; ok {
			if err := fileSize(sz.dst, v); err != nil {
				errs = append(errs, fmt.Errorf("key %s: %w", sz.key, err))
			}
		}
	}
	if v, ok := m["offline"]; ok {
		b, isBool := v.(bool)
		if !isBool {
			errs = append(errs, fmt.Errorf("key offline: must be true or false, got %s", describe(v)))
		}
		spec.Offline = b
	}
	if v, ok := m["min_release_age_days"]; ok {
		n, isWhole := wholeNumber(v)
		if !isWhole {
			errs = append(errs, fmt.Errorf("key min_release_age_days: must be a whole number of days, got %s", describe(v)))
		}
		spec.MinReleaseAgeDays = int(max(min(n, math.MaxInt32), math.MinInt32))
	}
	if v, ok := m["deny"]; ok {
		deny, err := decodeDeny(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("key deny: %w", err))
		}
		spec.Deny = deny
	}
	return spec, errors.Join(errs...)
}

// decodeDeny reads a deny list: tables of package (name@range) and reason.
func decodeDeny(v any) ([]uplink.Deny, error) {
	var list []any
	switch v := v.(type) {
	case []any:
		list = v
	case []map[string]any:
		for _, m := range v {
			list = append(list, m)
		}
	default:
		return nil, fmt.Errorf("must be a list of {package, reason} tables, got %s", describe(v))
	}
	var out []uplink.Deny
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("entry %d: must be a table of package and reason, got %s", i+1, describe(item))
		}
		var d uplink.Deny
		for k, v := range m {
			s, ok := v.(string)
			switch {
			case k != "package" && k != "reason":
				return nil, fmt.Errorf("entry %d: unknown key %q (known keys: package, reason)", i+1, k)
			case !ok:
				return nil, fmt.Errorf("entry %d: key %s must be a string, got %s", i+1, k, describe(v))
			case k == "package":
				d.Package = s
			default:
				d.Reason = s
			}
		}
		out = append(out, d)
	}
	return out, nil
}

// stringList reads a list of strings.
func stringList(v any) ([]string, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("must be a list of strings, got %s", describe(v))
	}
	out := make([]string, len(list))
	for i, item := range list {
		s, ok := item.(string)
		if !ok {
			return nil, fmt.Errorf("item %d must be a string, got %s", i+1, describe(item))
		}
		out[i] = s
	}
	return out, nil
}

// fileDuration reads a duration written as a string ("2m"); the number 0
// is zero.
func fileDuration(dst *time.Duration, v any) error {
	if n, ok := wholeNumber(v); ok && n == 0 {
		*dst = 0
		return nil
	}
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("must be a duration string such as \"2m\", got %s", describe(v))
	}
	return setDuration(dst, s)
}

// fileSize reads a size written as a number of bytes or a string with a
// unit ("64MiB").
func fileSize(dst *int64, v any) error {
	if n, ok := wholeNumber(v); ok {
		return setSize(dst, strconv.FormatInt(n, 10))
	}
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("must be a size such as \"64MiB\", got %s", describe(v))
	}
	return setSize(dst, s)
}

// wholeNumber is v as a whole number, when the file wrote one.
func wholeNumber(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int64:
		return n, true
	case uint64:
		if n <= math.MaxInt64 {
			return int64(n), true
		}
	case float64:
		if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
			return int64(n), true
		}
	}
	return 0, false
}

// uplinksHelp explains an uplink's table in the config file, for --help.
func uplinksHelp() string {
	d := uplink.NewSpec("", "")
	return "An entry of the config file's uplinks list is NAME=URL, or a table with the keys name, url, " +
		"token_env or token_file (where the uplink's token is read from, never the token itself), packages " +
		"(the names it serves: *, @scope/*, or a name; default *), connect_timeout (default " +
		units.FormatDuration(d.ConnectTimeout) + "), response_timeout (" + units.FormatDuration(d.ResponseTimeout) +
		"), timeout (a whole request, " + units.FormatDuration(d.Timeout) + "), max_age (how long a cached packument " +
		"is served before it is revalidated, " + units.FormatDuration(d.MaxAge) + "), not_found_ttl (how long its 404 " +
		"is remembered, " + units.FormatDuration(d.NotFoundTTL) + "), offline (true or false), max_packument_size (" +
		units.FormatSize(d.MaxPackumentSize) + "), max_tarball_size (" + units.FormatSize(d.MaxTarballSize) +
		"), min_release_age_days (versions younger are hidden; default 0) and deny (a list of tables of package, " +
		"as name@range, and reason)."
}
