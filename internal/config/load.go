package config

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"go.yaml.in/yaml/v3"
)

// Names of the --config flag and its environment variable. The config file
// cannot name another config file, so it has no file key.
const (
	configFlag = "config"
	configEnv  = "GATEHOUSE_CONFIG"
)

// KeyEnv is the environment variable that may hold the server key itself
// (Config.Key), instead of a file.
const KeyEnv = "GATEHOUSE_KEY"

// Load parses args (the arguments after `gatehouse serve`, e.g. []string{"--listen", "127.0.0.1:0"})
// with getenv for GATEHOUSE_* variables. Precedence: flag > env > config file > Default().
// The config file is named by --config FILE (or GATEHOUSE_CONFIG); .toml is TOML, .yaml/.yml is YAML,
// anything else is an error. Unknown keys in the file are an error naming the key.
//
// An environment variable set to the empty string counts as unset; an empty
// flag value (--url "") does override. A nil getenv means os.Getenv, and a
// nil stderr discards output. For --help or -h, Load prints the usage text to
// stderr and returns an error satisfying errors.Is(err, flag.ErrHelp). The
// result has passed Validate.
func Load(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if stderr == nil {
		stderr = io.Discard
	}
	all := settings()

	fs := flag.NewFlagSet("gatehouse serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { writeUsage(fs.Output(), all) }
	configPath := fs.String(configFlag, "", "")
	values := make([]*string, len(all))
	repeated := make([][]string, len(all))
	for i, s := range all {
		if s.repeat {
			fs.Func(s.flag, "", func(v string) error {
				repeated[i] = append(repeated[i], v)
				return nil
			})
			continue
		}
		values[i] = fs.String(s.flag, "", "")
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, fmt.Errorf("gatehouse serve: %w", err)
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("gatehouse serve: unexpected argument %q (settings are given as --name value)", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })

	cfg := Default()

	path := getenv(configEnv)
	if given[configFlag] {
		path = *configPath
	}
	if path != "" {
		if err := applyFile(&cfg, all, path); err != nil {
			return Config{}, err
		}
	}

	for _, s := range all {
		v := getenv(s.env)
		if v == "" {
			continue
		}
		if err := s.set(&cfg, v); err != nil {
			return Config{}, fmt.Errorf("environment variable %s: %w", s.env, err)
		}
	}

	// The key itself comes from the environment only (see Config.Key).
	cfg.Key = getenv(KeyEnv)

	for i, s := range all {
		if !given[s.flag] {
			continue
		}
		v := strings.Join(repeated[i], ",")
		if !s.repeat {
			v = *values[i]
		}
		if err := s.set(&cfg, v); err != nil {
			return Config{}, fmt.Errorf("flag --%s: %w", s.flag, err)
		}
	}

	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// applyFile reads the config file at path and stores each key it sets into cfg.
func applyFile(cfg *Config, all []setting, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config file: %w", err)
	}
	var raw map[string]any
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".toml":
		if err := toml.Unmarshal(data, &raw); err != nil {
			return fmt.Errorf("config file %s: parse TOML: %w", path, err)
		}
	case ".yaml", ".yml":
		if err := yaml.Unmarshal(data, &raw); err != nil {
			return fmt.Errorf("config file %s: parse YAML: %w", path, err)
		}
	default:
		return fmt.Errorf("config file %s: unsupported extension %q: use .toml, .yaml or .yml", path, ext)
	}

	known := make([]string, len(all))
	for i, s := range all {
		known[i] = s.key
	}
	var unknown []string
	for k := range raw {
		if !slices.Contains(known, k) {
			unknown = append(unknown, strconv.Quote(k))
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		noun := "key"
		if len(unknown) > 1 {
			noun = "keys"
		}
		return fmt.Errorf("config file %s: unknown %s %s (known keys: %s)",
			path, noun, strings.Join(unknown, ", "), strings.Join(known, ", "))
	}

	for _, s := range all {
		v, ok := raw[s.key]
		if !ok {
			continue
		}
		var err error
		if _, isString := v.(string); s.decode != nil && !isString {
			err = s.decode(cfg, v)
		} else {
			var text string
			text, err = fileText(s, v)
			if err == nil {
				err = s.set(cfg, text)
			}
		}
		if err != nil {
			return fmt.Errorf("config file %s: key %s: %w", path, s.key, err)
		}
	}
	return nil
}

// fileText turns a decoded config file value into the text s.set parses.
// Every value must be a string, except that a numeric setting may also be
// a whole number.
func fileText(s setting, v any) (string, error) {
	if str, ok := v.(string); ok {
		return str, nil
	}
	if b, ok := v.(bool); ok && s.boolean {
		return strconv.FormatBool(b), nil
	}
	if list, ok := v.([]any); ok && s.list {
		parts := make([]string, len(list))
		for i, item := range list {
			str, ok := item.(string)
			if !ok {
				return "", fmt.Errorf("list item %d must be a string, got %s", i+1, describe(item))
			}
			parts[i] = str
		}
		return strings.Join(parts, ","), nil
	}
	if s.numeric {
		switch n := v.(type) {
		case int:
			return strconv.Itoa(n), nil
		case int64:
			return strconv.FormatInt(n, 10), nil
		case uint64:
			return strconv.FormatUint(n, 10), nil
		case float64:
			if n == math.Trunc(n) && math.Abs(n) < 1<<63 {
				return strconv.FormatInt(int64(n), 10), nil
			}
			return "", fmt.Errorf("%v is not a whole number of bytes", n)
		}
		return "", fmt.Errorf("must be a number or a string, got %s", describe(v))
	}
	return "", fmt.Errorf("must be a string, got %s", describe(v))
}

// structuredText turns a decoded list of tables into the JSON its setting parses.
func structuredText(v any) (string, error) {
	switch v.(type) {
	case []any, []map[string]any:
	default:
		return "", fmt.Errorf("must be a list of tables, got %s", describe(v))
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("must be a list of tables of strings: %w", err)
	}
	return string(b), nil
}

// describe names the kind of a decoded config file value, for error messages.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "no value"
	case bool:
		return fmt.Sprintf("boolean %t", v)
	case int, int64, uint64, float64:
		return fmt.Sprintf("number %v", v)
	case map[string]any:
		return "a table"
	case []any, []map[string]any:
		return "a list"
	default:
		return fmt.Sprintf("%T", v)
	}
}
