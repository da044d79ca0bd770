package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

// TestPrivateRegistry: with --read-access authenticated, an anonymous npm
// install fails with npm's advice to npm login, and works after npm login;
// every kind of anonymous read is a 401; the website sends a visitor to
// sign in; a granular token without a grant on a package gets 404 for it,
// not 401.
func TestPrivateRegistry(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "--read-access", "authenticated")
	npm := npm11(t)
	aliceToken := srv.createUser(t, "alice") // the couch login stays open
	alice := newClient(t, srv, npm).login(aliceToken)
	alice.publishSpec(pkgSpec{Name: "corp-lib", Version: "1.0.0"})
	alice.publish(makePackage(t, pkgSpec{Name: "@alice/kit", Version: "2.0.0"}), "--access", "public")

	// Anonymous npm: a 401 that npm turns into "npm login".
	anon := newClient(t, srv, npm)
	project := makeProject(t, map[string]string{"corp-lib": "1.0.0"})
	res := anon.mustFail(project, []string{"E401"}, "install")
	if !strings.Contains(res.Output(), "npm login") {
		t.Errorf("npm install without a login does not say to npm login:\n%s", res)
	}
	assertNotInstalled(t, project, "corp-lib")

	// npm login (the password flow), then the same install works.
	out, code := anon.runInteractive("", loginPrompts("alice", passwordOf("alice")), "login", "--auth-type=legacy")
	if code != 0 || anon.savedToken() == "" {
		t.Fatalf("npm login exited %d:\n%s", code, out)
	}
	anon.mustRun(project, "install")
	assertInstalled(t, project, "corp-lib", "1.0.0")

	// Every kind of read, anonymously: 401 with npm's challenge.
	reads := []struct {
		method, path string
		header       []string
	}{
		{"GET", "corp-lib", nil},
		{"GET", "corp-lib", []string{"Accept", "application/vnd.npm.install-v1+json"}},
		{"GET", "corp-lib/1.0.0", nil},
		{"GET", "corp-lib/latest", nil},
		{"GET", "corp-lib/-/corp-lib-1.0.0.tgz", nil},
		{"GET", "@alice%2fkit", []string{"Accept", "application/vnd.npm.install-v1+json"}},
		{"GET", "@alice/kit/2.0.0", nil},
		{"GET", "@alice/kit/-/kit-2.0.0.tgz", nil},
		{"GET", "@alice%2fkit/-/kit-2.0.0.tgz", nil},
		{"GET", "-/package/corp-lib/dist-tags", nil},
		{"GET", "-/package/@alice%2fkit/dist-tags", nil},
		{"GET", "-/v1/search?text=corp", nil},
		{"POST", "-/npm/v1/security/advisories/bulk", nil},
		{"GET", "no-such-package", nil},
	}
	for _, rd := range reads {
		var body any
		if rd.method == "POST" {
			body = map[string][]string{"corp-lib": {"1.0.0"}}
		}
		res := testkit.Do(t, rd.method, srv.URL()+rd.path, "", body, rd.header...)
		if res.Status != http.StatusUnauthorized || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("anonymous %s /%s %v: %s %q, want 401 with a Bearer challenge", rd.method, rd.path, rd.header, res,
				res.Header.Get("WWW-Authenticate"))
		}
		if res := testkit.Do(t, rd.method, srv.URL()+rd.path, aliceToken, body, rd.header...); rd.path != "no-such-package" &&
			res.Status != http.StatusOK {
			t.Errorf("alice %s /%s: %s", rd.method, rd.path, res)
		}
	}
	for _, open := range []string{"-/ping", "-/ready"} {
		if res := srv.do(t, "GET", open, "", nil); res.Status != http.StatusOK {
			t.Errorf("anonymous GET /%s: %s, want it open for load balancers", open, res)
		}
	}

	// The website: pages send an anonymous visitor to sign in, which is open.
	browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, page := range []string{"", "package/corp-lib", "search?q=corp", "login"} {
		req, _ := http.NewRequest("GET", srv.URL()+page, nil)
		req.Header.Set("Accept", "text/html")
		res, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		switch loc := res.Header.Get("Location"); {
		case page == "login" && res.StatusCode != http.StatusOK:
			t.Errorf("the sign-in page: %d", res.StatusCode)
		case page != "login" && (res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?next=")):
			t.Errorf("anonymous GET /%s: %d to %q, want a redirect to sign in", page, res.StatusCode, loc)
		}
	}

	// A granular token for @alice/* alone: corp-lib does not exist for it.
	scoped := srv.do(t, "POST", "-/npm/v1/tokens", aliceToken, map[string]any{"password": passwordOf("alice"),
		"name": "kit only", "scopes": []string{"alice"}})
	var tok struct {
		Token string `json:"token"`
	}
	decodeJSON(t, scoped.Body, &tok)
	if scoped.Status != http.StatusCreated || tok.Token == "" {
		t.Fatalf("create the granular token: %s", scoped)
	}
	for _, path := range []string{"corp-lib", "corp-lib/-/corp-lib-1.0.0.tgz", "no-such-package"} {
		if res := srv.do(t, "GET", path, tok.Token, nil); res.Status != http.StatusNotFound {
			t.Errorf("the @alice/* token GET /%s: %s, want 404", path, res)
		}
	}
	if res := srv.do(t, "GET", "@alice%2fkit", tok.Token, nil); res.Status != http.StatusOK {
		t.Errorf("the @alice/* token GET /@alice%%2fkit: %s", res)
	}
	kitOnly := newClient(t, srv, npm).login(tok.Token)
	kitOnly.mustFail(makeProject(t, map[string]string{"corp-lib": "1.0.0"}), []string{"E404"}, "install")
}
