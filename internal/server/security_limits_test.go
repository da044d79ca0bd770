package server

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/registry"
)

// TestUnboundedCountsRefused: the counts a client chooses are bounded, each
// refused with a clear 400 before anything is written: dist-tags in one
// publish and on one package, versions in one publish, owners in an owners
// update, keywords in a manifest. Before, one publish with 200,000
// dist-tags held the SQLite write lock for seconds and stalled every other
// writer.
func TestUnboundedCountsRefused(t *testing.T) {
	onEachStore(t, func(t *testing.T, tr *testRegistry) {
		alice := tr.user("alice")
		if res := tr.do("PUT", "/demo", alice, publishBody(t, "demo", "1.0.0")); res.status != 201 {
			t.Fatalf("publish: %d %s", res.status, res.body)
		}
		refused := func(what string, res response, msg string) {
			t.Helper()
			if res.status != 400 || !strings.Contains(res.errorText(t), msg) {
				t.Errorf("%s: %d %s, want 400 %q", what, res.status, res.body, msg)
			}
		}
		tags := func(n int, version string) map[string]any {
			m := make(map[string]any, n)
			for i := range n {
				m[fmt.Sprintf("t%d", i)] = version
			}
			return m
		}
		withTags := func(n int) func(map[string]any, *[]byte) {
			return func(m map[string]any, _ *[]byte) { m["dist-tags"] = tags(n, "1.0.1") }
		}
		refused("a publish with 50,000 dist-tags", tr.do("PUT", "/demo", alice, publishBody(t, "demo", "1.0.1", withTags(50_000))),
			"a publish may set at most 10 dist-tags, got 50000")
		refused("a publish with 11 dist-tags", tr.do("PUT", "/demo", alice, publishBody(t, "demo", "1.0.1", withTags(11))),
			"at most 10 dist-tags")
		twoVersions := publishBody(t, "demo", "1.0.1")
		twoVersions["versions"].(map[string]any)["1.0.2"] = twoVersions["versions"].(map[string]any)["1.0.1"]
		refused("a publish with two versions", tr.do("PUT", "/demo", alice, twoVersions), "exactly one version")
		keywords := func(n int) func(map[string]any, *[]byte) {
			return func(m map[string]any, _ *[]byte) {
				m["versions"].(map[string]any)["1.0.1"].(map[string]any)["keywords"] = strings.Split(strings.Repeat("k,", n-1)+"k", ",")
			}
		}
		refused("a manifest with 101 keywords", tr.do("PUT", "/demo", alice, publishBody(t, "demo", "1.0.1", keywords(registry.MaxKeywords+1))),
			"has 101 keywords; at most 100")
		if res := tr.do("PUT", "/demo", alice, publishBody(t, "demo", "1.0.1", keywords(registry.MaxKeywords), withTags(10))); res.status != 201 {
			t.Fatalf("a publish with 100 keywords and 10 dist-tags: %d %s", res.status, res.body)
		}

		// The package has latest and t0..t9: 11 dist-tags. Fill it to the
		// bound with npm dist-tag add, then one more is refused, whichever
		// way it comes; moving an existing tag still works.
		for i := 11; i < registry.MaxDistTags; i++ {
			if res := tr.do("PUT", fmt.Sprintf("/-/package/demo/dist-tags/x%d", i), alice, `"1.0.0"`); res.status != 201 && res.status != 200 {
				t.Fatalf("dist-tag %d: %d %s", i, res.status, res.body)
			}
		}
		refused("dist-tag 101", tr.do("PUT", "/-/package/demo/dist-tags/one-more", alice, `"1.0.0"`),
			"demo would have 101 dist-tags; a package may have at most 100")
		refused("a publish adding dist-tag 101", tr.do("PUT", "/demo", alice, publishBody(t, "demo", "1.0.2",
			func(m map[string]any, _ *[]byte) { m["dist-tags"] = map[string]any{"one-more": "1.0.2"} })), "at most 100")
		if res := tr.do("PUT", "/-/package/demo/dist-tags/t0", alice, `"1.0.0"`); res.status >= 300 {
			t.Errorf("moving an existing tag at the bound: %d %s", res.status, res.body)
		}
		if res := tr.do("PUT", "/demo", alice, publishBody(t, "demo", "1.0.2",
			func(m map[string]any, _ *[]byte) { m["dist-tags"] = map[string]any{"latest": "1.0.2"} })); res.status != 201 {
			t.Errorf("a publish moving latest at the bound: %d %s", res.status, res.body)
		}
		if got := tr.do("GET", "/-/package/demo/dist-tags", alice, nil).json(t); len(got) != registry.MaxDistTags {
			t.Errorf("%d dist-tags, want %d", len(got), registry.MaxDistTags)
		}

		// An owners update naming 101 users.
		pk := tr.do("GET", "/demo", alice, nil, "Accept", "application/json").json(t)
		owners := make([]map[string]string, registry.MaxMaintainers+1)
		for i := range owners {
			owners[i] = map[string]string{"name": fmt.Sprintf("user%d", i)}
		}
		body, _ := json.Marshal(map[string]any{"_id": "demo", "_rev": pk["_rev"], "maintainers": owners})
		refused("an owners update with 101 names", tr.do("PUT", "/demo/-rev/"+pk["_rev"].(string), alice, string(body)),
			"at most 100 owners, got 101")
	})
}
