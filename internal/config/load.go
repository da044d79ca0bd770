package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/gatehouse-registry/gatehouse/internal/blob"
	"go.yaml.in/yaml/v3"
)

// Names of the --config flag and its environment variable. The config file
// cannot name another config file, so it has no file key.
const (
	configFlag = "config"
	configEnv  = "GATEHOUSE_CONFIG"
)

// setting describes one Config field: where it can be set, how it is
// explained in --help, and how a textual value is stored into a Config.
type setting struct {
	flag    string // flag name without dashes, e.g. "max-body-size"
	env     string // environment variable, e.g. "GATEHOUSE_MAX_BODY_SIZE"
	key     string // config file key, e.g. "max_body_size"
	arg     string // placeholder for the value in --help, e.g. "SIZE"
	help    string // what the setting does, for --help
	numeric bool   // the config file may give the value as a number
	list    bool   // the config file may give the value as a list of strings
	boolean bool   // the config file may give the value as a boolean
	// show formats the setting's value in c, for the defaults in --help.
	show func(c Config) string
	// set parses s and stores it into c. It only checks syntax;
	// Validate checks the meaning.
	set func(c *Config, s string) error
	// check reports what is wrong with the setting's value in c, if anything.
	check func(c Config) error
}

// settings lists every Config field in the order --help shows them.
func settings() []setting {
	return []setting{
		{
			flag: "listen", env: "GATEHOUSE_LISTEN", key: "listen", arg: "HOST:PORT",
			help:  "TCP address to serve on. An empty host listens on every interface; port 0 picks a free port.",
			show:  func(c Config) string { return c.Listen },
			set:   func(c *Config, s string) error { c.Listen = s; return nil },
			check: func(c Config) error { return checkListen(c.Listen) },
		},
		{
			flag: "data", env: "GATEHOUSE_DATA", key: "data", arg: "DIR",
			help: "Directory holding the SQLite database and the package tarballs.",
			show: func(c Config) string { return c.DataDir },
			set:  func(c *Config, s string) error { c.DataDir = s; return nil },
			check: func(c Config) error {
				if c.DataDir == "" {
					return errors.New("must not be empty")
				}
				return nil
			},
		},
		{
			flag: "database", env: "GATEHOUSE_DATABASE", key: "database", arg: "URL",
			help: "Where the metadata lives: empty for SQLite under --data, or the URL of a PostgreSQL database, " +
				"postgres://USER:PASSWORD@HOST:PORT/DBNAME?sslmode=require (postgresql:// also works), " +
				"shared by every gatehouse node. Logs show it without the password.",
			show: func(c Config) string {
				if c.Database == "" {
					return "empty (SQLite under --data)"
				}
				return "a PostgreSQL URL"
			},
			set:   func(c *Config, s string) error { c.Database = strings.TrimSpace(s); return nil },
			check: func(c Config) error { return checkDatabase(c.Database) },
		},
		{
			flag: "key-file", env: "GATEHOUSE_KEY_FILE", key: "key_file", arg: "FILE",
			help: "File holding the server key (32 random bytes) that seals two-factor secrets; created on first start " +
				"if missing. Every node sharing a database needs the same key: a node whose key differs from the one " +
				"the database was first used with refuses to start.",
			show: func(c Config) string {
				if c.KeyFile == "" {
					return "empty (server.key in --data)"
				}
				return c.KeyFile
			},
			set:   func(c *Config, s string) error { c.KeyFile = s; return nil },
			check: func(Config) error { return nil }, // any path; opening it tells what is wrong
		},
		{
			flag: "blobs", env: "GATEHOUSE_BLOBS", key: "blobs", arg: "URL",
			help: "Where the package tarballs live: empty for the folder tarballs under --data; file:///absolute/path " +
				"for another folder; or s3://BUCKET?region=REGION for an S3-compatible bucket shared by every gatehouse node, " +
				"with endpoint=http://HOST:PORT and use_path_style=true for servers other than AWS, and prefix=PATH/ to keep " +
				"the tarballs under a key prefix. S3 credentials come from the AWS environment (AWS_ACCESS_KEY_ID, " +
				"AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ...), never from the URL.",
			show: func(c Config) string {
				if c.Blobs == "" {
					return "empty (the folder tarballs under --data)"
				}
				return c.Blobs
			},
			set: func(c *Config, s string) error { c.Blobs = strings.TrimSpace(s); return nil },
			check: func(c Config) error {
				_, err := blob.ParseLocation(c.Blobs, filepath.Join(c.DataDir, "tarballs"))
				return err
			},
		},
		{
			flag: "url", env: "GATEHOUSE_URL", key: "url", arg: "URL",
			help: "Public base URL of the registry (http or https), used in tarball links. " +
				"Set it when gatehouse runs behind a proxy; empty means the URL of each request. A trailing slash is removed.",
			show: func(c Config) string {
				if c.URL == "" {
					return "empty (taken from each request)"
				}
				return c.URL
			},
			set:   func(c *Config, s string) error { c.URL = strings.TrimRight(s, "/"); return nil },
			check: func(c Config) error { return checkURL(c.URL) },
		},
		{
			flag: "registration", env: "GATEHOUSE_REGISTRATION", key: "registration", arg: "open|closed",
			help: "Whether `npm adduser` may create accounts (open) or only existing users may log in (closed).",
			show: func(c Config) string { return c.Registration },
			set:  func(c *Config, s string) error { c.Registration = s; return nil },
			check: func(c Config) error {
				return checkOneOf(c.Registration, "open", "closed")
			},
		},
		{
			flag: "max-body-size", env: "GATEHOUSE_MAX_BODY_SIZE", key: "max_body_size", arg: "SIZE",
			help: "Largest request body accepted; bigger publishes get 413. Plain bytes or a whole number with a unit: " +
				"B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024), any case, e.g. 104857600, 100MiB, 10MB.",
			numeric: true,
			show:    func(c Config) string { return formatSize(c.MaxBodySize) },
			set:     func(c *Config, s string) error { return setSize(&c.MaxBodySize, s) },
			check: func(c Config) error {
				if c.MaxBodySize <= 0 {
					return fmt.Errorf("%d bytes: must be more than 0", c.MaxBodySize)
				}
				return nil
			},
		},
		{
			flag: "session-ttl", env: "GATEHOUSE_SESSION_TTL", key: "session_ttl", arg: "DURATION",
			help:  "How long a login session token stays valid, as a Go duration such as 12h or 90m.",
			show:  func(c Config) string { return formatDuration(c.SessionTTL) },
			set:   func(c *Config, s string) error { return setDuration(&c.SessionTTL, s) },
			check: func(c Config) error { return checkPositive(c.SessionTTL) },
		},
		{
			flag: "token-prefix", env: "GATEHOUSE_TOKEN_PREFIX", key: "token_prefix", arg: "PREFIX",
			help: "Prefix of every token string, so secret scanners can spot leaked tokens: " +
				"1 to 16 characters of A-Z, a-z, 0-9 and _, ending with _.",
			show:  func(c Config) string { return c.TokenPrefix },
			set:   func(c *Config, s string) error { c.TokenPrefix = s; return nil },
			check: func(c Config) error { return checkTokenPrefix(c.TokenPrefix) },
		},
		{
			flag: "shutdown-timeout", env: "GATEHOUSE_SHUTDOWN_TIMEOUT", key: "shutdown_timeout", arg: "DURATION",
			help:  "How long SIGTERM waits for in-flight requests before closing them, as a Go duration such as 30s.",
			show:  func(c Config) string { return formatDuration(c.ShutdownTimeout) },
			set:   func(c *Config, s string) error { return setDuration(&c.ShutdownTimeout, s) },
			check: func(c Config) error { return checkPositive(c.ShutdownTimeout) },
		},
		{
			flag: "trusted-proxies", env: "GATEHOUSE_TRUSTED_PROXIES", key: "trusted_proxies", arg: "CIDR,...",
			help: "Reverse proxies (CIDR ranges, IPv4 or IPv6) whose X-Forwarded-For header is believed: when the TCP peer " +
				"is inside one, the client address is the right-most X-Forwarded-For entry that is not a trusted proxy. " +
				"Empty trusts no header, and token IP ranges see the TCP peer.",
			list: true,
			show: func(c Config) string {
				if len(c.TrustedProxies) == 0 {
					return "empty (no proxy trusted)"
				}
				parts := make([]string, len(c.TrustedProxies))
				for i, p := range c.TrustedProxies {
					parts[i] = p.String()
				}
				return strings.Join(parts, ",")
			},
			set: func(c *Config, s string) error {
				c.TrustedProxies = nil
				for _, part := range strings.Split(s, ",") {
					part = strings.TrimSpace(part)
					if part == "" {
						continue
					}
					p, err := netip.ParsePrefix(part)
					if err != nil {
						if a, aerr := netip.ParseAddr(part); aerr == nil {
							p = netip.PrefixFrom(a, a.BitLen())
						} else {
							return fmt.Errorf("%q is not a CIDR range", part)
						}
					}
					c.TrustedProxies = append(c.TrustedProxies, p.Masked())
				}
				return nil
			},
			check: func(Config) error { return nil },
		},
		{
			flag: "legacy-tokens", env: "GATEHOUSE_LEGACY_TOKENS", key: "legacy_tokens", arg: "enabled|disabled",
			help: "Whether legacy read-only, automation and publish tokens may be created and used. " +
				"disabled refuses new ones and stops existing ones working, as npm did in December 2025.",
			show:  func(c Config) string { return c.LegacyTokens },
			set:   func(c *Config, s string) error { c.LegacyTokens = s; return nil },
			check: func(c Config) error { return checkOneOf(c.LegacyTokens, "enabled", "disabled") },
		},
		{
			flag: "max-write-token-days", env: "GATEHOUSE_MAX_WRITE_TOKEN_DAYS", key: "max_write_token_days", arg: "DAYS",
			help:    "Longest lifetime, in days, of a granular token that can write or bypass two-factor authentication.",
			numeric: true,
			show:    func(c Config) string { return strconv.Itoa(c.MaxWriteTokenDays) },
			set:     func(c *Config, s string) error { return setInt(&c.MaxWriteTokenDays, s) },
			check: func(c Config) error {
				if c.MaxWriteTokenDays < 1 || c.MaxWriteTokenDays > 36500 {
					return fmt.Errorf("%d: must be from 1 to 36500", c.MaxWriteTokenDays)
				}
				return nil
			},
		},
		{
			flag: "legacy-max-days", env: "GATEHOUSE_LEGACY_MAX_DAYS", key: "legacy_max_days", arg: "DAYS",
			help:    "When above 0, new legacy tokens expire after this many days; 0 means they never expire (npm's rule).",
			numeric: true,
			show:    func(c Config) string { return strconv.Itoa(c.LegacyMaxDays) },
			set:     func(c *Config, s string) error { return setInt(&c.LegacyMaxDays, s) },
			check: func(c Config) error {
				if c.LegacyMaxDays < 0 || c.LegacyMaxDays > 36500 {
					return fmt.Errorf("%d: must be from 0 to 36500", c.LegacyMaxDays)
				}
				return nil
			},
		},
		{
			flag: "require-2fa", env: "GATEHOUSE_REQUIRE_2FA", key: "require_2fa", arg: "true|false",
			help: "When true, users without two-factor authentication cannot publish, change packages or create tokens " +
				"until they enable it (npm profile enable-2fa); logging in and enabling 2FA still work.",
			show: func(c Config) string { return strconv.FormatBool(c.Require2FA) },
			set: func(c *Config, s string) error {
				b, err := strconv.ParseBool(s)
				if err != nil {
					return fmt.Errorf("%q is not true or false", s)
				}
				c.Require2FA = b
				return nil
			},
			check:   func(Config) error { return nil },
			boolean: true,
		},
		{
			flag: "log-level", env: "GATEHOUSE_LOG_LEVEL", key: "log_level", arg: "LEVEL",
			help: "Least severe log messages written: debug, info, warn or error.",
			show: func(c Config) string { return c.LogLevel },
			set:  func(c *Config, s string) error { c.LogLevel = s; return nil },
			check: func(c Config) error {
				return checkOneOf(c.LogLevel, "debug", "info", "warn", "error")
			},
		},
		{
			flag: "log-format", env: "GATEHOUSE_LOG_FORMAT", key: "log_format", arg: "text|json",
			help: "How log lines are written: text (key=value pairs, for people) or json (one JSON object a line, " +
				"for log collectors). Either way each request's lines carry its request_id.",
			show:  func(c Config) string { return c.LogFormat },
			set:   func(c *Config, s string) error { c.LogFormat = s; return nil },
			check: func(c Config) error { return checkOneOf(c.LogFormat, "text", "json") },
		},
		{
			flag: "metrics-listen", env: "GATEHOUSE_METRICS_LISTEN", key: "metrics_listen", arg: "HOST:PORT",
			help: "TCP address serving Prometheus metrics at /metrics, apart from the registry, e.g. 127.0.0.1:9464 " +
				"or a private interface. Empty serves no metrics; the registry's own address never does.",
			show: func(c Config) string {
				if c.MetricsListen == "" {
					return "empty (no metrics)"
				}
				return c.MetricsListen
			},
			set: func(c *Config, s string) error { c.MetricsListen = strings.TrimSpace(s); return nil },
			check: func(c Config) error {
				if c.MetricsListen == "" {
					return nil
				}
				if err := checkListen(c.MetricsListen); err != nil {
					return err
				}
				if _, port, _ := net.SplitHostPort(c.MetricsListen); c.MetricsListen == c.Listen && port != "0" {
					return fmt.Errorf("%q: must differ from listen, which serves the registry", c.MetricsListen)
				}
				return nil
			},
		},
		{
			flag: "cache-size", env: "GATEHOUSE_CACHE_SIZE", key: "cache_size", arg: "SIZE",
			help: "Bound on the in-memory cache of package documents (packuments as served), package rows and " +
				"tarball locations. Reads of packages in it cost no database query; raise it, with memory_limit, " +
				"when the packages read often do not fit (docs/benchmarks.md, scale). Plain bytes or a whole " +
				"number with a unit, e.g. 256MiB; at least 1MiB.",
			numeric: true,
			show:    func(c Config) string { return formatSize(c.CacheSize) },
			set:     func(c *Config, s string) error { return setSize(&c.CacheSize, s) },
			check: func(c Config) error {
				if c.CacheSize < 1<<20 || c.CacheSize > 1<<40 {
					return fmt.Errorf("%s: must be from 1MiB to 1TiB", formatSize(c.CacheSize))
				}
				return nil
			},
		},
		{
			flag: "gc-percent", env: "GATEHOUSE_GC_PERCENT", key: "gc_percent", arg: "PERCENT",
			help: "How far the heap may grow past the memory in use before Go collects garbage, in percent (Go's GOGC, " +
				"which this replaces). gatehouse's heap is small and most of what it allocates lives for one request, " +
				"so Go's own default of 100 spends much of the CPU on collections; 400 serves up to twice as many " +
				"requests for a few tens of MB more (docs/operations.md). From 10 to 10000.",
			numeric: true,
			show:    func(c Config) string { return strconv.Itoa(c.GCPercent) },
			set:     func(c *Config, s string) error { return setInt(&c.GCPercent, s) },
			check: func(c Config) error {
				if c.GCPercent < 10 || c.GCPercent > 10000 {
					return fmt.Errorf("%d: must be from 10 to 10000", c.GCPercent)
				}
				return nil
			},
		},
		{
			flag: "memory-limit", env: "GATEHOUSE_MEMORY_LIMIT", key: "memory_limit", arg: "SIZE",
			help: "A soft limit on the memory the Go runtime uses (Go's GOMEMLIMIT, which this replaces): nearing it, " +
				"garbage is collected more often, whatever gc_percent says, so that a node whose caches are full does " +
				"not grow to gc_percent times them. Plain bytes or a whole number with a unit, e.g. 512MiB. " +
				"0 leaves Go's own setting (GOMEMLIMIT when set, else none).",
			numeric: true,
			show: func(c Config) string {
				if c.MemoryLimit == 0 {
					return "0 (GOMEMLIMIT, or none)"
				}
				return formatSize(c.MemoryLimit)
			},
			set: func(c *Config, s string) error {
				if strings.TrimSpace(s) == "0" {
					c.MemoryLimit = 0
					return nil
				}
				return setSize(&c.MemoryLimit, s)
			},
			check: func(c Config) error {
				if c.MemoryLimit != 0 && c.MemoryLimit < 32<<20 {
					return fmt.Errorf("%s: must be 0 (no limit) or at least 32MiB", formatSize(c.MemoryLimit))
				}
				return nil
			},
		},
		{
			flag: "pprof", env: "GATEHOUSE_PPROF", key: "pprof", arg: "true|false",
			help: "When true, the metrics address (--metrics-listen, which it needs) also serves Go's CPU, heap and " +
				"goroutine profiles at /debug/pprof/, for go tool pprof. Off by default: profiles show the program's insides.",
			show: func(c Config) string { return strconv.FormatBool(c.Pprof) },
			set: func(c *Config, s string) error {
				b, err := strconv.ParseBool(s)
				if err != nil {
					return fmt.Errorf("%q is not true or false", s)
				}
				c.Pprof = b
				return nil
			},
			check: func(c Config) error {
				if c.Pprof && c.MetricsListen == "" {
					return fmt.Errorf("needs metrics_listen: profiles are served on the metrics address only")
				}
				return nil
			},
			boolean: true,
		},
	}
}

// Load parses args (the arguments after `gatehouse serve`, e.g. []string{"--listen", "127.0.0.1:0"})
// with getenv for GATEHOUSE_* variables. Precedence: flag > env > config file > Default().
// The config file is named by --config FILE (or GATEHOUSE_CONFIG); .toml is TOML, .yaml/.yml is YAML,
// anything else is an error. Unknown keys in the file are an error naming the key.
//
// An environment variable set to the empty string counts as unset; an empty
// flag value (--url "") does override. A nil getenv means os.Getenv, and a
// nil stderr discards output. For --help or -h, Load prints the usage text to
// stderr and returns an error satisfying errors.Is(err, flag.ErrHelp). The
// result has passed Validate.
func Load(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if stderr == nil {
		stderr = io.Discard
	}
	all := settings()

	fs := flag.NewFlagSet("gatehouse serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { writeUsage(fs.Output(), all) }
	configPath := fs.String(configFlag, "", "")
	values := make([]*string, len(all))
	for i, s := range all {
		values[i] = fs.String(s.flag, "", "")
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, fmt.Errorf("gatehouse serve: %w", err)
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("gatehouse serve: unexpected argument %q (settings are given as --name value)", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })

	cfg := Default()

	path := getenv(configEnv)
	if given[configFlag] {
		path = *configPath
	}
	if path != "" {
		if err := applyFile(&cfg, all, path); err != nil {
			return Config{}, err
		}
	}

	for _, s := range all {
		v := getenv(s.env)
		if v == "" {
			continue
		}
		if err := s.set(&cfg, v); err != nil {
			return Config{}, fmt.Errorf("environment variable %s: %w", s.env, err)
		}
	}

	for i, s := range all {
		if !given[s.flag] {
			continue
		}
		if err := s.set(&cfg, *values[i]); err != nil {
			return Config{}, fmt.Errorf("flag --%s: %w", s.flag, err)
		}
	}

	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate reports every setting of c that is out of range or malformed, one
// per line, naming the setting's flag, environment variable and file key. It
// returns nil for a usable Config; Default() is one.
func (c Config) Validate() error {
	var errs []error
	for _, s := range settings() {
		if err := s.check(c); err != nil {
			errs = append(errs, fmt.Errorf("invalid %s (--%s, %s, file key %s): %w", s.key, s.flag, s.env, s.key, err))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("invalid configuration: %w", errors.Join(errs...))
}

// applyFile reads the config file at path and stores each key it sets into cfg.
func applyFile(cfg *Config, all []setting, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config file: %w", err)
	}
	var raw map[string]any
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".toml":
		if err := toml.Unmarshal(data, &raw); err != nil {
			return fmt.Errorf("config file %s: parse TOML: %w", path, err)
		}
	case ".yaml", ".yml":
		if err := yaml.Unmarshal(data, &raw); err != nil {
			return fmt.Errorf("config file %s: parse YAML: %w", path, err)
		}
	default:
		return fmt.Errorf("config file %s: unsupported extension %q: use .toml, .yaml or .yml", path, ext)
	}

	known := make([]string, len(all))
	for i, s := range all {
		known[i] = s.key
	}
	var unknown []string
	for k := range raw {
		if !slices.Contains(known, k) {
			unknown = append(unknown, strconv.Quote(k))
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		noun := "key"
		if len(unknown) > 1 {
			noun = "keys"
		}
		return fmt.Errorf("config file %s: unknown %s %s (known keys: %s)",
			path, noun, strings.Join(unknown, ", "), strings.Join(known, ", "))
	}

	for _, s := range all {
		v, ok := raw[s.key]
		if !ok {
			continue
		}
		text, err := fileText(s, v)
		if err == nil {
			err = s.set(cfg, text)
		}
		if err != nil {
			return fmt.Errorf("config file %s: key %s: %w", path, s.key, err)
		}
	}
	return nil
}

// fileText turns a decoded config file value into the text s.set parses.
// Every value must be a string, except that a numeric setting may also be
// a whole number.
func fileText(s setting, v any) (string, error) {
	if str, ok := v.(string); ok {
		return str, nil
	}
	if b, ok := v.(bool); ok && s.boolean {
		return strconv.FormatBool(b), nil
	}
	if list, ok := v.([]any); ok && s.list {
		parts := make([]string, len(list))
		for i, item := range list {
			str, ok := item.(string)
			if !ok {
				return "", fmt.Errorf("list item %d must be a string, got %s", i+1, describe(item))
			}
			parts[i] = str
		}
		return strings.Join(parts, ","), nil
	}
	if s.numeric {
		switch n := v.(type) {
		case int:
			return strconv.Itoa(n), nil
		case int64:
			return strconv.FormatInt(n, 10), nil
		case uint64:
			return strconv.FormatUint(n, 10), nil
		case float64:
			if n == math.Trunc(n) && math.Abs(n) < 1<<63 {
				return strconv.FormatInt(int64(n), 10), nil
			}
			return "", fmt.Errorf("%v is not a whole number of bytes", n)
		}
		return "", fmt.Errorf("must be a number or a string, got %s", describe(v))
	}
	return "", fmt.Errorf("must be a string, got %s", describe(v))
}

// describe names the kind of a decoded config file value, for error messages.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "no value"
	case bool:
		return fmt.Sprintf("boolean %t", v)
	case int, int64, uint64, float64:
		return fmt.Sprintf("number %v", v)
	case map[string]any:
		return "a table"
	case []any, []map[string]any:
		return "a list"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// sizeUnits maps the lower-case size units parseSize accepts to their byte counts.
func sizeUnits() map[string]int64 {
	return map[string]int64{
		"":    1,
		"b":   1,
		"kb":  1000,
		"mb":  1000 * 1000,
		"gb":  1000 * 1000 * 1000,
		"kib": 1 << 10,
		"mib": 1 << 20,
		"gib": 1 << 30,
	}
}

// parseSize parses a byte count: a whole number, optionally followed by a
// unit B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024),
// in any case and with optional space before the unit, e.g. "104857600",
// "100MiB", "10 mb". It does not reject 0; Validate does.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	digits := len(t) - len(strings.TrimLeft(t, "0123456789"))
	number, unit := t[:digits], strings.ToLower(strings.TrimSpace(t[digits:]))
	mult, ok := sizeUnits()[unit]
	if number == "" || !ok {
		return 0, fmt.Errorf("invalid size %q: want a whole number of bytes, optionally with a unit B, KB, MB, GB, KiB, MiB or GiB", s)
	}
	n, err := strconv.ParseInt(number, 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return n * mult, nil
}

// formatSize writes n bytes the way --help shows sizes: in the largest
// binary unit that divides it exactly, e.g. "100MiB", or as plain bytes.
func formatSize(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

// setDuration parses s as a Go duration into d.
func setDuration(d *time.Duration, s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q: want a Go duration such as 12h, 90m or 30s", s)
	}
	*d = v
	return nil
}

// formatDuration writes d without trailing zero units: "12h", not "12h0m0s".
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// checkPositive requires d to be more than zero.
func checkPositive(d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%s: must be more than 0", formatDuration(d))
	}
	return nil
}

// checkOneOf requires v to be one of choices, exactly.
func checkOneOf(v string, choices ...string) error {
	if slices.Contains(choices, v) {
		return nil
	}
	return fmt.Errorf("%q: must be one of %s", v, strings.Join(choices, ", "))
}

// checkListen requires addr to be host:port with a numeric port.
func checkListen(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want HOST:PORT such as 127.0.0.1:4873 or :4873: %w", addr, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	return nil
}

// checkURL requires raw to be empty or an absolute http or https URL with a
// host, no credentials, query or fragment, and no trailing slash.
func checkURL(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q: %w", raw, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q: must be an absolute http:// or https:// URL", raw)
	case u.Host == "" || u.Opaque != "":
		return fmt.Errorf("%q: must name a host", raw)
	case u.User != nil:
		return fmt.Errorf("%q: must not contain a user name or password", raw)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("%q: must not have a query or fragment", raw)
	case strings.HasSuffix(raw, "/"):
		return fmt.Errorf("%q: must not end with /", raw)
	}
	return nil
}

// checkDatabase requires raw to be empty or a postgres:// or postgresql:// URL.
// Its errors never repeat the URL, which may hold a password.
func checkDatabase(raw string) error {
	if raw == "" {
		return nil
	}
	scheme, _, ok := strings.Cut(raw, "://")
	if !ok || !strings.EqualFold(scheme, "postgres") && !strings.EqualFold(scheme, "postgresql") {
		return errors.New("must be empty (SQLite) or a postgres:// or postgresql:// URL")
	}
	if _, err := url.Parse(raw); err != nil {
		return errors.New("is not a valid URL (a password with special characters must be percent-encoded)")
	}
	return nil
}

// checkTokenPrefix requires p to be 1 to 16 characters of [A-Za-z0-9_] ending with _.
func checkTokenPrefix(p string) error {
	if len(p) < 1 || len(p) > 16 {
		return fmt.Errorf("%q: must be 1 to 16 characters long", p)
	}
	for _, r := range p {
		ok := r == '_' || r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z'
		if !ok {
			return fmt.Errorf("%q: may only contain A-Z, a-z, 0-9 and _", p)
		}
	}
	if !strings.HasSuffix(p, "_") {
		return fmt.Errorf("%q: must end with _", p)
	}
	return nil
}

// writeUsage prints the --help text: every flag with what it does, its
// default, its environment variable and its file key, then the precedence rules.
func writeUsage(w io.Writer, all []setting) {
	def := Default()
	var b strings.Builder
	b.WriteString("Usage: gatehouse serve [flags]\n\n")
	b.WriteString("Runs the gatehouse npm registry.\n\nFlags:\n")
	fmt.Fprintf(&b, "  --%s FILE\n", configFlag)
	b.WriteString(wrap("Read settings from FILE: .toml is TOML, .yaml or .yml is YAML. " +
		"Keys are the file keys named below; an unknown key is an error. " +
		"Durations are strings (\"12h\"); max_body_size is a number of bytes or a string with a unit (\"100MiB\")."))
	fmt.Fprintf(&b, "        Default: none. Env: %s. File key: none (a file cannot name another).\n", configEnv)
	for _, s := range all {
		fmt.Fprintf(&b, "  --%s %s\n", s.flag, s.arg)
		b.WriteString(wrap(s.help))
		fmt.Fprintf(&b, "        Default: %s. Env: %s. File key: %s.\n", s.show(def), s.env, s.key)
	}
	b.WriteString("\nPrecedence:\n")
	b.WriteString(wrap("Each setting is taken from the first place that gives it: a command-line flag, " +
		"then a GATEHOUSE_* environment variable (an empty one counts as unset), then the config file " +
		"named by --config or GATEHOUSE_CONFIG, then the default shown above. " +
		"Flags may be written with one dash or two, as --name value or --name=value."))
	// A failed write to stderr leaves nothing useful to do.
	_, _ = io.WriteString(w, b.String())
}

// wrap indents text by eight spaces and breaks it into lines of at most
// about 80 columns.
func wrap(text string) string {
	const indent, width = "        ", 80
	var b strings.Builder
	line := indent
	for _, word := range strings.Fields(text) {
		if len(line) > len(indent) && len(line)+1+len(word) > width {
			b.WriteString(line + "\n")
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += word
	}
	b.WriteString(line + "\n")
	return b.String()
}

// setInt parses a whole number into *dst.
// setSize sets *dst to the size s gives (see parseSize).
func setSize(dst *int64, s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	*dst = n
	return nil
}

func setInt(dst *int, s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%q is not a whole number", s)
	}
	*dst = n
	return nil
}
