package config

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEListsEverySetting checks the settings table under
// "## Configuration" in README.md against the code's settings: the same
// settings, each with its flag, environment variable and file key.
func TestREADMEListsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Configuration\n")
	if !ok {
		t.Fatal(`README.md has no "## Configuration" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")

	type names struct{ flag, env, key string }
	var rows []names
	header := false
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "|") {
			if len(rows) > 0 {
				break // the end of the first table
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.Trim(strings.TrimSpace(cells[i]), "`")
		}
		switch {
		case !header:
			if len(cells) < 3 || cells[0] != "flag" || cells[1] != "environment" || cells[2] != "file key" {
				t.Fatalf("the Configuration table's columns are %q, want flag, environment, file key first", cells)
			}
			header = true
		case strings.Trim(cells[0], "-") == "":
			// the line under the header
		default:
			rows = append(rows, names{strings.TrimPrefix(cells[0], "--"), cells[1], cells[2]})
		}
	}

	documented := map[string]names{}
	for _, r := range rows {
		if _, dup := documented[r.flag]; dup {
			t.Errorf("README lists --%s twice", r.flag)
		}
		documented[r.flag] = r
	}
	all := settings()
	for _, s := range all {
		r, ok := documented[s.flag]
		switch {
		case !ok:
			t.Errorf("README's Configuration table lacks --%s", s.flag)
		case r != names{s.flag, s.env, s.key}:
			t.Errorf("README lists --%s as %s, file key %s; the code has %s, file key %s", s.flag, r.env, r.key, s.env, s.key)
		}
		delete(documented, s.flag)
	}
	for flag := range documented {
		t.Errorf("README's Configuration table lists --%s, which is no setting", flag)
	}
	if len(rows) != len(all) {
		t.Errorf("README's Configuration table has %d settings, the code %d", len(rows), len(all))
	}
}
