package e2e

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// searchHit is one package of `npm search --json`.
type searchHit struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Version     string   `json:"version"`
	Keywords    []string `json:"keywords"`
}

// search runs `npm search --json WORDS` and returns the hits by name.
func search(t *testing.T, c *npmClient, words ...string) map[string]searchHit {
	t.Helper()
	res := c.mustRun("", append([]string{"search", "--json"}, words...)...)
	var hits []searchHit
	if err := json.Unmarshal([]byte(res.Stdout), &hits); err != nil {
		t.Fatalf("npm search output is not a JSON list: %v\n%s", err, res)
	}
	byName := map[string]searchHit{}
	for _, h := range hits {
		byName[h.Name] = h
	}
	return byName
}

func TestSearch(t *testing.T) {
	t.Parallel()
	srv, _, alice := startWithUser(t, "alice")
	npm := alice.tool
	bob := userClient(t, srv, npm, "bob")
	anon := newClient(t, srv, npm)

	const desc = "A frobnicating gizmo for end-to-end tests"
	alice.publishSpec(pkgSpec{Name: "e2e-alpha-widget", Version: "1.0.0", Description: desc, Keywords: []string{"zephyrine", "tools"}})
	alice.publishSpec(pkgSpec{Name: "e2e-alpha-widget", Version: "1.1.0", Description: desc, Keywords: []string{"zephyrine", "tools"}})
	alice.publishSpec(pkgSpec{Name: "e2e-unrelated", Version: "1.0.0", Description: "Nothing in common", Keywords: []string{"other"}})
	alice.publishSpec(pkgSpec{Name: "@alice/hidden-widget", Version: "1.0.0", Description: "A frobnicating secret", Keywords: []string{"zephyrine"}})
	alice.publishSpec(pkgSpec{Name: "@alice/shown-widget", Version: "1.0.0", Description: "Quite public"}, "--access", "public")

	tests := []struct {
		query string
		want  []string // must be found
		not   []string // must not be found
	}{
		{"widget", []string{"e2e-alpha-widget", "@alice/shown-widget"}, []string{"e2e-unrelated", "@alice/hidden-widget"}},
		{"frobnicating", []string{"e2e-alpha-widget"}, []string{"e2e-unrelated", "@alice/hidden-widget", "@alice/shown-widget"}},
		{"zephyrine", []string{"e2e-alpha-widget"}, []string{"e2e-unrelated", "@alice/hidden-widget"}},
		{"e2e-unrelated", []string{"e2e-unrelated"}, []string{"@alice/hidden-widget"}},
		{"qqqnomatchqqq", nil, []string{"e2e-alpha-widget", "e2e-unrelated", "@alice/hidden-widget", "@alice/shown-widget"}},
	}
	for _, who := range []struct {
		name   string
		client *npmClient
	}{{"bob", bob}, {"anonymous", anon}} {
		for _, tc := range tests {
			t.Run(who.name+"/"+tc.query, func(t *testing.T) {
				hits := search(t, who.client, tc.query)
				for _, name := range tc.want {
					if _, ok := hits[name]; !ok {
						t.Errorf("npm search %s as %s: %s not found in %v", tc.query, who.name, name, keys(hits))
					}
				}
				for _, name := range tc.not {
					if _, ok := hits[name]; ok {
						t.Errorf("npm search %s as %s: found %s, want it absent", tc.query, who.name, name)
					}
				}
			})
		}
	}

	t.Run("hit fields", func(t *testing.T) {
		hit, ok := search(t, anon, "zephyrine")["e2e-alpha-widget"]
		if !ok {
			t.Fatal("e2e-alpha-widget not found")
		}
		if hit.Version != "1.1.0" {
			t.Errorf("version = %q, want the latest, 1.1.0", hit.Version)
		}
		if hit.Description != desc {
			t.Errorf("description = %q, want %q", hit.Description, desc)
		}
		if !slices.Contains(hit.Keywords, "zephyrine") {
			t.Errorf("keywords = %v, want zephyrine among them", hit.Keywords)
		}
	})
}

func keys(m map[string]searchHit) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return "[" + strings.Join(names, " ") + "]"
}
