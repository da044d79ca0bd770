package server

import (
	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"slices"
	"strings"
	"testing"
)

// TestGranularTokenSearchSeesOnlyItsReach: a granular token finds, in the
// npm search and in the website's search, only the restricted packages it
// may read: one limited to one package sees that one, one limited to a
// scope that scope's, one for an organization only none, and every one the
// public packages. Before, each saw every restricted package of its user,
// with name, description, version and maintainers.
func TestGranularTokenSearchSeesOnlyItsReach(t *testing.T) {
	onEachStore(t, func(t *testing.T, tr *testRegistry) {
		alice := tr.user("alice")
		if _, err := tr.srv.Orgs.Create(t.Context(), audit.Operator(), "acme", "alice"); err != nil {
			t.Fatal(err)
		}
		all := []string{"@alice/hush-one", "@alice/hush-two", "@acme/hush-tool", "hush-public"}
		for _, name := range all {
			if res := tr.do("PUT", "/"+escape(name), alice, publishBody(t, name, "1.0.0")); res.status != 201 {
				t.Fatalf("publish %s: %d %s", name, res.status, res.body)
			}
		}
		token := func(grants map[string]any) string {
			grants["password"], grants["name"] = "password-alice", "t"
			return tr.mustToken(alice, grants)
		}
		tests := []struct {
			who  string
			tok  string
			want []string
		}{
			{"alice's session", alice, all},
			{"anonymous", "", []string{"hush-public"}},
			{"a token for one package", token(map[string]any{"packages": []string{"@alice/hush-one"}}),
				[]string{"@alice/hush-one", "hush-public"}},
			{"a token for another scope", token(map[string]any{"scopes": []string{"acme"}}),
				[]string{"@acme/hush-tool", "hush-public"}},
			{"a token for an organization only", token(map[string]any{"orgs": []string{"acme"}, "orgs_permission": "read-write"}),
				[]string{"hush-public"}},
			{"a token for all packages", token(map[string]any{"packages_all": true}), all},
		}
		for _, tt := range tests {
			res := tr.do("GET", "/-/v1/search?text=hush&size=50", tt.tok, nil)
			var got []string
			objects, _ := res.json(t)["objects"].([]any)
			for _, o := range objects {
				pkg, _ := o.(map[string]any)["package"].(map[string]any)
				name, _ := pkg["name"].(string)
				got = append(got, name)
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tt.want))
			if res.status != 200 || !slices.Equal(got, want) || res.json(t)["total"].(float64) != float64(len(want)) {
				t.Errorf("npm search by %s: %d %v (total %v), want %v", tt.who, res.status, got, res.json(t)["total"], want)
			}
			// The website reads only its own session cookie: a token sent
			// to it is no sign-in, and its search shows the public packages.
			page := tr.do("GET", "/search?q=hush", tt.tok, nil, "Accept", "text/html")
			websiteSees(t, "the website's search with "+tt.who+" as a bearer", page, all, []string{"hush-public"})
		}
		// Signed in, the website's search shows what the session reads.
		page := tr.do("GET", "/search?q=hush", "", nil, "Accept", "text/html", "Cookie", "gatehouse_session="+alice)
		websiteSees(t, "the website's search signed in as alice", page, all, all)
	})
}

// websiteSees checks that a website page names exactly want among names.
func websiteSees(t *testing.T, what string, page response, names, want []string) {
	t.Helper()
	if page.status != 200 {
		t.Fatalf("%s: %d", what, page.status)
	}
	for _, name := range names {
		if shown, allowed := strings.Contains(string(page.body), name), slices.Contains(want, name); shown != allowed {
			t.Errorf("%s: %s shown %v, want %v", what, name, shown, allowed)
		}
	}
}

// TestSearchTextBounded: each word of a search is one more condition on
// every package row, so a search takes a bounded text: a long one is
// refused with a 400 rather than scanned.
func TestSearchTextBounded(t *testing.T) {
	tr := newTestRegistry(t)
	tests := []struct {
		text   string
		status int
	}{
		{strings.Repeat("w ", 16), 200},
		{strings.Repeat("w ", 17), 400},
		{strings.Repeat("w", 1024), 200},
		{strings.Repeat("w", 1025), 400},
	}
	for _, tt := range tests {
		if res := tr.do("GET", "/-/v1/search?text="+strings.ReplaceAll(tt.text, " ", "+"), "", nil); res.status != tt.status {
			t.Errorf("a search of %d bytes, %d words: %d %s, want %d", len(tt.text), len(strings.Fields(tt.text)), res.status, res.body, tt.status)
		}
	}
}
