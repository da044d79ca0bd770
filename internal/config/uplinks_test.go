package config

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/uplink"
)

// TestUplinkFlags reads uplinks from repeated flags and from the
// environment, a flag beating the environment and the environment the
// file, each giving the whole list.
func TestUplinkFlags(t *testing.T) {
	file := writeRaw(t, "g.toml", "uplinks = [\"file=https://file.example.com\"]\n")
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string // NAME=URL of each uplink, in order
	}{
		{"none", nil, nil, nil},
		{"one flag", []string{"--uplink", "npmjs=https://registry.example.com/"}, nil, []string{"npmjs=https://registry.example.com"}},
		{"repeated flags, in order", []string{"--uplink", "corp=http://127.0.0.1:8080/npm", "--uplink=public=https://registry.example.com"}, nil,
			[]string{"corp=http://127.0.0.1:8080/npm", "public=https://registry.example.com"}},
		{"environment", nil, map[string]string{"GATEHOUSE_UPLINK": "a=http://a.example.com, b=http://b.example.com"}, []string{
			"a=http://a.example.com", "b=http://b.example.com"}},
		{"file", []string{"--config", file}, nil, []string{"file=https://file.example.com"}},
		{"environment beats file", []string{"--config", file}, map[string]string{"GATEHOUSE_UPLINK": "env=http://env.example.com"},
			[]string{"env=http://env.example.com"}},
		{"flag beats environment", []string{"--config", file, "--uplink", "flag=http://flag.example.com"},
			map[string]string{"GATEHOUSE_UPLINK": "env=http://env.example.com"}, []string{"flag=http://flag.example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(tt.args, envOf(tt.env), &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, u := range cfg.Uplinks {
				got = append(got, u.Name+"="+u.URL)
				want := uplink.NewSpec(u.Name, u.URL)
				if !reflect.DeepEqual(u, want) {
					t.Errorf("uplink %s = %+v, want the defaults %+v", u.Name, u, want)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("uplinks %q, want %q", got, tt.want)
			}
		})
	}
}

// TestUplinkFile reads every setting of an uplink from a TOML and a YAML
// file, tables and NAME=URL strings mixed.
func TestUplinkFile(t *testing.T) {
	const tomlText = `offline = true
publish_uplink_names = "allow"

[[uplinks]]
name = "corp"
url = "https://npm.corp.example.com/api/npm/"
token_file = "/run/secrets/corp-token"
packages = ["@corp/*", "left-pad"]
connect_timeout = "2s"
response_timeout = "20s"
timeout = "1m"
max_age = "10m"
not_found_ttl = 0
offline = true
max_packument_size = "16MiB"
max_tarball_size = 104857600
min_release_age_days = 3
deny = [
  { package = "event-stream@3.3.6", reason = "compromised" },
  { package = "@evil/pkg", reason = "malware" },
]

[[uplinks]]
name = "public"
url = "https://registry.example.com"
token_env = "PUBLIC_TOKEN"
`
	const yamlText = `offline: true
publish_uplink_names: allow
uplinks:
  - name: corp
    url: https://npm.corp.example.com/api/npm/
    token_file: /run/secrets/corp-token
    packages: ["@corp/*", left-pad]
    connect_timeout: 2s
    response_timeout: 20s
    timeout: 1m
    max_age: 10m
    not_found_ttl: 0
    offline: true
    max_packument_size: 16MiB
    max_tarball_size: 104857600
    min_release_age_days: 3
    deny:
      - package: event-stream@3.3.6
        reason: compromised
      - {package: "@evil/pkg", reason: malware}
  - name: public
    url: https://registry.example.com
    token_env: PUBLIC_TOKEN
`
	corp := uplink.NewSpec("corp", "https://npm.corp.example.com/api/npm")
	corp.TokenFile = "/run/secrets/corp-token"
	corp.Packages = []string{"@corp/*", "left-pad"}
	corp.ConnectTimeout, corp.ResponseTimeout, corp.Timeout = 2*time.Second, 20*time.Second, time.Minute
	corp.MaxAge, corp.NotFoundTTL, corp.Offline = 10*time.Minute, 0, true
	corp.MaxPackumentSize, corp.MaxTarballSize, corp.MinReleaseAgeDays = 16<<20, 100<<20, 3
	corp.Deny = []uplink.Deny{{Package: "event-stream@3.3.6", Reason: "compromised"}, {Package: "@evil/pkg", Reason: "malware"}}
	public := uplink.NewSpec("public", "https://registry.example.com")
	public.TokenEnv = "PUBLIC_TOKEN"
	for _, f := range []struct{ name, text string }{{"g.toml", tomlText}, {"g.yaml", yamlText}} {
		t.Run(f.name, func(t *testing.T) {
			cfg, err := Load([]string{"--config", writeRaw(t, f.name, f.text)}, envOf(nil), &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg.Uplinks, []uplink.Spec{corp, public}) {
				t.Errorf("uplinks\n%+v\nwant\n%+v", cfg.Uplinks, []uplink.Spec{corp, public})
			}
			if !cfg.Offline || cfg.PublishUplinkNames != "allow" {
				t.Errorf("offline %v, publish_uplink_names %q", cfg.Offline, cfg.PublishUplinkNames)
			}
		})
	}
}

// TestUplinkErrors: each bad uplink setting is a clear error naming where
// it came from and what is wrong.
func TestUplinkErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		file string // a TOML config file's content, when set
		want []string
	}{
		{"an ftp URL", []string{"--uplink", "npmjs=ftp://registry.example.com"}, nil, "",
			[]string{"--uplink", "uplink npmjs", "http:// or https://"}},
		{"a file URL from the environment", nil, map[string]string{"GATEHOUSE_UPLINK": "x=file:///srv/npm"}, "",
			[]string{"GATEHOUSE_UPLINK", "http:// or https://"}},
		{"no NAME=", []string{"--uplink", "https://registry.example.com"}, nil, "", []string{"flag --uplink", "want NAME=URL"}},
		{"a password in the URL", []string{"--uplink", "npmjs=https://me:hunter2@registry.example.com"}, nil, "",
			[]string{"token_env or token_file"}},
		{"a bad name", []string{"--uplink", "Public Registry=https://registry.example.com"}, nil, "", []string{"lower-case"}},
		{"two of one name", []string{"--uplink", "a=http://a.example.com", "--uplink", "a=http://b.example.com"}, nil, "",
			[]string{`two uplinks are named "a"`}},
		{"an unknown key", nil, nil, "[[uplinks]]\nname = \"a\"\nurl = \"http://a.example.com\"\nmax_ag = \"1m\"\n",
			[]string{"key uplinks", "uplink 1", `unknown key "max_ag"`, "known keys: name, url"}},
		{"a duration as a number", nil, nil, "[[uplinks]]\nname = \"a\"\nurl = \"http://a.example.com\"\nmax_age = 120\n",
			[]string{"key max_age", "duration string"}},
		{"offline as a string", nil, nil, "[[uplinks]]\nname = \"a\"\nurl = \"http://a.example.com\"\noffline = \"yes\"\n",
			[]string{"key offline", "true or false"}},
		{"packages as a string", nil, nil, "[[uplinks]]\nname = \"a\"\nurl = \"http://a.example.com\"\npackages = \"*\"\n",
			[]string{"key packages", "list of strings"}},
		{"a bad pattern", nil, nil, "[[uplinks]]\nname = \"a\"\nurl = \"http://a.example.com\"\npackages = [\"@corp\"]\n",
			[]string{"packages", `"@corp"`}},
		{"deny without a reason", nil, nil, "[[uplinks]]\nname = \"a\"\nurl = \"http://a.example.com\"\ndeny = [{ package = \"x@1\" }]\n",
			[]string{"deny", "reason is required"}},
		{"deny with an unknown key", nil, nil, "[[uplinks]]\nname = \"a\"\nurl = \"http://a.example.com\"\ndeny = [{ name = \"x\" }]\n",
			[]string{"deny", `unknown key "name"`}},
		{"a fractional age", nil, nil, "[[uplinks]]\nname = \"a\"\nurl = \"http://a.example.com\"\nmin_release_age_days = 1.5\n",
			[]string{"min_release_age_days", "whole number"}},
		{"an age out of range", nil, nil, "[[uplinks]]\nname = \"a\"\nurl = \"http://a.example.com\"\nmin_release_age_days = -1\n",
			[]string{"min_release_age_days", "from 0 to 3650"}},
		{"a table that is not a list", nil, nil, "[uplinks]\nname = \"a\"\n", []string{"key uplinks", "list of uplinks"}},
		{"a number in the list", nil, nil, "uplinks = [3]\n", []string{"uplink 1", "NAME=URL or a table"}},
		{"publish_uplink_names", []string{"--publish-uplink-names", "yes"}, nil, "", []string{"publish_uplink_names", "refuse, allow"}},
		{"offline", []string{"--offline", "sometimes"}, nil, "", []string{"--offline", "true or false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append(args, "--config", writeRaw(t, "g.toml", tt.file))
			}
			_, err := Load(args, envOf(tt.env), &bytes.Buffer{})
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

// TestUplinkHelp: --help explains the uplink settings and an uplink's
// table in the file.
func TestUplinkHelp(t *testing.T) {
	var out bytes.Buffer
	_, _ = Load([]string{"--help"}, envOf(nil), &out)
	for _, want := range []string{"--uplink NAME=URL", "GATEHOUSE_UPLINK", "File key: uplinks", "--offline true|false",
		"--publish-uplink-names refuse|allow", "Default: refuse", "Uplinks in the config file", "min_release_age_days",
		"token_env or token_file", "max_age (how long"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}
