package config

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzConfigFile: any bytes given as a TOML or YAML config file either load,
// and then the configuration passes Validate and loads the same again, or
// are refused with an error; never a panic, and never a configuration that
// validation would have refused.
func FuzzConfigFile(f *testing.F) {
	for _, seed := range []struct {
		yaml    bool
		content string
	}{
		{false, "listen = \"127.0.0.1:4873\"\nmax_body_size = \"50MiB\"\nsession_ttl = \"2h\"\nregistration = \"closed\"\n"},
		{true, "listen: 127.0.0.1:4873\nmax_body_size: 50MiB\nsession_ttl: 2h\nregistration: closed\n"},
		{false, "max_body_size = 52_428_800\n"},
		{true, "max_body_size: 5.24288e+07\n"},
		{false, "[[uplinks]]\nname = \"up\"\nurl = \"http://127.0.0.1:1/\"\n"},
		{true, "uplinks:\n  - name: up\n    url: http://127.0.0.1:1/\n"},
		{false, "listen = 1\n"}, {true, "listen: [1, 2]\n"}, {true, "a: &a [*a]\n"}, {false, "x = \"\n"},
		{true, ""}, {false, "unknown_key = true\n"},
	} {
		f.Add(seed.yaml, []byte(seed.content))
	}
	f.Fuzz(func(t *testing.T, yaml bool, content []byte) {
		name := "gatehouse.toml"
		if yaml {
			name = "gatehouse.yaml"
		}
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := Load([]string{"--config", path}, envOf(nil), &bytes.Buffer{})
		if err != nil {
			return
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("Load accepted a configuration that Validate refuses: %v", err)
		}
		again, err := Load([]string{"--config", path}, envOf(nil), &bytes.Buffer{})
		if err != nil || !reflect.DeepEqual(got, again) {
			t.Fatalf("loading the same file twice differs: %v\n%+v\n%+v", err, got, again)
		}
	})
}
