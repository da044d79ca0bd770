package server

import (
	"strings"
	"testing"
)

// TestBuildMetadataDoesNotRepublishAVersion: npm treats versions that differ
// only in build metadata as one version, so a version cannot come back with
// other contents under "+something", after an unpublish or beside itself,
// and the two never coexist. Before, 1.0.0+x was accepted after 1.0.0 was
// unpublished, and beside it.
func TestBuildMetadataDoesNotRepublishAVersion(t *testing.T) {
	onEachStore(t, func(t *testing.T, tr *testRegistry) {
		alice := tr.user("alice")
		publish := func(version string) response { return tr.do("PUT", "/demo", alice, publishBody(t, "demo", version)) }
		refused := func(what string, res response) {
			t.Helper()
			if res.status != 403 || !strings.Contains(res.errorText(t), "previously published") {
				t.Errorf("%s: %d %s, want 403 previously published", what, res.status, res.body)
			}
		}
		if res := publish("1.0.0"); res.status != 201 {
			t.Fatalf("publish 1.0.0: %d %s", res.status, res.body)
		}
		refused("1.0.0+x beside 1.0.0", publish("1.0.0+x"))
		if res := publish("2.0.0+build.1"); res.status != 201 {
			t.Fatalf("publish 2.0.0+build.1: %d %s", res.status, res.body)
		}
		refused("2.0.0 beside 2.0.0+build.1", publish("2.0.0"))
		refused("2.0.0+build.2 beside 2.0.0+build.1", publish("2.0.0+build.2"))

		pk := tr.do("GET", "/demo", alice, nil, "Accept", "application/json").json(t)
		if versions, _ := pk["versions"].(map[string]any); len(versions) != 2 {
			t.Errorf("versions after the refusals: %v, want 1.0.0 and 2.0.0+build.1", versions)
		}
		if res := tr.do("DELETE", "/demo/-rev/"+pk["_rev"].(string), alice, nil); res.status != 200 {
			t.Fatalf("unpublish: %d %s", res.status, res.body)
		}
		refused("1.0.0+x after 1.0.0 was unpublished", publish("1.0.0+x"))
		refused("2.0.0 after 2.0.0+build.1 was unpublished", publish("2.0.0"))
		if res := publish("1.0.1+x"); res.status != 201 {
			t.Errorf("a new version with build metadata: %d %s", res.status, res.body)
		}
	})
}
