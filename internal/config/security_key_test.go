package config

import (
	"bytes"
	"strings"
	"testing"
)

// TestSecurityKeyFromTheEnvironment: the server key may come from
// GATEHOUSE_KEY (so that it need not sit beside the data), from the
// environment only: no flag or file key takes it (a flag shows in process
// lists, a file is one more copy), giving it together with --key-file is
// refused, and a malformed one is refused without repeating it.
func TestSecurityKeyFromTheEnvironment(t *testing.T) {
	const hexKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	cfg, err := Load(nil, envOf(map[string]string{"GATEHOUSE_KEY": hexKey}), nil)
	if err != nil || cfg.Key != hexKey {
		t.Fatalf("GATEHOUSE_KEY: %q, %v", cfg.Key, err)
	}
	if _, err := Load([]string{"--key", hexKey}, envOf(nil), nil); err == nil {
		t.Fatal("a --key flag was accepted")
	}
	path := writeConfig(t, "gatehouse.toml", map[string]any{"key": hexKey})
	if _, err := Load([]string{"--config", path}, envOf(nil), nil); err == nil || !strings.Contains(err.Error(), "key") {
		t.Fatalf("a key in the config file: %v, want an unknown key error", err)
	}
	_, err = Load([]string{"--key-file", "/etc/gatehouse/server.key"}, envOf(map[string]string{"GATEHOUSE_KEY": hexKey}), nil)
	if err == nil || !strings.Contains(err.Error(), "both set") {
		t.Fatalf("GATEHOUSE_KEY with --key-file: %v, want a refusal", err)
	}
	bad := "not-a-key-but-a-secret-all-the-same"
	_, err = Load(nil, envOf(map[string]string{"GATEHOUSE_KEY": bad}), nil)
	if err == nil || !strings.Contains(err.Error(), "GATEHOUSE_KEY") || strings.Contains(err.Error(), bad) {
		t.Fatalf("a malformed GATEHOUSE_KEY: %v, want a refusal naming the variable and not its value", err)
	}
	// --help says how to give it, and never shows one.
	var help bytes.Buffer
	_, _ = Load([]string{"--help"}, envOf(map[string]string{"GATEHOUSE_KEY": hexKey}), &help)
	if !strings.Contains(help.String(), "GATEHOUSE_KEY") || strings.Contains(help.String(), hexKey) {
		t.Fatalf("--help about GATEHOUSE_KEY:\n%s", help.String())
	}
}
