package config

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/sso"
)

// TestSSOProviders reads the single sign-on providers from each place they
// can be given: a TOML list of tables, a YAML list, JSON in the flag and in
// the environment variable.
func TestSSOProviders(t *testing.T) {
	want := []sso.Provider{
		{Name: "corp", Title: "Corp SSO", Issuer: "https://id.corp.example", ClientID: "gatehouse",
			ClientSecretFile: "/etc/gatehouse/corp-secret", Scopes: []string{"email", "groups"},
			UsernameClaim: "nickname", AllowedDomains: []string{"corp.example"}, AllowedGroups: []string{"eng"}, CreateUsers: true,
			GroupMapping: []sso.GroupMapping{{Group: "eng", Org: "acme", Team: "devs"}, {Group: "ops", Org: "acme"}}},
		{Name: "partners", Issuer: "https://login.partners.example/realms/x", ClientID: "npm", ClientSecretEnv: "PARTNERS_SECRET"},
	}
	const toml = `url = "https://npm.example.com"
sso_only = true

[[sso_providers]]
name = "corp"
title = "Corp SSO"
issuer = "https://id.corp.example"
client_id = "gatehouse"
client_secret_file = "/etc/gatehouse/corp-secret"
scopes = ["email", "groups"]
username_claim = "nickname"
allowed_domains = ["corp.example"]
allowed_groups = ["eng"]
create_users = true
group_mapping = [{ group = "eng", org = "acme", team = "devs" }, { group = "ops", org = "acme" }]

[[sso_providers]]
name = "partners"
issuer = "https://login.partners.example/realms/x"
client_id = "npm"
client_secret_env = "PARTNERS_SECRET"
`
	const yaml = `url: https://npm.example.com
sso_only: true
sso_providers:
  - name: corp
    title: Corp SSO
    issuer: https://id.corp.example
    client_id: gatehouse
    client_secret_file: /etc/gatehouse/corp-secret
    scopes: [email, groups]
    username_claim: nickname
    allowed_domains: [corp.example]
    allowed_groups: [eng]
    create_users: true
    group_mapping:
      - {group: eng, org: acme, team: devs}
      - {group: ops, org: acme}
  - name: partners
    issuer: https://login.partners.example/realms/x
    client_id: npm
    client_secret_env: PARTNERS_SECRET
`
	const js = `[{"name":"corp","title":"Corp SSO","issuer":"https://id.corp.example","client_id":"gatehouse",
		"client_secret_file":"/etc/gatehouse/corp-secret","scopes":["email","groups"],"username_claim":"nickname",
		"allowed_domains":["corp.example"],"allowed_groups":["eng"],"create_users":true,
		"group_mapping":[{"group":"eng","org":"acme","team":"devs"},{"group":"ops","org":"acme"}]},
		{"name":"partners","issuer":"https://login.partners.example/realms/x","client_id":"npm","client_secret_env":"PARTNERS_SECRET"}]`
	check := func(t *testing.T, c Config, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c.SSOProviders, want) || !c.SSOOnly {
			t.Fatalf("providers %+v (sso-only %v)\nwant %+v", c.SSOProviders, c.SSOOnly, want)
		}
	}
	t.Run("toml", func(t *testing.T) {
		c, err := Load([]string{"--config", writeRaw(t, "g.toml", toml)}, envOf(nil), &bytes.Buffer{})
		check(t, c, err)
	})
	t.Run("yaml", func(t *testing.T) {
		c, err := Load([]string{"--config", writeRaw(t, "g.yaml", yaml)}, envOf(nil), &bytes.Buffer{})
		check(t, c, err)
	})
	t.Run("flag", func(t *testing.T) {
		c, err := Load([]string{"--url", "https://npm.example.com", "--sso-only", "true", "--sso-providers", js}, envOf(nil), &bytes.Buffer{})
		check(t, c, err)
	})
	t.Run("environment", func(t *testing.T) {
		c, err := Load(nil, envOf(map[string]string{"GATEHOUSE_URL": "https://npm.example.com", "GATEHOUSE_SSO_ONLY": "true",
			"GATEHOUSE_SSO_PROVIDERS": js}), &bytes.Buffer{})
		check(t, c, err)
	})
	t.Run("none by default", func(t *testing.T) {
		c, err := Load(nil, envOf(nil), &bytes.Buffer{})
		if err != nil || len(c.SSOProviders) != 0 || c.SSOOnly {
			t.Fatalf("%+v %v %v", c.SSOProviders, c.SSOOnly, err)
		}
	})
}

func TestSSOProvidersRefused(t *testing.T) {
	const ok = `"issuer":"https://id.example","client_id":"c","client_secret_env":"S"`
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no --url", []string{"--sso-providers", `[{"name":"a",` + ok + `}]`}, "needs --url"},
		{"a secret in the setting", []string{"--sso-providers", `[{"name":"a",` + ok + `,"client_secret":"x"}]`}, "unknown field"},
		{"misspelt rule", []string{"--sso-providers", `[{"name":"a",` + ok + `,"allowed_domain":["x"]}]`}, "unknown field"},
		{"no secret", []string{"--sso-providers", `[{"name":"a","issuer":"https://id.example","client_id":"c"}]`}, "exactly one of"},
		{"plain http", []string{"--sso-providers", `[{"name":"a","issuer":"http://id.example","client_id":"c","client_secret_env":"S"}]`}, "must be https"},
		{"bad name", []string{"--sso-providers", `[{"name":"A b",` + ok + `}]`}, "name must be"},
		{"twice", []string{"--sso-providers", `[{"name":"a",` + ok + `},{"name":"a",` + ok + `}]`}, "listed twice"},
		{"group mapping without an org", []string{"--sso-providers", `[{"name":"a",` + ok + `,"group_mapping":[{"group":"eng"}]}]`}, "need a group and an org"},
		{"sso-only without providers", []string{"--sso-only", "true"}, "needs at least one"},
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
}
