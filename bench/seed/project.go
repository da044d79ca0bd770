package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// ProjectManifest is the package.json of a project that depends on the
// first deps packages of c, each at ^1.0.0.
func ProjectManifest(c Corpus, deps int) ([]byte, error) {
	if deps < 1 || deps > c.Packages {
		return nil, fmt.Errorf("project: %d dependencies, but the corpus has %d packages", deps, c.Packages)
	}
	d := make(map[string]string, deps)
	for i := range deps {
		d[c.Name(i)] = "^1.0.0"
	}
	b, err := json.MarshalIndent(map[string]any{
		"name": "bench-install", "version": "1.0.0", "private": true,
		"description": "the project the harness installs", "dependencies": d,
	}, "", "  ")
	return append(b, '\n'), err
}

// projectCommand writes the install project's package.json into a folder.
func projectCommand(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("project", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := Corpus{Versions: 1}
	fs.StringVar(&c.Prefix, "prefix", "bench", "package name prefix, as given to seed")
	fs.IntVar(&c.Packages, "packages", 200, "packages seeded, as given to seed")
	deps := fs.Int("deps", 200, "dependencies of the project")
	dir := fs.String("dir", "", "folder to write package.json into (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("project: -dir is required")
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("project: %w", err)
	}
	b, err := ProjectManifest(c, *deps)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(*dir, "package.json"), b, 0o644)
}
