package config

import (
	"strings"
	"testing"
)

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   []string // substrings of the error; none means valid
	}{
		{"default", func(*Config) {}, nil},
		{"url with path", func(c *Config) { c.URL = "https://example.com/npm" }, nil},
		{"listen on all interfaces", func(c *Config) { c.Listen = ":4873" }, nil},
		{"listen on IPv6", func(c *Config) { c.Listen = "[::1]:4873" }, nil},
		{"url trailing slash", func(c *Config) { c.URL = "https://example.com/" }, []string{"must not end with /"}},
		{"zero config", func(c *Config) { *c = Config{} }, []string{"listen", "data", "registration", "max_body_size", "session_ttl", "token_prefix", "shutdown_timeout", "log_level", "log_format"}},
		{"names every source", func(c *Config) { c.LogLevel = "loud" }, []string{"--log-level", "GATEHOUSE_LOG_LEVEL", "file key log_level", `"loud"`}},
		{"negative size", func(c *Config) { c.MaxBodySize = -1 }, []string{"max_body_size", "more than 0"}},
		{"metrics on a port of their own", func(c *Config) { c.MetricsListen = "127.0.0.1:9464" }, nil},
		{"metrics and registry both on port 0", func(c *Config) { c.Listen, c.MetricsListen = "127.0.0.1:0", "127.0.0.1:0" }, nil},
		{"metrics on the registry's address", func(c *Config) { c.Listen, c.MetricsListen = ":4873", ":4873" },
			[]string{"metrics_listen", "must differ from listen"}},
		{"profiles on the metrics address", func(c *Config) { c.MetricsListen, c.Pprof = "127.0.0.1:9464", true }, nil},
		{"profiles without a metrics address", func(c *Config) { c.Pprof = true }, []string{"pprof", "needs metrics_listen"}},
		{"gc percent too low", func(c *Config) { c.GCPercent = 5 }, []string{"gc_percent", "from 10 to 10000"}},
		{"gc percent too high", func(c *Config) { c.GCPercent = 20000 }, []string{"gc_percent", "from 10 to 10000"}},
		{"memory limit too small", func(c *Config) { c.MemoryLimit = 1 << 20 }, []string{"memory_limit", "at least 32MiB"}},
		{"memory limit", func(c *Config) { c.MemoryLimit = 512 << 20 }, nil},
		{"private registry", func(c *Config) { c.ReadAccess = "authenticated" }, nil},
		{"unknown read access", func(c *Config) { c.ReadAccess = "members" }, []string{"read_access", `"members"`}},
		{"tls", func(c *Config) { c.TLSCert, c.TLSKey = "a.crt", "a.key" }, nil},
		{"cache too small", func(c *Config) { c.CacheSize = 1000 }, []string{"cache_size", "from 1MiB"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.modify(&c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate(%+v) = %v, want nil", c, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate(%+v) = nil, want an error", c)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate error %q does not contain %q", err, w)
				}
			}
		})
	}
}
