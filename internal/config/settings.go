package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/blob"
	"github.com/gatehouse-registry/gatehouse/internal/delivery"
	"github.com/gatehouse-registry/gatehouse/internal/units"
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
	// repeat lets the flag be given several times; the values are joined
	// with commas for set, as the environment variable gives them.
	repeat bool
	// show formats the setting's value in c, for the defaults in --help.
	show func(c Config) string
	// set parses s and stores it into c. It only checks syntax;
	// Validate checks the meaning.
	set func(c *Config, s string) error
	// check reports what is wrong with the setting's value in c, if anything.
	check func(c Config) error
	// decode, when set, stores a config file value that is not a string
	// (a list of tables) into c; a string still goes to set.
	decode func(c *Config, v any) error
}

// settings lists every Config field in the order --help shows them.
func settings() []setting {
	return append(append(coreSettings(), uplinkSettings()...), ssoSettings()...)
}

// coreSettings are the settings of the registry itself.
func coreSettings() []setting {
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
			show:  func(c Config) string { return orEmpty(c.KeyFile, "empty (server.key in --data)") },
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
			show: func(c Config) string { return orEmpty(c.Blobs, "empty (the folder tarballs under --data)") },
			set:  func(c *Config, s string) error { c.Blobs = strings.TrimSpace(s); return nil },
			check: func(c Config) error {
				_, err := blob.ParseLocation(c.Blobs, filepath.Join(c.DataDir, "tarballs"))
				return err
			},
		},
		{
			flag: "url", env: "GATEHOUSE_URL", key: "url", arg: "URL",
			help: "Public base URL of the registry (http or https), used in tarball links. " +
				"Set it when gatehouse runs behind a proxy; empty means the URL of each request. A trailing slash is removed.",
			show:  func(c Config) string { return orEmpty(c.URL, "empty (taken from each request)") },
			set:   func(c *Config, s string) error { c.URL = strings.TrimRight(s, "/"); return nil },
			check: func(c Config) error { return checkURL(c.URL) },
		},
		setting{
			flag: "registration", env: "GATEHOUSE_REGISTRATION", key: "registration", arg: "open|closed",
			help: "Whether `npm adduser` may create accounts (open) or only existing users may log in (closed).",
		}.choice(func(c *Config) *string { return &c.Registration }, "open", "closed"),
		setting{
			flag: "read-access", env: "GATEHOUSE_READ_ACCESS", key: "read_access", arg: "public|authenticated",
			help: "Who may read packages, tarballs, search, audits and the website: anyone (public), or only a valid " +
				"login or token (authenticated: a private registry; anonymous clients get 401 and npm asks for npm login). " +
				"Logging in, the sign-in and sign-up pages, /-/ping and /-/ready stay open.",
		}.choice(func(c *Config) *string { return &c.ReadAccess }, "public", "authenticated"),
		{
			flag: "tls-cert", env: "GATEHOUSE_TLS_CERT", key: "tls_cert", arg: "FILE",
			help: "PEM certificate chain to serve HTTPS with, directly (with --tls-key); empty serves plain HTTP, " +
				"for a reverse proxy that terminates TLS. Read again on SIGHUP and when the files change.",
			show:  func(c Config) string { return orEmpty(c.TLSCert, "empty (plain HTTP)") },
			set:   func(c *Config, s string) error { c.TLSCert = strings.TrimSpace(s); return nil },
			check: func(Config) error { return nil }, // the server reads the pair at start and says what is wrong
		},
		{
			flag: "tls-key", env: "GATEHOUSE_TLS_KEY", key: "tls_key", arg: "FILE",
			help:  "PEM private key of --tls-cert. It is a secret: keep the file readable by gatehouse alone.",
			show:  func(c Config) string { return orEmpty(c.TLSKey, "empty") },
			set:   func(c *Config, s string) error { c.TLSKey = strings.TrimSpace(s); return nil },
			check: func(Config) error { return nil },
		},
		setting{
			flag: "max-body-size", env: "GATEHOUSE_MAX_BODY_SIZE", key: "max_body_size", arg: "SIZE",
			help: "Largest request body accepted; bigger publishes get 413. Plain bytes or a whole number with a unit: " +
				"B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024), any case, e.g. 104857600, 100MiB, 10MB.",
			check: func(c Config) error {
				if c.MaxBodySize <= 0 {
					return fmt.Errorf("%d bytes: must be more than 0", c.MaxBodySize)
				}
				return nil
			},
		}.size(func(c *Config) *int64 { return &c.MaxBodySize }),
		setting{
			flag: "transfer-timeout", env: "GATEHOUSE_TRANSFER_TIMEOUT", key: "transfer_timeout", arg: "DURATION",
			help: "How long a request body or a response may stall: the grace before --min-transfer-rate applies, " +
				"and the longest pause, as a Go duration such as 30s. A slower client's connection is closed.",
		}.duration(func(c *Config) *time.Duration { return &c.TransferTimeout }),
		setting{
			flag: "min-transfer-rate", env: "GATEHOUSE_MIN_TRANSFER_RATE", key: "min_transfer_rate", arg: "SIZE",
			help: "Slowest rate, in bytes a second, at which a request body must arrive and a response be read " +
				"once --transfer-timeout has passed, as a size such as 16KiB.",
			check: func(c Config) error {
				if c.MinTransferRate <= 0 {
					return fmt.Errorf("%d bytes a second: must be more than 0", c.MinTransferRate)
				}
				return nil
			},
		}.size(func(c *Config) *int64 { return &c.MinTransferRate }),
		setting{
			flag: "session-ttl", env: "GATEHOUSE_SESSION_TTL", key: "session_ttl", arg: "DURATION",
			help: "How long a login session token stays valid, as a Go duration such as 12h or 90m.",
		}.duration(func(c *Config) *time.Duration { return &c.SessionTTL }),
		{
			flag: "token-prefix", env: "GATEHOUSE_TOKEN_PREFIX", key: "token_prefix", arg: "PREFIX",
			help: "Prefix of every token string, so secret scanners can spot leaked tokens: " +
				"1 to 16 characters of A-Z, a-z, 0-9 and _, ending with _.",
			show:  func(c Config) string { return c.TokenPrefix },
			set:   func(c *Config, s string) error { c.TokenPrefix = s; return nil },
			check: func(c Config) error { return checkTokenPrefix(c.TokenPrefix) },
		},
		setting{
			flag: "shutdown-timeout", env: "GATEHOUSE_SHUTDOWN_TIMEOUT", key: "shutdown_timeout", arg: "DURATION",
			help: "How long SIGTERM waits for in-flight requests before closing them, as a Go duration such as 30s.",
		}.duration(func(c *Config) *time.Duration { return &c.ShutdownTimeout }),
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
			flag: "hook-allow", env: "GATEHOUSE_HOOK_ALLOW", key: "hook_allow", arg: "CIDR-OR-HOST,...",
			help: "Internal receivers webhooks may reach: CIDR ranges, addresses and host names. Without them a " +
				"hook's endpoint may not be a loopback, private, link-local or cloud-metadata address, checked " +
				"when the hook is made and on every connection (docs/webhooks.md).",
			list: true,
			show: func(c Config) string {
				if len(c.HookAllow) == 0 {
					return "empty (internal addresses refused)"
				}
				return strings.Join(c.HookAllow, ",")
			},
			set: func(c *Config, s string) error {
				c.HookAllow = nil
				for _, part := range strings.Split(s, ",") {
					if part = strings.TrimSpace(part); part != "" {
						c.HookAllow = append(c.HookAllow, part)
					}
				}
				_, err := delivery.ParseAllow(c.HookAllow)
				return err
			},
			check: func(Config) error { return nil },
		},
		setting{
			flag: "hook-retry", env: "GATEHOUSE_HOOK_RETRY", key: "hook_retry", arg: "DURATION",
			help: "How long a failed webhook delivery waits before its first retry, as a Go duration such as 10s; " +
				"doubled after each failure up to an hour, for a day.",
		}.duration(func(c *Config) *time.Duration { return &c.HookRetry }),
		setting{
			flag: "legacy-tokens", env: "GATEHOUSE_LEGACY_TOKENS", key: "legacy_tokens", arg: "enabled|disabled",
			help: "Whether legacy read-only, automation and publish tokens may be created and used. " +
				"disabled refuses new ones and stops existing ones working, as npm did in December 2025.",
		}.choice(func(c *Config) *string { return &c.LegacyTokens }, "enabled", "disabled"),
		setting{
			flag: "max-write-token-days", env: "GATEHOUSE_MAX_WRITE_TOKEN_DAYS", key: "max_write_token_days", arg: "DAYS",
			help: "Longest lifetime, in days, of a granular token that can write or bypass two-factor authentication.",
		}.whole(func(c *Config) *int { return &c.MaxWriteTokenDays }, 1, 36500),
		setting{
			flag: "legacy-max-days", env: "GATEHOUSE_LEGACY_MAX_DAYS", key: "legacy_max_days", arg: "DAYS",
			help: "When above 0, new legacy tokens expire after this many days; 0 means they never expire (npm's rule).",
		}.whole(func(c *Config) *int { return &c.LegacyMaxDays }, 0, 36500),
		setting{
			flag: "require-2fa", env: "GATEHOUSE_REQUIRE_2FA", key: "require_2fa", arg: "true|false",
			help: "When true, users without two-factor authentication cannot publish, change packages or create tokens " +
				"until they enable it (npm profile enable-2fa); logging in and enabling 2FA still work.",
		}.onOff(func(c *Config) *bool { return &c.Require2FA }),
		{
			flag: "audit-retention", env: "GATEHOUSE_AUDIT_RETENTION", key: "audit_retention", arg: "DAYS",
			help: "How long the audit log keeps events: a whole number of days such as 365d, or a Go duration such as " +
				"720h. Older events are deleted in the background, every hour. 0 keeps them forever (docs/audit.md).",
			show: func(c Config) string { return units.FormatDays(c.AuditRetention) },
			set: func(c *Config, s string) error {
				d, err := units.ParseDays(s)
				if err != nil {
					return err
				}
				c.AuditRetention = d
				return nil
			},
			check: func(c Config) error {
				if c.AuditRetention != 0 && c.AuditRetention < time.Hour {
					return fmt.Errorf("%s: must be 0 (keep forever) or at least 1h", units.FormatDays(c.AuditRetention))
				}
				return nil
			},
		},
		setting{
			flag: "log-level", env: "GATEHOUSE_LOG_LEVEL", key: "log_level", arg: "LEVEL",
			help: "Least severe log messages written: debug, info, warn or error.",
		}.choice(func(c *Config) *string { return &c.LogLevel }, "debug", "info", "warn", "error"),
		setting{
			flag: "log-format", env: "GATEHOUSE_LOG_FORMAT", key: "log_format", arg: "text|json",
			help: "How log lines are written: text (key=value pairs, for people) or json (one JSON object a line, " +
				"for log collectors). Either way each request's lines carry its request_id.",
		}.choice(func(c *Config) *string { return &c.LogFormat }, "text", "json"),
		setting{
			flag: "log-buffer", env: "GATEHOUSE_LOG_BUFFER", key: "log_buffer", arg: "SIZE",
			help: "Bound on the log lines waiting to be written to standard error. Requests never wait for the log: " +
				"a line that does not fit is dropped and counted (gatehouse_log_lines_dropped_total), and a clean stop " +
				"writes every line buffered. Plain bytes or a whole number with a unit, e.g. 4MiB; from 64KiB to 1GiB.",
			check: func(c Config) error {
				if c.LogBuffer < 64<<10 || c.LogBuffer > 1<<30 {
					return fmt.Errorf("%s: must be from 64KiB to 1GiB", units.FormatSize(c.LogBuffer))
				}
				return nil
			},
		}.size(func(c *Config) *int64 { return &c.LogBuffer }),
		{
			flag: "metrics-listen", env: "GATEHOUSE_METRICS_LISTEN", key: "metrics_listen", arg: "HOST:PORT",
			help: "TCP address serving Prometheus metrics at /metrics, apart from the registry, e.g. 127.0.0.1:9464 " +
				"or a private interface. Empty serves no metrics; the registry's own address never does.",
			show: func(c Config) string { return orEmpty(c.MetricsListen, "empty (no metrics)") },
			set:  func(c *Config, s string) error { c.MetricsListen = strings.TrimSpace(s); return nil },
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
		setting{
			flag: "cache-size", env: "GATEHOUSE_CACHE_SIZE", key: "cache_size", arg: "SIZE",
			help: "Bound on the in-memory cache of package documents (packuments as served), package rows and " +
				"tarball locations, and on the cache of the same for packages proxied from uplinks (each may hold " +
				"this much). Reads of packages in it cost no database query; raise it, with memory_limit, " +
				"when the packages read often do not fit (docs/benchmarks.md, scale). When not set, serve sizes it from " +
				"the machine's memory (docs/operations.md); 64MiB when that is unknown. Plain bytes or a whole number with a unit, e.g. 256MiB; " +
				"at least 1MiB.",
			check: func(c Config) error {
				if c.CacheSize < 1<<20 || c.CacheSize > 1<<40 {
					return fmt.Errorf("%s: must be from 1MiB to 1TiB", units.FormatSize(c.CacheSize))
				}
				return nil
			},
		}.size(func(c *Config) *int64 { c.CacheSizeSet = true; return &c.CacheSize }),
		setting{
			flag: "gc-percent", env: "GATEHOUSE_GC_PERCENT", key: "gc_percent", arg: "PERCENT",
			help: "How far the heap may grow past the memory in use before Go collects garbage, in percent (Go's GOGC, " +
				"which this replaces). gatehouse's heap is small and most of what it allocates lives for one request, " +
				"so Go's own default of 100 spends much of the CPU on collections; 400 serves up to twice as many " +
				"requests for a few tens of MB more. While the heap in use is small and this would collect more than once a " +
				"second, serve lets it grow to 64MiB (a quarter of memory_limit when that is lower) before collecting, " +
				"whatever this says (docs/operations.md). " +
				"From 10 to 10000.",
		}.whole(func(c *Config) *int { return &c.GCPercent }, 10, 10000),
		{
			flag: "memory-limit", env: "GATEHOUSE_MEMORY_LIMIT", key: "memory_limit", arg: "SIZE",
			help: "A soft limit on the memory the Go runtime uses (Go's GOMEMLIMIT, which this replaces): nearing it, " +
				"garbage is collected more often, whatever gc_percent says, so that a node whose caches are full does " +
				"not grow to gc_percent times them. When not set, serve sizes it from the machine's memory and the " +
				"container's limit (docs/operations.md); 256MiB when that is unknown. Plain bytes or a whole number with a unit, e.g. 512MiB. " +
				"0 leaves Go's own setting (GOMEMLIMIT when set, else none).",
			numeric: true,
			show: func(c Config) string {
				if c.MemoryLimit == 0 {
					return "0 (GOMEMLIMIT, or none)"
				}
				return units.FormatSize(c.MemoryLimit)
			},
			set: func(c *Config, s string) error {
				c.MemoryLimitSet = true
				if strings.TrimSpace(s) == "0" {
					c.MemoryLimit = 0
					return nil
				}
				return setSize(&c.MemoryLimit, s)
			},
			check: func(c Config) error {
				if c.MemoryLimit != 0 && c.MemoryLimit < 32<<20 {
					return fmt.Errorf("%s: must be 0 (no limit) or at least 32MiB", units.FormatSize(c.MemoryLimit))
				}
				return nil
			},
		},
		setting{
			flag: "pprof", env: "GATEHOUSE_PPROF", key: "pprof", arg: "true|false",
			help: "When true, the metrics address (--metrics-listen, which it needs) also serves Go's CPU, heap and " +
				"goroutine profiles at /debug/pprof/, for go tool pprof. Off by default: profiles show the program's insides.",
			check: func(c Config) error {
				if c.Pprof && c.MetricsListen == "" {
					return fmt.Errorf("needs metrics_listen: profiles are served on the metrics address only")
				}
				return nil
			},
		}.onOff(func(c *Config) *bool { return &c.Pprof }),
		setting{
			flag: "oidc-token-ttl", env: "GATEHOUSE_OIDC_TOKEN_TTL", key: "oidc_token_ttl", arg: "DURATION",
			help: "How long a token that a CI job gets for its OIDC identity (trusted publishing) stays valid, " +
				"as a Go duration from 1m to 1h.",
			check: func(c Config) error {
				if c.OIDCTokenTTL < time.Minute || c.OIDCTokenTTL > time.Hour {
					return fmt.Errorf("%s: must be from 1m to 1h", units.FormatDuration(c.OIDCTokenTTL))
				}
				return nil
			},
		}.durationKeepCheck(func(c *Config) *time.Duration { return &c.OIDCTokenTTL }),
		{
			flag: "trusted-issuers", env: "GATEHOUSE_TRUSTED_ISSUERS", key: "trusted_issuers", arg: "JSON",
			help: "OIDC issuers whose CI jobs may publish without a stored token (trusted publishing, npm trust): " +
				"a list of {url, kind, jwks, claims}. url is the issuer exactly as its tokens name it (https; http only " +
				"on a loopback address); kind is github (GitHub Actions, GitHub Enterprise Server, Gitea and Forgejo " +
				"Actions), gitlab, circleci or generic; jwks, optional, is a file or URL of the issuer's keys used " +
				"instead of its discovery document (air-gapped setups); claims, for generic only, names the claims " +
				"holding the repository, file and environment. In the file, a list of tables; as a flag or variable, " +
				"JSON. Needs --url: tokens must be for the audience npm:HOST of its host. See docs/trusted-publishing.md.",
			decode: func(c *Config, v any) error {
				text, err := structuredText(v)
				if err != nil {
					return err
				}
				return setIssuers(&c.TrustedIssuers, text)
			},
			show: func(c Config) string {
				if len(c.TrustedIssuers) == 0 {
					return "empty (no trusted publishing)"
				}
				urls := make([]string, len(c.TrustedIssuers))
				for i, is := range c.TrustedIssuers {
					urls[i] = is.URL
				}
				return strings.Join(urls, ", ")
			},
			set:   func(c *Config, s string) error { return setIssuers(&c.TrustedIssuers, s) },
			check: checkIssuers,
		},
	}
}

// choice completes s as a setting holding one of choices, exactly, in the
// field f points at.
func (s setting) choice(f func(*Config) *string, choices ...string) setting {
	s.show = func(c Config) string { return *f(&c) }
	s.set = func(c *Config, v string) error { *f(c) = v; return nil }
	s.check = func(c Config) error { return checkOneOf(*f(&c), choices...) }
	return s
}

// duration completes s as a setting holding a duration above 0, written as
// a Go duration ("12h"), in the field f points at.
// durationKeepCheck completes s as a duration setting like duration, keeping s.check.
func (s setting) durationKeepCheck(f func(*Config) *time.Duration) setting {
	check := s.check
	s = s.duration(f)
	s.check = check
	return s
}

func (s setting) duration(f func(*Config) *time.Duration) setting {
	s.show = func(c Config) string { return units.FormatDuration(*f(&c)) }
	s.set = func(c *Config, v string) error { return setDuration(f(c), v) }
	s.check = func(c Config) error { return checkPositive(*f(&c)) }
	return s
}

// whole completes s as a setting holding a whole number from lo to hi in the
// field f points at.
func (s setting) whole(f func(*Config) *int, lo, hi int) setting {
	s.numeric = true
	s.show = func(c Config) string { return strconv.Itoa(*f(&c)) }
	s.set = func(c *Config, v string) error { return setInt(f(c), v) }
	s.check = func(c Config) error {
		if n := *f(&c); n < lo || n > hi {
			return fmt.Errorf("%d: must be from %d to %d", n, lo, hi)
		}
		return nil
	}
	return s
}

// onOff completes s as a setting holding true or false in the field f
// points at; s.check, when set, stays.
func (s setting) onOff(f func(*Config) *bool) setting {
	s.boolean = true
	s.show = func(c Config) string { return strconv.FormatBool(*f(&c)) }
	s.set = func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		*f(c) = b
		return nil
	}
	if s.check == nil {
		s.check = func(Config) error { return nil }
	}
	return s
}

// size completes s as a setting holding a size in bytes (see
// units.ParseSize) in the field f points at; s.check says which sizes.
func (s setting) size(f func(*Config) *int64) setting {
	s.numeric = true
	s.show = func(c Config) string { return units.FormatSize(*f(&c)) }
	s.set = func(c *Config, v string) error { return setSize(f(c), v) }
	return s
}

// orEmpty is v, or what an empty v means, for --help.
func orEmpty(v, empty string) string {
	if v == "" {
		return empty
	}
	return v
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

// setSize sets *dst to the size s gives (see units.ParseSize).
func setSize(dst *int64, s string) error {
	n, err := units.ParseSize(s)
	if err != nil {
		return err
	}
	*dst = n
	return nil
}

// setInt parses a whole number into *dst.
func setInt(dst *int, s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%q is not a whole number", s)
	}
	*dst = n
	return nil
}
