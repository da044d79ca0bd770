package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/token"
)

// TestTokenCheckPrefix checks that gatehouse token check takes the token
// prefix from where serve would: the flag, then GATEHOUSE_TOKEN_PREFIX, then
// the config file (--config or GATEHOUSE_CONFIG), then npm_.
func TestTokenCheckPrefix(t *testing.T) {
	generate := func(prefix string) string {
		tok, err := token.NewFormat(prefix).Generate()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	ghTok, abTok, npmTok := generate("gh_"), generate("ab_"), generate("npm_")
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tomlFile := write("gatehouse.toml", "token_prefix = \"gh_\"\n")
	yamlFile := write("gatehouse.yaml", "token_prefix: ab_\n")
	badFile := write("bad.toml", "token_prefix = \"no-underscore\"\n")

	tests := []struct {
		name string
		env  map[string]string
		args []string
		ok   bool
		want string // in the output
	}{
		{"the config file's prefix", nil, []string{ghTok, "--config", tomlFile}, true, "well-formed gh_ token"},
		{"a YAML config file", nil, []string{abTok, "--config", yamlFile}, true, "well-formed ab_ token"},
		{"an npm_ token is not the configured registry's", nil, []string{npmTok, "--config", tomlFile}, false, "not a well-formed gh_ token"},
		{"the config file named by GATEHOUSE_CONFIG", map[string]string{"GATEHOUSE_CONFIG": tomlFile}, []string{ghTok}, true, "well-formed gh_ token"},
		{"the flag beats the file", nil, []string{npmTok, "--config", tomlFile, "--token-prefix", "npm_"}, true, "well-formed npm_ token"},
		{"the environment beats the file", map[string]string{"GATEHOUSE_TOKEN_PREFIX": "ab_"}, []string{abTok, "--config", tomlFile}, true, "well-formed ab_ token"},
		{"no config: npm_", nil, []string{npmTok}, true, "well-formed npm_ token"},
		{"no config: a gh_ token is not well formed", nil, []string{ghTok}, false, "not a well-formed npm_ token"},
		{"a prefix the file cannot have", nil, []string{ghTok, "--config", badFile}, false, "token_prefix"},
		{"a missing config file", nil, []string{ghTok, "--config", filepath.Join(dir, "missing.toml")}, false, "config file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"GATEHOUSE_CONFIG", "GATEHOUSE_TOKEN_PREFIX"} {
				t.Setenv(k, tt.env[k])
			}
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"token", "check"}, tt.args...), strings.NewReader(""), &stdout, &stderr)
			out := stdout.String() + stderr.String()
			if (code == 0) != tt.ok || !strings.Contains(out, tt.want) {
				t.Errorf("exit %d, want success %v and %q in:\n%s", code, tt.ok, tt.want, out)
			}
			if strings.Contains(out, tt.args[0]) {
				t.Errorf("the output shows the whole token:\n%s", out)
			}
		})
	}
}
