package config

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/idtoken"
)

// TestTrustedIssuers reads the trusted issuers from each place they can be
// given: a TOML list of tables, a YAML list, JSON in the flag and in the
// environment variable.
func TestTrustedIssuers(t *testing.T) {
	want := []idtoken.Issuer{
		{URL: "https://token.actions.example", Kind: idtoken.GitHub},
		{URL: "https://gitlab.example", Kind: idtoken.GitLab, JWKS: "/etc/gatehouse/gitlab-jwks.json"},
		{URL: "https://ci.example", Kind: idtoken.Generic, Claims: map[string]string{"repository": "repo", "file": "pipeline"}},
	}
	const toml = `url = "https://npm.example.com"
oidc_token_ttl = "15m"

[[trusted_issuers]]
url = "https://token.actions.example"
kind = "github"

[[trusted_issuers]]
url = "https://gitlab.example"
kind = "gitlab"
jwks = "/etc/gatehouse/gitlab-jwks.json"

[[trusted_issuers]]
url = "https://ci.example"
kind = "generic"
claims = { repository = "repo", file = "pipeline" }
`
	const yaml = `url: https://npm.example.com
oidc_token_ttl: 15m
trusted_issuers:
  - url: https://token.actions.example
    kind: github
  - url: https://gitlab.example
    kind: gitlab
    jwks: /etc/gatehouse/gitlab-jwks.json
  - url: https://ci.example
    kind: generic
    claims:
      repository: repo
      file: pipeline
`
	const js = `[{"url":"https://token.actions.example","kind":"github"},
		{"url":"https://gitlab.example","kind":"gitlab","jwks":"/etc/gatehouse/gitlab-jwks.json"},
		{"url":"https://ci.example","kind":"generic","claims":{"repository":"repo","file":"pipeline"}}]`
	check := func(t *testing.T, c Config, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c.TrustedIssuers, want) {
			t.Fatalf("issuers %+v\nwant %+v", c.TrustedIssuers, want)
		}
		if c.Audience() != "npm:npm.example.com" {
			t.Fatalf("audience %q", c.Audience())
		}
	}
	t.Run("toml", func(t *testing.T) {
		c, err := Load([]string{"--config", writeRaw(t, "g.toml", toml)}, envOf(nil), &bytes.Buffer{})
		check(t, c, err)
		if c.OIDCTokenTTL != 15*time.Minute {
			t.Fatalf("ttl %s", c.OIDCTokenTTL)
		}
	})
	t.Run("yaml", func(t *testing.T) {
		c, err := Load([]string{"--config", writeRaw(t, "g.yaml", yaml)}, envOf(nil), &bytes.Buffer{})
		check(t, c, err)
	})
	t.Run("flag", func(t *testing.T) {
		c, err := Load([]string{"--url", "https://npm.example.com:8443/path", "--trusted-issuers", js}, envOf(nil), &bytes.Buffer{})
		check(t, c, err)
	})
	t.Run("environment", func(t *testing.T) {
		c, err := Load(nil, envOf(map[string]string{"GATEHOUSE_URL": "https://npm.example.com", "GATEHOUSE_TRUSTED_ISSUERS": js}), &bytes.Buffer{})
		check(t, c, err)
	})
	t.Run("none by default", func(t *testing.T) {
		c, err := Load(nil, envOf(nil), &bytes.Buffer{})
		if err != nil || len(c.TrustedIssuers) != 0 || c.OIDCTokenTTL != time.Hour {
			t.Fatalf("%+v %v", c.TrustedIssuers, err)
		}
	})
}

func TestTrustedIssuersRefused(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no --url", []string{"--trusted-issuers", `[{"url":"https://a.example","kind":"github"}]`}, "needs --url"},
		{"unknown kind", []string{"--trusted-issuers", `[{"url":"https://a.example","kind":"jenkins"}]`}, `kind "jenkins"`},
		{"plain http", []string{"--trusted-issuers", `[{"url":"http://a.example","kind":"github"}]`}, "http only on a loopback"},
		{"not a URL", []string{"--trusted-issuers", `[{"url":"a.example","kind":"github"}]`}, "absolute https URL"},
		{"listed twice", []string{"--trusted-issuers", `[{"url":"https://a.example","kind":"github"},{"url":"https://a.example","kind":"gitlab"}]`}, "listed twice"},
		{"unknown field", []string{"--trusted-issuers", `[{"url":"https://a.example","kind":"github","audience":"x"}]`}, "unknown field"},
		{"not a list", []string{"--trusted-issuers", `{"url":"https://a.example"}`}, "JSON list"},
		{"claims of a github issuer", []string{"--trusted-issuers", `[{"url":"https://a.example","kind":"github","claims":{"repository":"r"}}]`}, "only a generic issuer"},
		{"generic without file", []string{"--trusted-issuers", `[{"url":"https://a.example","kind":"generic","claims":{"repository":"r"}}]`}, "repository and file"},
		{"generic with an unknown field", []string{"--trusted-issuers", `[{"url":"https://a.example","kind":"generic","claims":{"repository":"r","file":"f","ref":"x"}}]`}, `unknown field "ref"`},
		{"plain http key set", []string{"--trusted-issuers", `[{"url":"https://a.example","kind":"github","jwks":"http://keys.example/jwks"}]`}, "http only on a loopback"},
		{"ttl too long", []string{"--oidc-token-ttl", "2h"}, "from 1m to 1h"},
		{"ttl too short", []string{"--oidc-token-ttl", "10s"}, "from 1m to 1h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.name != "no --url" {
				args = append([]string{"--url", "https://npm.example.com"}, args...)
			}
			_, err := Load(args, envOf(nil), &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	t.Run("a table where a list belongs", func(t *testing.T) {
		_, err := Load([]string{"--config", writeRaw(t, "g.toml", "url = \"https://n.example\"\n[trusted_issuers]\nurl = \"https://a.example\"\n")}, envOf(nil), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "list of tables") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("loopback http is allowed", func(t *testing.T) {
		_, err := Load([]string{"--url", "http://127.0.0.1:4873", "--trusted-issuers", `[{"url":"http://127.0.0.1:9999","kind":"github"}]`}, envOf(nil), &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
	})
}
