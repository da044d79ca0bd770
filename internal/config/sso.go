package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/gatehouse-registry/gatehouse/internal/sso"
)

// ssoSettings are the settings of single sign-on (docs/sso.md).
func ssoSettings() []setting {
	return []setting{
		{
			flag: "sso-providers", env: "GATEHOUSE_SSO_PROVIDERS", key: "sso_providers", arg: "JSON",
			help: "OpenID Connect providers people sign in with (single sign-on, on the website and with " +
				"npm login): a list of {name, title, issuer, client_id, client_secret_file or client_secret_env, " +
				"scopes, username_claim, groups_claim, allowed_domains, allowed_groups, create_users}. name (a-z, " +
				"0-9, - and _) is in the redirect URI URL/-/web/sso/NAME/callback to register at the provider; " +
				"title is the button's \"Sign in with TITLE\"; issuer is found by discovery (https; http only on a " +
				"loopback address); the client secret is read from a file or an environment variable, never from " +
				"this setting; scopes default to email and profile; username_claim (default preferred_username) " +
				"names a new account; allowed_domains and allowed_groups (groups_claim, default groups) limit who " +
				"may sign in; create_users creates accounts on a first sign-in; group_mapping, a list of {group, org, team}, " +
				"makes members of a group developers of an organization (and members of a team) here, off when empty. In the file, a list of tables; as a " +
				"flag or variable, JSON. Needs --url. See docs/sso.md.",
			decode: func(c *Config, v any) error {
				text, err := structuredText(v)
				if err != nil {
					return err
				}
				return setProviders(&c.SSOProviders, text)
			},
			show: func(c Config) string {
				if len(c.SSOProviders) == 0 {
					return "empty (no single sign-on)"
				}
				names := make([]string, len(c.SSOProviders))
				for i, p := range c.SSOProviders {
					names[i] = p.Name
				}
				return strings.Join(names, ", ")
			},
			set:   func(c *Config, s string) error { return setProviders(&c.SSOProviders, s) },
			check: checkProviders,
		},
		setting{
			flag: "sso-only", env: "GATEHOUSE_SSO_ONLY", key: "sso_only", arg: "true|false",
			help: "When true, local passwords are off for everyone but site administrators: people sign in through " +
				"an --sso-providers provider (the website's buttons, npm login), npm adduser and sign-up are off, " +
				"and steps that ask for a password take a sign-in of the last 15 minutes instead. Needs a provider.",
			check: func(c Config) error {
				if c.SSOOnly && len(c.SSOProviders) == 0 {
					return errors.New("sso-only needs at least one --sso-providers provider")
				}
				return nil
			},
		}.onOff(func(c *Config) *bool { return &c.SSOOnly }),
	}
}

// setProviders parses the single sign-on providers from JSON: a list of
// objects. Unknown fields are an error (a misspelt allowed_domains would
// otherwise admit everyone).
func setProviders(dst *[]sso.Provider, s string) error {
	s = strings.TrimSpace(s)
	if s == "" {
		*dst = nil
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.DisallowUnknownFields()
	var list []sso.Provider
	if err := dec.Decode(&list); err != nil {
		return fmt.Errorf("want a JSON list of {\"name\": ..., \"issuer\": ..., \"client_id\": ...}: %w", err)
	}
	if dec.More() {
		return errors.New("trailing data after the JSON list")
	}
	*dst = list
	return nil
}

// checkProviders checks each provider, and that --url is set when there is
// any: the redirect URI registered at the provider is made from it, not
// from a request's Host header.
func checkProviders(c Config) error {
	if len(c.SSOProviders) == 0 {
		return nil
	}
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("single sign-on needs --url: the redirect URI registered at each provider is URL/-/web/sso/NAME/callback"))
	}
	if err := sso.Check(c.SSOProviders); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
