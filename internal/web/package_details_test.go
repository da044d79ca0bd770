package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestPackagePageDetails: the package page shows the install command of
// every client, the latest version's dependencies by kind, and the versions
// with their dates and deprecations, the newest fifty unless asked for all.
func TestPackagePageDetails(t *testing.T) {
	s := newSite(t)
	tok := s.apiUser("alice")
	s.publish(tok, "deps", "1.0.0", "# deps")
	if status, b := s.tryPublish(tok, "deps", "1.5.0", "# deps", map[string]any{
		"dependencies": map[string]string{"old-dep": "^1.0.0"}}); status != http.StatusCreated {
		t.Fatalf("publish deps@1.5.0: %d %s", status, b)
	}
	if status, b := s.tryPublish(tok, "deps", "2.0.0", "# deps", map[string]any{
		"dependencies":         map[string]string{"b-dep": "^1.2.0", "a-dep": "~2.0.0", "../../settings": "1.0.0"},
		"peerDependencies":     map[string]string{"react": ">=18"},
		"optionalDependencies": map[string]string{},
		"devDependencies":      map[string]string{"typescript": "^5.0.0"},
	}); status != http.StatusCreated {
		t.Fatalf("publish deps@2.0.0: %d %s", status, b)
	}
	s.deprecate(tok, "deps", "1.0.0", "too old")

	p := s.browser().get("/package/deps")
	wantIn(t, "package page", p, http.StatusOK,
		`<code id="install-npm">npm install deps</code>`, `<code id="install-pnpm">pnpm add deps</code>`,
		`<code id="install-yarn">yarn add deps</code>`, `<code id="install-bun">bun add deps</code>`,
		`data-copy="#install-npm"`, `data-copy="#install-bun"`,
		`Dependencies <span class="hint">of 2.0.0</span>`, "dependencies (3)", "peerDependencies (1)",
		`<a href="/package/react">react</a> <code>&gt;=18</code>`,
		`<li>../../settings <code>1.0.0</code></li>`,
		`<tr class="deprecated">`, "Deprecated: too old", `<h2>Versions <span class="hint">(3)</span></h2>`)
	wantNotIn(t, "package page", p, "old-dep", "optionalDependencies", "typescript", `href="/package/../../settings"`, "Show all")
	deps := p.body[strings.Index(p.body, `id="dependencies"`):]
	if a, b := strings.Index(deps, `href="/package/a-dep"`), strings.Index(deps, `href="/package/b-dep"`); a < 0 || b < a {
		t.Errorf("dependencies are not listed by name:\n%s", deps)
	}
	versions := p.body[strings.Index(p.body, `id="versions"`):]
	if i, j, k := strings.Index(versions, "<td>2.0.0"), strings.Index(versions, "<td>1.5.0"), strings.Index(versions, "<td>1.0.0"); !(i < j && j < k) {
		t.Errorf("versions not newest first:\n%s", versions)
	}
	if n := strings.Count(versions, `<time datetime="`); n != 3 {
		t.Errorf("%d versions with a date, want 3", n)
	}

	// No dependencies at all.
	s.publish(tok, "lonely", "1.0.0", "")
	wantIn(t, "no dependencies", s.browser().get("/package/lonely"), http.StatusOK, `<p class="muted" id="no-dependencies">None.</p>`)

	// Many versions: the newest fifty, and a link to all of them.
	for i := range 55 {
		s.publish(tok, "many", fmt.Sprintf("1.0.%d", i), "")
	}
	p = s.browser().get("/package/many")
	wantIn(t, "many versions", p, http.StatusOK, `<a href="/package/many?versions=all#versions">Show all 55 versions</a>`,
		"<td>1.0.54", "<td>1.0.5</td>")
	if n := strings.Count(p.body, `<time datetime="`); n != 50 {
		t.Errorf("%d versions listed, want 50", n)
	}
	wantNotIn(t, "many versions", p, "<td>1.0.4</td>")
	p = s.browser().get("/package/many?versions=all")
	if n := strings.Count(p.body, `<time datetime="`); n != 55 {
		t.Errorf("all versions: %d listed, want 55", n)
	}
	wantNotIn(t, "all versions", p, "Show all")
}
