// Package config holds gatehouse's settings and reads them from flags,
// GATEHOUSE_* environment variables and an optional TOML or YAML file.
package config

import (
	"net/netip"
	"path/filepath"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/idtoken"
	"github.com/gatehouse-registry/gatehouse/internal/sso"
	"github.com/gatehouse-registry/gatehouse/internal/uplink"
)

// Config is everything `gatehouse serve` can be told. Precedence, highest first:
// command-line flag, GATEHOUSE_* environment variable, config file, default.
type Config struct {
	// Listen is the TCP address to serve on (flag --listen, env GATEHOUSE_LISTEN, file key listen).
	Listen string
	// DataDir holds the SQLite database and the tarball folder (--data, GATEHOUSE_DATA, data).
	DataDir string
	// Database is empty for SQLite under DataDir, or a postgres:// or postgresql://
	// URL of a PostgreSQL database (--database, GATEHOUSE_DATABASE, database).
	// It may hold a password: never log it whole.
	Database string
	// KeyFile is the server key's file; empty means server.key in DataDir
	// (--key-file, GATEHOUSE_KEY_FILE, key_file). Nodes sharing a database
	// must share the key.
	KeyFile string
	// Key is the server key itself, from the environment variable
	// GATEHOUSE_KEY alone (never a flag, which any process list shows, nor
	// the config file): 64 hexadecimal digits or 32 bytes in base64. When
	// set, no key file is read or created. It is a secret: never log it.
	Key string
	// Blobs is where tarballs live: empty for the folder DataDir/tarballs,
	// file:///abs/path for another folder, or s3://BUCKET?endpoint=...&region=...
	// for an S3-compatible bucket whose credentials come from the AWS
	// environment variables (--blobs, GATEHOUSE_BLOBS, blobs).
	Blobs string
	// URL is the public base URL used in tarball links; empty means "from the request"
	// (--url, GATEHOUSE_URL, url).
	URL string
	// Registration is "open" (npm adduser creates accounts) or "closed"
	// (--registration, GATEHOUSE_REGISTRATION, registration).
	Registration string
	// ReadAccess is "public" (anyone reads what is not restricted) or
	// "authenticated" (a private registry: every read needs a valid
	// credential) (--read-access, GATEHOUSE_READ_ACCESS, read_access).
	ReadAccess string
	// TLSCert and TLSKey are the PEM files of the certificate chain and its
	// key to serve HTTPS with; empty serves plain HTTP (--tls-cert,
	// GATEHOUSE_TLS_CERT, tls_cert; --tls-key, GATEHOUSE_TLS_KEY, tls_key).
	TLSCert, TLSKey string
	// MaxBodySize is the largest request body accepted, in bytes; publishes over it get 413
	// (--max-body-size, GATEHOUSE_MAX_BODY_SIZE, max_body_size; accepts 104857600, "100MiB", "10MB", "512KiB").
	MaxBodySize int64
	// TransferTimeout is how long a request body or a response may stall: the
	// grace before MinTransferRate applies, and the longest pause
	// (--transfer-timeout, GATEHOUSE_TRANSFER_TIMEOUT, transfer_timeout).
	TransferTimeout time.Duration
	// MinTransferRate is the slowest a request body or a response may go
	// after TransferTimeout, in bytes a second
	// (--min-transfer-rate, GATEHOUSE_MIN_TRANSFER_RATE, min_transfer_rate).
	MinTransferRate int64
	// SessionTTL is how long a login session token lives (--session-ttl, GATEHOUSE_SESSION_TTL, session_ttl).
	SessionTTL time.Duration
	// TokenPrefix starts every token string (--token-prefix, GATEHOUSE_TOKEN_PREFIX, token_prefix).
	TokenPrefix string
	// ShutdownTimeout bounds how long SIGTERM waits for in-flight requests
	// (--shutdown-timeout, GATEHOUSE_SHUTDOWN_TIMEOUT, shutdown_timeout).
	ShutdownTimeout time.Duration
	// LogLevel is debug, info, warn or error (--log-level, GATEHOUSE_LOG_LEVEL, log_level).
	LogLevel string
	// LogFormat is "text" (key=value lines) or "json" (one JSON object a line)
	// (--log-format, GATEHOUSE_LOG_FORMAT, log_format).
	LogFormat string
	// MetricsListen is the TCP address serving Prometheus metrics at /metrics; empty
	// serves no metrics. The main address never serves them
	// (--metrics-listen, GATEHOUSE_METRICS_LISTEN, metrics_listen).
	MetricsListen string
	// Pprof also serves Go's runtime profiles (net/http/pprof) at /debug/pprof/
	// on the metrics address (--pprof, GATEHOUSE_PPROF, pprof; true or false).
	Pprof bool
	// LogBuffer bounds the log lines waiting to be written, in bytes
	// (--log-buffer, GATEHOUSE_LOG_BUFFER, log_buffer); see internal/logqueue.
	LogBuffer int64
	// CacheSize bounds the in-memory cache of package documents, rows and
	// tarball locations, in bytes (--cache-size, GATEHOUSE_CACHE_SIZE,
	// cache_size).
	CacheSize int64
	// GCPercent is how far, in percent of the live heap, the heap may grow
	// before Go collects garbage: Go's GOGC, which it replaces
	// (--gc-percent, GATEHOUSE_GC_PERCENT, gc_percent).
	GCPercent int
	// MemoryLimit, when above 0, is a soft limit on the Go runtime's memory in
	// bytes, past which it collects garbage more often: Go's GOMEMLIMIT, which
	// it replaces; 0 leaves Go's own (--memory-limit, GATEHOUSE_MEMORY_LIMIT,
	// memory_limit).
	MemoryLimit int64
	// CacheSizeSet and MemoryLimitSet say whether cache_size and
	// memory_limit were given (by flag, environment or file), even at their
	// default values: serve sizes those not given from the machine's memory
	// (internal/memsize), and never overrides one an operator wrote.
	CacheSizeSet, MemoryLimitSet bool
	// TrustedProxies are the CIDR ranges of reverse proxies whose X-Forwarded-For is believed
	// (--trusted-proxies, GATEHOUSE_TRUSTED_PROXIES, trusted_proxies; comma-separated, or a list in the file).
	TrustedProxies []netip.Prefix
	// HookAllow lists the internal addresses (CIDR ranges, addresses) and
	// host names that webhook endpoints may reach, which are refused
	// otherwise (--hook-allow, GATEHOUSE_HOOK_ALLOW, hook_allow;
	// docs/webhooks.md).
	HookAllow []string
	// HookRetry is the wait before a failed delivery's first retry,
	// doubled after each failure up to an hour (--hook-retry,
	// GATEHOUSE_HOOK_RETRY, hook_retry).
	HookRetry time.Duration
	// LegacyTokens is "enabled" or "disabled": whether read-only, automation and publish tokens
	// may be created and used (--legacy-tokens, GATEHOUSE_LEGACY_TOKENS, legacy_tokens).
	LegacyTokens string
	// MaxWriteTokenDays caps the lifetime of granular tokens that can write
	// (--max-write-token-days, GATEHOUSE_MAX_WRITE_TOKEN_DAYS, max_write_token_days).
	MaxWriteTokenDays int
	// LegacyMaxDays, when above 0, makes new legacy tokens expire after that many days
	// (--legacy-max-days, GATEHOUSE_LEGACY_MAX_DAYS, legacy_max_days).
	LegacyMaxDays int
	// Require2FA refuses writes and token creation to users without two-factor authentication
	// (--require-2fa, GATEHOUSE_REQUIRE_2FA, require_2fa; true or false).
	Require2FA bool
	// Uplinks are the upstream registries proxied, in order: the first
	// whose patterns match a name that is not local serves it (--uplink
	// NAME=URL, repeatable; GATEHOUSE_UPLINK, NAME=URL,NAME=URL; uplinks, a
	// list of NAME=URL strings or tables with every setting of an uplink).
	Uplinks []uplink.Spec
	// Offline keeps every uplink from being contacted: only what is cached
	// is served (--offline, GATEHOUSE_OFFLINE, offline; true or false).
	Offline bool
	// PublishUplinkNames is "refuse" (a new unscoped package may not take
	// a name an uplink has) or "allow" (--publish-uplink-names,
	// GATEHOUSE_PUBLISH_UPLINK_NAMES, publish_uplink_names).
	PublishUplinkNames string
	// TrustedIssuers are the OIDC issuers whose CI jobs may exchange an ID
	// token for a short-lived publish token (trusted publishing, npm trust);
	// none by default (--trusted-issuers as JSON, GATEHOUSE_TRUSTED_ISSUERS
	// as JSON, trusted_issuers as a list of tables in the file).
	TrustedIssuers []idtoken.Issuer
	// OIDCTokenTTL is how long a token exchanged for an OIDC identity lives,
	// at most an hour (--oidc-token-ttl, GATEHOUSE_OIDC_TOKEN_TTL, oidc_token_ttl).
	OIDCTokenTTL time.Duration
	// AuditRetention is how long audit events are kept; 0 keeps them
	// forever (--audit-retention, GATEHOUSE_AUDIT_RETENTION, audit_retention;
	// days such as "365d" or a Go duration).
	AuditRetention time.Duration
	// SSOProviders are the OpenID Connect providers people sign in with
	// (--sso-providers as JSON, GATEHOUSE_SSO_PROVIDERS as JSON,
	// sso_providers as a list of tables in the file); none by default.
	SSOProviders []sso.Provider
	// SSOOnly turns local passwords off for everyone but site
	// administrators (--sso-only, GATEHOUSE_SSO_ONLY, sso_only).
	SSOOnly bool
}

// Audience is the aud that CI jobs' ID tokens must carry for trusted
// publishing: "npm:" and the host name of URL (no port, no path), which is
// what npm asks its CI for. It is "" when URL is empty.
func (c Config) Audience() string {
	host := urlHostname(c.URL)
	if host == "" {
		return ""
	}
	return "npm:" + host
}

// KeyPath is the file of the server key: KeyFile, or server.key in DataDir.
func (c Config) KeyPath() string {
	if c.KeyFile != "" {
		return c.KeyFile
	}
	return filepath.Join(c.DataDir, "server.key")
}

// Default returns the settings used when nothing else is given.
func Default() Config {
	return Config{
		Listen:          "127.0.0.1:4873",
		DataDir:         "./gatehouse-data",
		Registration:    "open",
		ReadAccess:      "public",
		MaxBodySize:     100 << 20,
		TransferTimeout: 30 * time.Second,
		MinTransferRate: 16 << 10,
		SessionTTL:      12 * time.Hour,
		TokenPrefix:     "npm_",
		ShutdownTimeout: 30 * time.Second,
		HookRetry:       10 * time.Second,
		LogLevel:        "info",
		LogFormat:       "text",
		LegacyTokens:    "enabled",
		GCPercent:       400,
		CacheSize:       64 << 20,
		LogBuffer:       1 << 20,
		MemoryLimit:     256 << 20,

		MaxWriteTokenDays: 90,

		PublishUplinkNames: "refuse",
		OIDCTokenTTL:       time.Hour,
		AuditRetention:     365 * 24 * time.Hour,
	}
}
