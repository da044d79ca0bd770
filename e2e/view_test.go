package e2e

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestView(t *testing.T) {
	t.Parallel()
	srv, _, alice := startWithUser(t, "alice")
	npm := alice.tool
	anon := newClient(t, srv, npm)
	const pkg, scoped = "e2e-viewed", "@alice/viewed"

	alice.publishSpec(pkgSpec{Name: pkg, Version: "1.0.0", Description: "first", Keywords: []string{"one"}})
	alice.publishSpec(pkgSpec{Name: pkg, Version: "1.1.0", Description: "second", Keywords: []string{"two"}})
	alice.publishSpec(pkgSpec{Name: scoped, Version: "1.0.0"}, "--access", "public")

	t.Run("versions", func(t *testing.T) {
		res := anon.mustRun("", "view", pkg, "versions", "--json")
		var versions []string
		decodeJSON(t, []byte(res.Stdout), &versions)
		if want := []string{"1.0.0", "1.1.0"}; !slices.Equal(versions, want) {
			t.Errorf("npm view %s versions --json = %v, want %v", pkg, versions, want)
		}
	})

	t.Run("tarball URLs point at the server", func(t *testing.T) {
		for _, tc := range []struct{ spec, want string }{
			{pkg + "@1.0.0", srv.URL() + pkg + "/-/" + pkg + "-1.0.0.tgz"},
			{pkg + "@1.1.0", srv.URL() + pkg + "/-/" + pkg + "-1.1.0.tgz"},
			{scoped + "@1.0.0", srv.URL() + scoped + "/-/viewed-1.0.0.tgz"},
		} {
			got := strings.TrimSpace(anon.mustRun("", "view", tc.spec, "dist.tarball").Stdout)
			if got != tc.want {
				t.Errorf("npm view %s dist.tarball = %q, want %q", tc.spec, got, tc.want)
			}
			res := srv.do(t, http.MethodGet, strings.TrimPrefix(got, srv.URL()), "", nil)
			if res.Status != http.StatusOK || len(res.Body) < 2 || res.Body[0] != 0x1f || res.Body[1] != 0x8b {
				t.Errorf("GET %s: status %d, %d bytes; want 200 and a gzip tarball", got, res.Status, len(res.Body))
			}
		}
	})

	t.Run("version fields", func(t *testing.T) {
		var doc struct {
			Name        string   `json:"name"`
			Version     string   `json:"version"`
			Description string   `json:"description"`
			Keywords    []string `json:"keywords"`
			Dist        struct {
				Integrity string `json:"integrity"`
				Shasum    string `json:"shasum"`
			} `json:"dist"`
		}
		anon.viewJSON(&doc, pkg+"@1.0.0")
		if doc.Name != pkg || doc.Version != "1.0.0" || doc.Description != "first" || !slices.Equal(doc.Keywords, []string{"one"}) {
			t.Errorf("npm view %s@1.0.0 = %+v, want name, version 1.0.0, description first, keywords [one]", pkg, doc)
		}
		if !strings.HasPrefix(doc.Dist.Integrity, "sha512-") || len(doc.Dist.Shasum) != 40 {
			t.Errorf("dist = %+v, want a sha512 integrity and a sha1 shasum", doc.Dist)
		}

		var times map[string]string
		anon.viewJSON(&times, pkg, "time")
		for _, k := range []string{"created", "modified", "1.0.0", "1.1.0"} {
			if times[k] == "" {
				t.Errorf("npm view %s time lacks %q: %v", pkg, k, times)
			}
		}
	})

	t.Run("abbreviated and full packuments", func(t *testing.T) {
		get := func(accept string) (httpResult, map[string]json.RawMessage) {
			t.Helper()
			req, err := http.NewRequest(http.MethodGet, srv.URL()+pkg, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Accept", accept)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body json.RawMessage
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("GET /%s (%s): %v", pkg, accept, err)
			}
			res := httpResult{Status: resp.StatusCode, Header: resp.Header, Body: body}
			var top map[string]json.RawMessage
			decodeJSON(t, body, &top)
			return res, top
		}
		const corgi = "application/vnd.npm.install-v1+json"
		res, abbrev := get(corgi + "; q=1.0, application/json; q=0.8, */*")
		if res.Status != http.StatusOK {
			t.Fatalf("abbreviated packument: %s", res)
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, corgi) {
			t.Errorf("abbreviated packument Content-Type = %q, want %s", ct, corgi)
		}
		if _, ok := abbrev["readme"]; ok {
			t.Errorf("abbreviated packument has a readme")
		}
		var versions map[string]struct {
			Dist struct {
				Tarball string `json:"tarball"`
			} `json:"dist"`
		}
		decodeJSON(t, abbrev["versions"], &versions)
		if got := versions["1.1.0"].Dist.Tarball; got != srv.URL()+pkg+"/-/"+pkg+"-1.1.0.tgz" {
			t.Errorf("abbreviated packument tarball of 1.1.0 = %q", got)
		}

		res, full := get("application/json")
		if res.Status != http.StatusOK {
			t.Fatalf("full packument: %s", res)
		}
		for _, k := range []string{"name", "dist-tags", "versions", "time", "maintainers"} {
			if _, ok := full[k]; !ok {
				t.Errorf("full packument lacks %q", k)
			}
		}
		if len(res.Body) <= len(mustMarshal(t, abbrev)) {
			t.Errorf("full packument (%d bytes) is not larger than the abbreviated one", len(res.Body))
		}
	})
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPublicURL checks that --url decides the tarball links, whatever name
// the client used to reach the server.
func TestPublicURL(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "--url", "http://localhost:{port}/")
	npm := npm11(t)
	public := "http://localhost:" + srv.Port() + "/"
	alice := userClient(t, srv, npm, "alice")
	alice.publishSpec(pkgSpec{Name: "e2e-linked", Version: "1.0.0"})

	want := public + "e2e-linked/-/e2e-linked-1.0.0.tgz"
	anon := newClient(t, srv, npm) // talks to 127.0.0.1
	if got := strings.TrimSpace(anon.mustRun("", "view", "e2e-linked@1.0.0", "dist.tarball").Stdout); got != want {
		t.Errorf("npm view dist.tarball = %q, want %q (from --url)", got, want)
	}

	// The link works: npm downloads the tarball from it.
	project := makeProject(t, nil)
	anon.mustRun(project, "install", "e2e-linked")
	assertInstalled(t, project, "e2e-linked", "1.0.0")
	var lock struct {
		Packages map[string]struct {
			Resolved string `json:"resolved"`
		} `json:"packages"`
	}
	decodeJSON(t, readFile(t, project, "package-lock.json"), &lock)
	if got := lock.Packages["node_modules/e2e-linked"].Resolved; got != want {
		t.Errorf("package-lock resolved = %q, want %q", got, want)
	}

	// A client that uses the public name sees the same links.
	viaPublic := newClientFor(t, public, srv, npm)
	if got := strings.TrimSpace(viaPublic.mustRun("", "view", "e2e-linked@1.0.0", "dist.tarball").Stdout); got != want {
		t.Errorf("npm view via %s: dist.tarball = %q, want %q", public, got, want)
	}
}
