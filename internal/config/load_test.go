package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// envOf returns a getenv that reads from m only.
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// writeConfig writes values as a config file named name in a fresh directory.
// Strings are written quoted and numbers bare, which is valid TOML and YAML alike;
// the separator is " = " for .toml files and ": " otherwise.
func writeConfig(t *testing.T, name string, values map[string]any) string {
	t.Helper()
	sep := ": "
	if strings.EqualFold(filepath.Ext(name), ".toml") {
		sep = " = "
	}
	var b strings.Builder
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch v := values[k].(type) {
		case string:
			fmt.Fprintf(&b, "%s%s%s\n", k, sep, strconv.Quote(v))
		default:
			fmt.Fprintf(&b, "%s%s%v\n", k, sep, v)
		}
	}
	return writeRaw(t, name, b.String())
}

// writeRaw writes content to a file named name in a fresh directory.
func writeRaw(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadNothingGivesDefault(t *testing.T) {
	for _, args := range [][]string{nil, {}} {
		got, err := Load(args, envOf(nil), &bytes.Buffer{})
		if err != nil {
			t.Fatalf("Load(%q): %v", args, err)
		}
		if !reflect.DeepEqual(got, Default()) {
			t.Errorf("Load(%q) = %+v, want Default() %+v", args, got, Default())
		}
	}
}

func TestLoadPrecedence(t *testing.T) {
	tests := []struct {
		key, flag, env string
		file           any    // value written to the config file
		envValue       string // value of the environment variable
		flagValue      string // value of the flag
		get            func(Config) any
		wantFile       any
		wantEnv        any
		wantFlag       any
	}{
		{
			key: "listen", flag: "listen", env: "GATEHOUSE_LISTEN",
			file: "0.0.0.0:1111", envValue: "127.0.0.1:2222", flagValue: "127.0.0.1:0",
			get:      func(c Config) any { return c.Listen },
			wantFile: "0.0.0.0:1111", wantEnv: "127.0.0.1:2222", wantFlag: "127.0.0.1:0",
		},
		{
			key: "data", flag: "data", env: "GATEHOUSE_DATA",
			file: "/srv/file", envValue: "/srv/env", flagValue: "/srv/flag",
			get:      func(c Config) any { return c.DataDir },
			wantFile: "/srv/file", wantEnv: "/srv/env", wantFlag: "/srv/flag",
		},
		{
			key: "database", flag: "database", env: "GATEHOUSE_DATABASE",
			file: "postgres://file@db.example/gh", envValue: "postgresql://env:pw@db.example:5433/gh?sslmode=require", flagValue: "",
			get:      func(c Config) any { return c.Database },
			wantFile: "postgres://file@db.example/gh", wantEnv: "postgresql://env:pw@db.example:5433/gh?sslmode=require", wantFlag: "",
		},
		{
			key: "key_file", flag: "key-file", env: "GATEHOUSE_KEY_FILE",
			file: "/srv/file.key", envValue: "/run/secrets/env.key", flagValue: "flag.key",
			get:      func(c Config) any { return c.KeyFile },
			wantFile: "/srv/file.key", wantEnv: "/run/secrets/env.key", wantFlag: "flag.key",
		},
		{
			key: "blobs", flag: "blobs", env: "GATEHOUSE_BLOBS",
			file: "file:///srv/tarballs", envValue: "s3://env-bucket?region=eu-west-1", flagValue: " s3://flag-bucket?endpoint=http://127.0.0.1:8333&use_path_style=true ",
			get:      func(c Config) any { return c.Blobs },
			wantFile: "file:///srv/tarballs", wantEnv: "s3://env-bucket?region=eu-west-1",
			wantFlag: "s3://flag-bucket?endpoint=http://127.0.0.1:8333&use_path_style=true",
		},
		{
			key: "url", flag: "url", env: "GATEHOUSE_URL",
			file: "https://file.example/", envValue: "http://env.example/npm", flagValue: "https://flag.example:8443/r/",
			get:      func(c Config) any { return c.URL },
			wantFile: "https://file.example", wantEnv: "http://env.example/npm", wantFlag: "https://flag.example:8443/r",
		},
		{
			key: "registration", flag: "registration", env: "GATEHOUSE_REGISTRATION",
			file: "closed", envValue: "open", flagValue: "closed",
			get:      func(c Config) any { return c.Registration },
			wantFile: "closed", wantEnv: "open", wantFlag: "closed",
		},
		{
			key: "read_access", flag: "read-access", env: "GATEHOUSE_READ_ACCESS",
			file: "authenticated", envValue: "public", flagValue: "authenticated",
			get:      func(c Config) any { return c.ReadAccess },
			wantFile: "authenticated", wantEnv: "public", wantFlag: "authenticated",
		},
		{
			key: "tls_cert", flag: "tls-cert", env: "GATEHOUSE_TLS_CERT",
			file: "/etc/file.crt", envValue: "/etc/env.crt", flagValue: " flag.crt ",
			get:      func(c Config) any { return c.TLSCert },
			wantFile: "/etc/file.crt", wantEnv: "/etc/env.crt", wantFlag: "flag.crt",
		},
		{
			key: "tls_key", flag: "tls-key", env: "GATEHOUSE_TLS_KEY",
			file: "/etc/file.key", envValue: "/etc/env.key", flagValue: "flag.key",
			get:      func(c Config) any { return c.TLSKey },
			wantFile: "/etc/file.key", wantEnv: "/etc/env.key", wantFlag: "flag.key",
		},
		{
			key: "max_body_size", flag: "max-body-size", env: "GATEHOUSE_MAX_BODY_SIZE",
			file: 2048, envValue: "10MB", flagValue: "1gib",
			get:      func(c Config) any { return c.MaxBodySize },
			wantFile: int64(2048), wantEnv: int64(10_000_000), wantFlag: int64(1 << 30),
		},
		{
			key: "transfer_timeout", flag: "transfer-timeout", env: "GATEHOUSE_TRANSFER_TIMEOUT",
			file: "10s", envValue: "2m", flagValue: "750ms",
			get:      func(c Config) any { return c.TransferTimeout },
			wantFile: 10 * time.Second, wantEnv: 2 * time.Minute, wantFlag: 750 * time.Millisecond,
		},
		{
			key: "min_transfer_rate", flag: "min-transfer-rate", env: "GATEHOUSE_MIN_TRANSFER_RATE",
			file: 1024, envValue: "64KiB", flagValue: "1MB",
			get:      func(c Config) any { return c.MinTransferRate },
			wantFile: int64(1024), wantEnv: int64(64 << 10), wantFlag: int64(1_000_000),
		},
		{
			key: "session_ttl", flag: "session-ttl", env: "GATEHOUSE_SESSION_TTL",
			file: "1h", envValue: "90m", flagValue: "45s",
			get:      func(c Config) any { return c.SessionTTL },
			wantFile: time.Hour, wantEnv: 90 * time.Minute, wantFlag: 45 * time.Second,
		},
		{
			key: "token_prefix", flag: "token-prefix", env: "GATEHOUSE_TOKEN_PREFIX",
			file: "file_", envValue: "ENV_", flagValue: "gh_",
			get:      func(c Config) any { return c.TokenPrefix },
			wantFile: "file_", wantEnv: "ENV_", wantFlag: "gh_",
		},
		{
			key: "shutdown_timeout", flag: "shutdown-timeout", env: "GATEHOUSE_SHUTDOWN_TIMEOUT",
			file: "5s", envValue: "1m", flagValue: "1500ms",
			get:      func(c Config) any { return c.ShutdownTimeout },
			wantFile: 5 * time.Second, wantEnv: time.Minute, wantFlag: 1500 * time.Millisecond,
		},
		{
			key: "log_level", flag: "log-level", env: "GATEHOUSE_LOG_LEVEL",
			file: "warn", envValue: "debug", flagValue: "error",
			get:      func(c Config) any { return c.LogLevel },
			wantFile: "warn", wantEnv: "debug", wantFlag: "error",
		},
		{
			key: "log_format", flag: "log-format", env: "GATEHOUSE_LOG_FORMAT",
			file: "json", envValue: "text", flagValue: "json",
			get:      func(c Config) any { return c.LogFormat },
			wantFile: "json", wantEnv: "text", wantFlag: "json",
		},
		{
			key: "metrics_listen", flag: "metrics-listen", env: "GATEHOUSE_METRICS_LISTEN",
			file: "127.0.0.1:9464", envValue: "[::1]:9100", flagValue: "",
			get:      func(c Config) any { return c.MetricsListen },
			wantFile: "127.0.0.1:9464", wantEnv: "[::1]:9100", wantFlag: "",
		},
		{
			key: "cache_size", flag: "cache-size", env: "GATEHOUSE_CACHE_SIZE",
			file: "128MiB", envValue: "1GiB", flagValue: "32MiB",
			get:      func(c Config) any { return c.CacheSize },
			wantFile: int64(128 << 20), wantEnv: int64(1 << 30), wantFlag: int64(32 << 20),
		},
		{
			key: "log_buffer", flag: "log-buffer", env: "GATEHOUSE_LOG_BUFFER",
			file: "4MiB", envValue: "65536", flagValue: "1GiB",
			get:      func(c Config) any { return c.LogBuffer },
			wantFile: int64(4 << 20), wantEnv: int64(64 << 10), wantFlag: int64(1 << 30),
		},
		{
			key: "gc_percent", flag: "gc-percent", env: "GATEHOUSE_GC_PERCENT",
			file: 200, envValue: "800", flagValue: "100",
			get:      func(c Config) any { return c.GCPercent },
			wantFile: 200, wantEnv: 800, wantFlag: 100,
		},
		{
			key: "memory_limit", flag: "memory-limit", env: "GATEHOUSE_MEMORY_LIMIT",
			file: "1GiB", envValue: "512MiB", flagValue: "0",
			get:      func(c Config) any { return c.MemoryLimit },
			wantFile: int64(1 << 30), wantEnv: int64(512 << 20), wantFlag: int64(0),
		},
	}
	for _, tc := range tests {
		for _, ext := range []string{".toml", ".yaml"} {
			t.Run(tc.key+ext, func(t *testing.T) {
				path := writeConfig(t, "gatehouse"+ext, map[string]any{tc.key: tc.file})
				env := map[string]string{}
				args := []string{"--config", path}
				stages := []struct {
					name string
					add  func()
					want any
				}{
					{"default", func() { args = nil }, tc.get(Default())},
					{"file beats default", func() { args = []string{"--config", path} }, tc.wantFile},
					{"env beats file", func() { env[tc.env] = tc.envValue }, tc.wantEnv},
					{"flag beats env", func() { args = append(args, "--"+tc.flag, tc.flagValue) }, tc.wantFlag},
				}
				for _, st := range stages {
					st.add()
					cfg, err := Load(args, envOf(env), &bytes.Buffer{})
					if err != nil {
						t.Fatalf("%s: Load(%q, %v): %v", st.name, args, env, err)
					}
					if got := tc.get(cfg); got != st.want {
						t.Errorf("%s: %s = %v, want %v", st.name, tc.key, got, st.want)
					}
					// Every other field keeps its default.
					for _, o := range tests {
						if o.key != tc.key && o.get(cfg) != o.get(Default()) {
							t.Errorf("%s: %s = %v, want default %v", st.name, o.key, o.get(cfg), o.get(Default()))
						}
					}
				}
			})
		}
	}
}

func TestLoadFileFormats(t *testing.T) {
	want := Config{
		Listen:          "0.0.0.0:8080",
		DataDir:         "/var/lib/gatehouse",
		URL:             "https://npm.example.com",
		Registration:    "closed",
		ReadAccess:      "public",
		MaxBodySize:     50 << 20,
		TransferTimeout: Default().TransferTimeout,
		MinTransferRate: Default().MinTransferRate,
		SessionTTL:      24 * time.Hour,
		TokenPrefix:     "gh_",
		ShutdownTimeout: 10 * time.Second,
		LogLevel:        "debug",
		LogFormat:       "json",
		MetricsListen:   "10.0.0.5:9464",
		LegacyTokens:    "enabled",
		GCPercent:       200,
		MemoryLimit:     256 << 20,
		MemoryLimitSet:  true, // the file says memory_limit, at its fallback value
		CacheSize:       64 << 20,
		LogBuffer:       1 << 20,

		MaxWriteTokenDays:  90,
		PublishUplinkNames: "refuse",
		OIDCTokenTTL:       time.Hour,
		AuditRetention:     30 * 24 * time.Hour,
		HookRetry:          10 * time.Second,
	}
	const tomlText = `# gatehouse settings
listen = "0.0.0.0:8080"
data = "/var/lib/gatehouse"
url = "https://npm.example.com/"
registration = "closed"
max_body_size = "50MiB"
session_ttl = "24h"
token_prefix = "gh_"
shutdown_timeout = "10s"
log_level = "debug"
log_format = "json"
metrics_listen = "10.0.0.5:9464"
gc_percent = 200
memory_limit = "256MiB"
audit_retention = "30d"
`
	const yamlText = `# gatehouse settings
listen: "0.0.0.0:8080"
data: /var/lib/gatehouse
url: https://npm.example.com/
registration: closed
max_body_size: 50MiB
session_ttl: 24h
token_prefix: gh_
shutdown_timeout: 10s
log_level: debug
log_format: json
metrics_listen: 10.0.0.5:9464
gc_percent: 200
memory_limit: 256MiB
audit_retention: 30d
`
	numeric := want
	numeric.MaxBodySize = 52428800
	tests := []struct {
		name    string
		file    string
		content string
		want    Config
	}{
		{"toml", "gatehouse.toml", tomlText, want},
		{"yaml", "gatehouse.yaml", yamlText, want},
		{"yml", "gatehouse.yml", yamlText, want},
		{"upper-case extension", "GATEHOUSE.YAML", yamlText, want},
		{"toml numeric size", "g.toml", strings.Replace(tomlText, `"50MiB"`, "52428800", 1), numeric},
		{"yaml numeric size", "g.yaml", strings.Replace(yamlText, "50MiB", "52428800", 1), numeric},
		{"yaml size in float notation", "g.yaml", strings.Replace(yamlText, "50MiB", "5.24288e+07", 1), numeric},
		{"toml size with underscores", "g.toml", strings.Replace(tomlText, `"50MiB"`, "52_428_800", 1), numeric},
		{"empty toml", "empty.toml", "", Default()},
		{"empty yaml", "empty.yaml", "", Default()},
		{"comments only", "c.yaml", "# nothing here\n", Default()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeRaw(t, tc.file, tc.content)
			got, err := Load([]string{"--config", path}, envOf(nil), &bytes.Buffer{})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Load = %+v\nwant   %+v", got, tc.want)
			}
		})
	}
}

func TestLoadConfigPath(t *testing.T) {
	envFile := writeConfig(t, "env.yaml", map[string]any{"log_level": "warn"})
	flagFile := writeConfig(t, "flag.toml", map[string]any{"log_level": "error"})
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"GATEHOUSE_CONFIG", nil, map[string]string{"GATEHOUSE_CONFIG": envFile}, "warn"},
		{"--config", []string{"--config", flagFile}, nil, "error"},
		{"--config=", []string{"--config=" + flagFile}, nil, "error"},
		{"-config", []string{"-config", flagFile}, nil, "error"},
		{"--config beats GATEHOUSE_CONFIG", []string{"--config", flagFile}, map[string]string{"GATEHOUSE_CONFIG": envFile}, "error"},
		{"empty --config turns GATEHOUSE_CONFIG off", []string{"--config", ""}, map[string]string{"GATEHOUSE_CONFIG": envFile}, "info"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load(tc.args, envOf(tc.env), &bytes.Buffer{})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if cfg.LogLevel != tc.want {
				t.Errorf("LogLevel = %q, want %q", cfg.LogLevel, tc.want)
			}
		})
	}
}

func TestLoadFileErrors(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		content string
		want    []string // substrings of the error
	}{
		{"unknown toml key", "g.toml", "listen = \"127.0.0.1:1\"\nlisten_addr = \"x\"\n", []string{`unknown key "listen_addr"`, "known keys: listen"}},
		{"unknown yaml key", "g.yaml", "lisen: 127.0.0.1:1\n", []string{`unknown key "lisen"`}},
		{"flag spelling as key", "g.yaml", "max-body-size: 10MB\n", []string{`"max-body-size"`}},
		{"several unknown keys", "g.toml", "b = 1\na = 2\n", []string{`unknown keys "a", "b"`}},
		{"unknown toml table", "g.toml", "[server]\nlisten = \":1\"\n", []string{`unknown key "server"`}},
		{"unsupported extension", "g.json", `{"listen": ":1"}`, []string{"unsupported extension", `".json"`}},
		{"no extension", "gatehouse", "listen: :1\n", []string{"unsupported extension"}},
		{"bad toml syntax", "g.toml", "listen = \n", []string{"parse TOML"}},
		{"bad yaml syntax", "g.yaml", "listen: [\n", []string{"parse YAML"}},
		{"yaml not a mapping", "g.yaml", "- listen\n", []string{"parse YAML"}},
		{"duplicate toml key", "g.toml", "listen = \":1\"\nlisten = \":2\"\n", []string{"parse TOML"}},
		{"duplicate yaml key", "g.yaml", "listen: :1\nlisten: :2\n", []string{"parse YAML"}},
		{"duration as number", "g.toml", "session_ttl = 3600\n", []string{"key session_ttl", "must be a string", "3600"}},
		{"duration without unit", "g.yaml", "shutdown_timeout: \"30\"\n", []string{"key shutdown_timeout", "invalid duration"}},
		{"listen as number", "g.yaml", "listen: 4873\n", []string{"key listen", "must be a string"}},
		{"boolean", "g.toml", "registration = true\n", []string{"key registration", "boolean"}},
		{"yaml null", "g.yaml", "url:\n", []string{"key url", "no value"}},
		{"table value", "g.toml", "[data]\npath = \"x\"\n", []string{"key data", "table"}},
		{"list value", "g.yaml", "log_level: [info]\n", []string{"key log_level", "list"}},
		{"fractional size", "g.toml", "max_body_size = 1.5\n", []string{"key max_body_size", "whole number"}},
		{"bad size unit", "g.yaml", "max_body_size: 10 TB\n", []string{"key max_body_size", "invalid size"}},
		{"negative size", "g.toml", "max_body_size = -1\n", []string{"max_body_size", "invalid size"}},
		{"bad value", "g.yaml", "registration: maybe\n", []string{"registration", `"maybe"`, "open, closed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeRaw(t, tc.file, tc.content)
			_, err := Load([]string{"--config", path}, envOf(nil), &bytes.Buffer{})
			if err == nil {
				t.Fatalf("Load with %s:\n%s\nsucceeded, want an error", tc.file, tc.content)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}

	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "absent.toml")
		_, err := Load([]string{"--config", path}, envOf(nil), &bytes.Buffer{})
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Load with a missing file: error %v, want one wrapping os.ErrNotExist", err)
		}
	})
}

func TestLoadBadValues(t *testing.T) {
	tests := []struct {
		flag, env, value string
		want             string // substring of the error
	}{
		{"listen", "GATEHOUSE_LISTEN", "4873", "HOST:PORT"},
		{"listen", "GATEHOUSE_LISTEN", "localhost", "HOST:PORT"},
		{"listen", "GATEHOUSE_LISTEN", "localhost:http", "port"},
		{"listen", "GATEHOUSE_LISTEN", "localhost:65536", "port"},
		{"listen", "GATEHOUSE_LISTEN", "localhost:-1", "port"},
		{"data", "GATEHOUSE_DATA", "", "must not be empty"},
		{"url", "GATEHOUSE_URL", "npm.example.com", "absolute"},
		{"url", "GATEHOUSE_URL", "/npm", "absolute"},
		{"url", "GATEHOUSE_URL", "ftp://npm.example.com", "http"},
		{"url", "GATEHOUSE_URL", "https://", "host"},
		{"url", "GATEHOUSE_URL", "https:npm.example.com", "host"},
		{"url", "GATEHOUSE_URL", "https://user:pw@npm.example.com", "password"},
		{"url", "GATEHOUSE_URL", "https://npm.example.com/?a=b", "query"},
		{"url", "GATEHOUSE_URL", "https://npm.example.com/#top", "fragment"},
		{"url", "GATEHOUSE_URL", "https://npm.example.com:port", "url"},
		{"registration", "GATEHOUSE_REGISTRATION", "maybe", "open, closed"},
		{"registration", "GATEHOUSE_REGISTRATION", "Open", "open, closed"},
		{"max-body-size", "GATEHOUSE_MAX_BODY_SIZE", "0", "more than 0"},
		{"max-body-size", "GATEHOUSE_MAX_BODY_SIZE", "0MiB", "more than 0"},
		{"max-body-size", "GATEHOUSE_MAX_BODY_SIZE", "-5", "invalid size"},
		{"max-body-size", "GATEHOUSE_MAX_BODY_SIZE", "10TB", "invalid size"},
		{"max-body-size", "GATEHOUSE_MAX_BODY_SIZE", "1.5GB", "invalid size"},
		{"max-body-size", "GATEHOUSE_MAX_BODY_SIZE", "MiB", "invalid size"},
		{"max-body-size", "GATEHOUSE_MAX_BODY_SIZE", "big", "invalid size"},
		{"max-body-size", "GATEHOUSE_MAX_BODY_SIZE", "9999999999GiB", "too large"},
		{"session-ttl", "GATEHOUSE_SESSION_TTL", "12", "invalid duration"},
		{"session-ttl", "GATEHOUSE_SESSION_TTL", "1d", "invalid duration"},
		{"session-ttl", "GATEHOUSE_SESSION_TTL", "0s", "more than 0"},
		{"session-ttl", "GATEHOUSE_SESSION_TTL", "-1h", "more than 0"},
		{"token-prefix", "GATEHOUSE_TOKEN_PREFIX", "", "1 to 16"},
		{"token-prefix", "GATEHOUSE_TOKEN_PREFIX", "abcdefghijklmnop_", "1 to 16"},
		{"token-prefix", "GATEHOUSE_TOKEN_PREFIX", "npm", "end with _"},
		{"token-prefix", "GATEHOUSE_TOKEN_PREFIX", "np-m_", "A-Z"},
		{"token-prefix", "GATEHOUSE_TOKEN_PREFIX", "npé_", "A-Z"},
		{"shutdown-timeout", "GATEHOUSE_SHUTDOWN_TIMEOUT", "soon", "invalid duration"},
		{"shutdown-timeout", "GATEHOUSE_SHUTDOWN_TIMEOUT", "0", "more than 0"},
		{"shutdown-timeout", "GATEHOUSE_SHUTDOWN_TIMEOUT", "-30s", "more than 0"},
		{"log-level", "GATEHOUSE_LOG_LEVEL", "verbose", "debug, info, warn, error"},
		{"log-level", "GATEHOUSE_LOG_LEVEL", "INFO", "debug, info, warn, error"},
		{"log-level", "GATEHOUSE_LOG_LEVEL", "warning", "debug, info, warn, error"},
		{"log-format", "GATEHOUSE_LOG_FORMAT", "JSON", "text, json"},
		{"log-format", "GATEHOUSE_LOG_FORMAT", "logfmt", "text, json"},
		{"metrics-listen", "GATEHOUSE_METRICS_LISTEN", "9464", "HOST:PORT"},
		{"metrics-listen", "GATEHOUSE_METRICS_LISTEN", "localhost:metrics", "port"},
		{"metrics-listen", "GATEHOUSE_METRICS_LISTEN", "127.0.0.1:4873", "must differ from listen"},
	}
	for _, tc := range tests {
		t.Run(tc.flag+"="+tc.value, func(t *testing.T) {
			_, err := Load([]string{"--" + tc.flag, tc.value}, envOf(nil), &bytes.Buffer{})
			if err == nil {
				t.Fatalf("Load(--%s %q) succeeded, want an error", tc.flag, tc.value)
			}
			for _, w := range []string{tc.want, "--" + tc.flag} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Load(--%s %q) error %q does not contain %q", tc.flag, tc.value, err, w)
				}
			}
			if tc.value == "" {
				return // an empty variable counts as unset
			}
			_, err = Load(nil, envOf(map[string]string{tc.env: tc.value}), &bytes.Buffer{})
			if err == nil {
				t.Fatalf("Load with %s=%q succeeded, want an error", tc.env, tc.value)
			}
			for _, w := range []string{tc.want, tc.env} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Load with %s=%q: error %q does not contain %q", tc.env, tc.value, err, w)
				}
			}
		})
	}
}

func TestLoadEmptyEnvIsUnset(t *testing.T) {
	env := map[string]string{}
	for _, s := range settings() {
		env[s.env] = ""
	}
	env["GATEHOUSE_CONFIG"] = ""
	got, err := Load(nil, envOf(env), &bytes.Buffer{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !reflect.DeepEqual(got, Default()) {
		t.Errorf("Load with empty variables = %+v, want Default()", got)
	}
}

func TestLoadEmptyURLFlagOverrides(t *testing.T) {
	got, err := Load([]string{"--url", ""}, envOf(map[string]string{"GATEHOUSE_URL": "https://env.example"}), &bytes.Buffer{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got.URL != "" {
		t.Errorf("URL = %q, want empty", got.URL)
	}
}

func TestLoadArgErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--port", "80"}, "flag provided but not defined"},
		{"missing value", []string{"--listen"}, "flag needs an argument"},
		{"positional argument", []string{"--listen", ":1", "extra"}, `unexpected argument "extra"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.args, envOf(nil), &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load(%q) error = %v, want one containing %q", tc.args, err, tc.want)
			}
			if errors.Is(err, flag.ErrHelp) {
				t.Errorf("Load(%q) error %v wraps flag.ErrHelp", tc.args, err)
			}
		})
	}
}

func TestLoadHelp(t *testing.T) {
	var want []string
	for _, s := range settings() {
		want = append(want, "--"+s.flag, s.env, "File key: "+s.key, "Default: "+s.show(Default()))
	}
	want = append(want, "--config", "GATEHOUSE_CONFIG", "Precedence", ".toml", ".yaml",
		"Default: 127.0.0.1:4873", "Default: 100MiB", "Default: 12h", "Default: 30s")
	for _, args := range [][]string{{"--help"}, {"-h"}, {"-help"}, {"--listen", ":1", "--help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out bytes.Buffer
			_, err := Load(args, envOf(nil), &out)
			if !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("Load(%q) error = %v, want flag.ErrHelp", args, err)
			}
			for _, w := range want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("usage does not mention %q:\n%s", w, out.String())
				}
			}
		})
	}
}

// TestHookSettings reads the webhooks' allow-list and retry from a file,
// the environment and flags, and refuses entries that are none of a range,
// an address or a host name.
func TestHookSettings(t *testing.T) {
	file := filepath.Join(t.TempDir(), "g.toml")
	if err := os.WriteFile(file, []byte("hook_allow = [\"127.0.0.0/8\", \"hooks.internal\"]\nhook_retry = \"2s\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Load([]string{"--config", file}, func(string) string { return "" }, nil)
	if err != nil || len(got.HookAllow) != 2 || got.HookAllow[1] != "hooks.internal" || got.HookRetry != 2*time.Second {
		t.Fatalf("from the file: %v %v %v", got.HookAllow, got.HookRetry, err)
	}
	env := map[string]string{"GATEHOUSE_HOOK_ALLOW": "10.0.0.0/8, ::1"}
	got, err = Load(nil, func(k string) string { return env[k] }, nil)
	if err != nil || len(got.HookAllow) != 2 || got.HookAllow[1] != "::1" || got.HookRetry != 10*time.Second {
		t.Fatalf("from the environment: %v %v %v", got.HookAllow, got.HookRetry, err)
	}
	for _, bad := range []string{"10.0.0.0/99", "user@host", "a host"} {
		if _, err := Load([]string{"--hook-allow", bad}, func(string) string { return "" }, nil); err == nil {
			t.Errorf("--hook-allow %q accepted", bad)
		}
	}
}

func TestTokenSettings(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "g.toml")
	if err := os.WriteFile(file, []byte("trusted_proxies = [\"10.0.0.0/8\", \"::1\"]\nlegacy_tokens = \"disabled\"\nmax_write_token_days = 30\nlegacy_max_days = 365\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Load([]string{"--config", file}, func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.TrustedProxies) != 2 || got.TrustedProxies[0].String() != "10.0.0.0/8" || got.TrustedProxies[1].String() != "::1/128" {
		t.Fatalf("trusted proxies = %v", got.TrustedProxies)
	}
	if got.LegacyTokens != "disabled" || got.MaxWriteTokenDays != 30 || got.LegacyMaxDays != 365 {
		t.Fatalf("token settings = %+v", got)
	}
	env := map[string]string{"GATEHOUSE_TRUSTED_PROXIES": "192.168.0.0/16, 127.0.0.1"}
	got, err = Load([]string{"--max-write-token-days", "7"}, func(k string) string { return env[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.TrustedProxies) != 2 || got.TrustedProxies[1].String() != "127.0.0.1/32" || got.MaxWriteTokenDays != 7 {
		t.Fatalf("from env and flag: %+v", got)
	}
	bad := [][]string{
		{"--trusted-proxies", "not-a-cidr"},
		{"--legacy-tokens", "maybe"},
		{"--max-write-token-days", "0"},
		{"--max-write-token-days", "x"},
		{"--legacy-max-days", "-1"},
	}
	for _, args := range bad {
		if _, err := Load(args, func(string) string { return "" }, nil); err == nil {
			t.Errorf("Load(%v) accepted a bad value", args)
		}
	}
}

func TestDatabaseSetting(t *testing.T) {
	for _, ok := range []string{"", "postgres://u:p@127.0.0.1:5432/gh?sslmode=disable", "POSTGRESQL://db/gh", "postgres:///gh?host=/run/postgresql"} {
		cfg, err := Load([]string{"--database", ok}, envOf(nil), &bytes.Buffer{})
		if err != nil || cfg.Database != ok {
			t.Errorf("--database %q: %q, %v", ok, cfg.Database, err)
		}
	}
	const secret = "s3cr3t-pw"
	for _, bad := range []string{"mysql://u:" + secret + "@db/gh", "/var/lib/gatehouse/" + secret + ".db", "postgres://u:" + secret + "@db:port/gh"} {
		_, err := Load(nil, envOf(map[string]string{"GATEHOUSE_DATABASE": bad}), &bytes.Buffer{})
		if err == nil {
			t.Errorf("GATEHOUSE_DATABASE=%q accepted", bad)
			continue
		}
		if !strings.Contains(err.Error(), "GATEHOUSE_DATABASE") || strings.Contains(err.Error(), secret) {
			t.Errorf("GATEHOUSE_DATABASE=%q: error %q should name the variable and not repeat the value", bad, err)
		}
	}
	var help bytes.Buffer
	if _, err := Load([]string{"--help"}, envOf(nil), &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	if !strings.Contains(help.String(), "--database URL") || !strings.Contains(help.String(), "Default: empty (SQLite under --data)") {
		t.Errorf("--help does not explain --database:\n%s", help.String())
	}
}

func TestBlobsSetting(t *testing.T) {
	for _, ok := range []string{"", "file:///var/lib/gatehouse/tarballs",
		"s3://tarballs?endpoint=http://127.0.0.1:8333&region=us-east-1&use_path_style=true&prefix=gatehouse/"} {
		cfg, err := Load([]string{"--blobs", ok}, envOf(nil), &bytes.Buffer{})
		if err != nil || cfg.Blobs != ok {
			t.Errorf("--blobs %q: %q, %v", ok, cfg.Blobs, err)
		}
	}
	const secret = "s3cr3t-key"
	for _, c := range []struct{ value, want string }{
		{"gs://tarballs", `unknown scheme "gs"`},
		{"/var/lib/gatehouse/tarballs", "unknown scheme"},
		{"file://tarballs", "file:///absolute/path"},
		{"s3://", "must name a bucket"},
		{"s3://AKIA:" + secret + "@tarballs", "AWS_ACCESS_KEY_ID"},
	} {
		_, err := Load(nil, envOf(map[string]string{"GATEHOUSE_BLOBS": c.value}), &bytes.Buffer{})
		if err == nil {
			t.Errorf("GATEHOUSE_BLOBS=%q accepted", c.value)
			continue
		}
		for _, w := range []string{"GATEHOUSE_BLOBS", "--blobs", c.want} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("GATEHOUSE_BLOBS=%q: error %q does not contain %q", c.value, err, w)
			}
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("GATEHOUSE_BLOBS=%q: error %q repeats the secret", c.value, err)
		}
	}
	var help bytes.Buffer
	if _, err := Load([]string{"--help"}, envOf(nil), &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	if !strings.Contains(help.String(), "--blobs URL") || !strings.Contains(help.String(), "AWS_SECRET_ACCESS_KEY") {
		t.Errorf("--help does not explain --blobs:\n%s", help.String())
	}
}

// TestSizesGiven: a memory limit or cache size given in any way counts as
// given, even at its fallback value, so that serve never sizes over what an
// operator wrote; one not given is left for serve to size.
func TestSizesGiven(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "gatehouse.toml")
	if err := os.WriteFile(file, []byte("cache_size = \"64MiB\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name               string
		args               []string
		env                map[string]string
		wantLimit, wantSet bool
	}{
		{"nothing", nil, nil, false, false},
		{"flag at the fallback", []string{"--memory-limit", "256MiB"}, nil, true, false},
		{"flag 0", []string{"--memory-limit", "0"}, nil, true, false},
		{"environment", nil, map[string]string{"GATEHOUSE_CACHE_SIZE": "64MiB"}, false, true},
		{"file", []string{"--config", file}, nil, false, true},
		{"both", []string{"--memory-limit", "1GiB", "--cache-size", "128MiB"}, nil, true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Load(tt.args, func(k string) string { return tt.env[k] }, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got.MemoryLimitSet != tt.wantLimit || got.CacheSizeSet != tt.wantSet {
				t.Fatalf("MemoryLimitSet %v, CacheSizeSet %v; want %v, %v", got.MemoryLimitSet, got.CacheSizeSet, tt.wantLimit, tt.wantSet)
			}
		})
	}
}
