package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/registry"
	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

// importPackage writes name@1.0.0, owned by user, straight into tr's store,
// as a package from another registry arrives (registry.Import).
func (tr *testRegistry) importPackage(name, user string) {
	tr.t.Helper()
	ctx := tr.t.Context()
	u, err := tr.srv.store.Q().UserByName(ctx, user)
	if err != nil {
		tr.t.Fatal(err)
	}
	pj := fmt.Sprintf(`{"name":%q,"version":"1.0.0"}`, name)
	digest, err := tr.srv.Registry.ImportTarball(ctx, testkit.PackageTarball(tr.t, pj))
	if err != nil {
		tr.t.Fatal(err)
	}
	err = tr.srv.Registry.Import(ctx, []registry.ImportedPackage{{Name: name,
		Owners: []store.Owner{{UserID: u.ID, Name: u.Name, Email: u.Email}},
		Versions: []registry.ImportedVersion{{Version: "1.0.0", Manifest: json.RawMessage(pj), Tarball: digest,
			PublishedAt: time.Now().UnixMilli()}}}})
	if err != nil {
		tr.t.Fatalf("import %s: %v", name, err)
	}
}

// TestLegacyPackageNamesOverHTTP: packages whose names npm gives no new
// package any more (capital letters) read and take new versions from their
// owners over the wire; creating one is refused with npm's words; and the
// refusal never tells a hidden package from a missing one.
func TestLegacyPackageNamesOverHTTP(t *testing.T) {
	tr := newTestRegistry(t)
	alice, bob := tr.user("alice"), tr.user("bob")
	tr.importPackage("JSONStream", "alice")
	tr.importPackage("@alice/Secret", "alice") // scoped, so restricted

	for _, path := range []string{"/JSONStream", "/JSONStream/1.0.0", "/JSONStream/latest", "/JSONStream/-/JSONStream-1.0.0.tgz"} {
		if res := tr.do("GET", path, "", nil); res.status != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, res.status, res.body)
		}
	}
	if res := tr.do("GET", "/JSONStream", "", nil, "Accept", "application/vnd.npm.install-v1+json"); res.status != http.StatusOK || res.json(t)["name"] != "JSONStream" {
		t.Errorf("GET /JSONStream abbreviated: %d %s", res.status, res.body)
	}
	if res := tr.do("GET", "/jsonstream", "", nil); res.status != http.StatusNotFound {
		t.Errorf("GET /jsonstream (another name): %d %s", res.status, res.body)
	}

	versions := func(path, tok string) []string {
		t.Helper()
		res := tr.do("GET", path, tok, nil)
		if res.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, res.status, res.body)
		}
		var doc struct {
			Versions map[string]any `json:"versions"`
		}
		if err := json.Unmarshal(res.body, &doc); err != nil {
			t.Fatal(err)
		}
		var vs []string
		for v := range doc.Versions {
			vs = append(vs, v)
		}
		slices.Sort(vs)
		return vs
	}

	// The owner publishes to the legacy name; another user may not.
	if res := tr.do("PUT", "/JSONStream", alice, publishBody(t, "JSONStream", "1.1.0")); res.status != http.StatusCreated {
		t.Fatalf("alice publishes JSONStream@1.1.0: %d %s", res.status, res.body)
	}
	if res := tr.do("PUT", "/JSONStream", bob, publishBody(t, "JSONStream", "1.2.0")); res.status != http.StatusForbidden {
		t.Errorf("bob publishes JSONStream@1.2.0: %d %s, want 403", res.status, res.body)
	}
	if got := versions("/JSONStream", ""); !slices.Equal(got, []string{"1.0.0", "1.1.0"}) {
		t.Errorf("JSONStream versions %v, want [1.0.0 1.1.0]", got)
	}

	// A granular token may be limited to the legacy name, as a CI job's is.
	res := tr.do("POST", "/-/npm/v1/tokens", alice, map[string]any{"password": "password-alice", "name": "ci",
		"packages": []string{"JSONStream"}, "packages_and_scopes_permission": "read-write"})
	if res.status != http.StatusCreated {
		t.Fatalf("token for JSONStream: %d %s", res.status, res.body)
	}
	ci := res.json(t)["token"].(string)
	if res := tr.do("PUT", "/JSONStream", ci, publishBody(t, "JSONStream", "1.2.0")); res.status != http.StatusCreated {
		t.Fatalf("the JSONStream token publishes JSONStream@1.2.0: %d %s", res.status, res.body)
	}
	if res := tr.do("PUT", "/jsonstream", ci, publishBody(t, "jsonstream", "1.0.0")); res.status != http.StatusForbidden {
		t.Errorf("the JSONStream token creates jsonstream: %d %s, want 403", res.status, res.body)
	}
	if got := versions("/JSONStream", ""); !slices.Equal(got, []string{"1.0.0", "1.1.0", "1.2.0"}) {
		t.Errorf("JSONStream versions %v, want [1.0.0 1.1.0 1.2.0]", got)
	}
	if res := tr.do("PUT", "/@alice%2fSecret", alice, publishBody(t, "@alice/Secret", "1.1.0")); res.status != http.StatusCreated {
		t.Fatalf("alice publishes @alice/Secret@1.1.0: %d %s", res.status, res.body)
	}

	// No new package gets such a name, in npm's words.
	for _, name := range []string{"NewStream", "@alice/NewSecret", "@bob/Notes"} {
		tok := alice
		if name == "@bob/Notes" {
			tok = bob
		}
		res := tr.do("PUT", "/"+escape(name), tok, publishBody(t, name, "1.0.0"))
		if want := fmt.Sprintf("invalid package name %q: name can no longer contain capital letters", name); res.status != http.StatusBadRequest || res.errorText(t) != want {
			t.Errorf("create %s: %d %s, want 400 %q", name, res.status, res.body, want)
		}
		if res := tr.do("GET", "/"+escape(name), tok, nil); res.status != http.StatusNotFound {
			t.Errorf("after a refused create GET %s: %d", name, res.status)
		}
	}

	// bob sees neither alice's restricted legacy package nor a missing name
	// in her scope, and his publishes to both get the same answer: the
	// new-name rule is applied only once creating is allowed.
	hidden := tr.do("PUT", "/@alice%2fSecret", bob, publishBody(t, "@alice/Secret", "2.0.0"))
	missing := tr.do("PUT", "/@alice%2fMissing", bob, publishBody(t, "@alice/Missing", "2.0.0"))
	if hidden.status != http.StatusNotFound || missing.status != hidden.status || string(missing.body) != string(hidden.body) {
		t.Errorf("bob's publishes: hidden %d %s, missing %d %s; want the same 404", hidden.status, hidden.body, missing.status, missing.body)
	}
	if got := versions("/@alice%2fSecret", alice); !slices.Equal(got, []string{"1.0.0", "1.1.0"}) {
		t.Errorf("@alice/Secret versions %v, want [1.0.0 1.1.0]", got)
	}
}
