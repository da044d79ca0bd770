package e2e

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/testkit"
	jose "github.com/go-jose/go-jose/v4"
)

// Trusted publishing with the real npm: a test OIDC issuer on loopback
// plays GitHub Actions (its token request endpoint is what
// ACTIONS_ID_TOKEN_REQUEST_URL names) and another plays GitLab (whose job
// hands npm its token in NPM_ID_TOKEN), and a third CircleCI. npm trust
// configures a package, then npm publish, in a job with no token in any
// npmrc, exchanges the job's ID token for a short-lived one and publishes.
// Then each refusal.
//
// One server for the whole file: the subtests run in order and build on
// each other (the configurations the first ones make are used after).

// trustEnv is one gatehouse trusting three test issuers, and its owner alice
// with 2FA (for logins: npm trust asks for a one-time password whatever the
// mode, and publishes then need none, which keeps the codes used few), who
// has published the packages the subtests configure.
type trustEnv struct {
	srv      *server
	github   *testkit.Issuer
	gitlab   *testkit.Issuer
	circleci *testkit.Issuer
	session  string
	otp      *authenticator
	alice    *npmClient
	aud      string
}

func startTrust(t *testing.T) *trustEnv {
	t.Helper()
	gh, gl, cc := testkit.NewIssuer(t), testkit.NewIssuer(t), testkit.NewIssuer(t)
	issuers, err := json.Marshal([]map[string]string{{"url": gh.URL, "kind": "github"}, {"url": gl.URL, "kind": "gitlab"},
		{"url": cc.URL, "kind": "circleci"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, "--url", "http://127.0.0.1:{port}/", "--trusted-issuers", string(issuers))
	session := srv.createUser(t, "alice")
	e := &trustEnv{srv: srv, github: gh, gitlab: gl, circleci: cc, session: session,
		otp: enableTFA(t, srv, "alice", session, "auth-only"), aud: "npm:127.0.0.1"}
	e.alice = newClient(t, srv, npm11(t)).login(session)
	return e
}

// ciClient is a client of tl with no token anywhere, in a CI job whose
// environment is env.
func (e *trustEnv) ciClient(t *testing.T, tl tool, env ...string) *npmClient {
	t.Helper()
	c := newClient(t, e.srv, tl)
	c.extraEnv = env
	if strings.Contains(c.readRC(), "_authToken") {
		t.Fatalf("the CI client has a token in its npmrc:\n%s", c.readRC())
	}
	return c
}

// githubJob is the environment a GitHub runner gives a job with
// permissions id-token: write.
func (e *trustEnv) githubJob() []string {
	return []string{"GITHUB_ACTIONS=true", "CI=true",
		"ACTIONS_ID_TOKEN_REQUEST_URL=" + e.github.URL + "/token?api-version=2.0",
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN=" + e.github.RequestToken}
}

// githubClaims are the claims of a job of workflow file wf in repository
// repo, a private one: npm turns provenance on for a public repository's
// public package, which needs the public Sigstore (see the private package's
// subtest for a public repository).
func githubClaims(repo, wf string) map[string]any {
	return map[string]any{
		"sub":                   "repo:" + repo + ":ref:refs/heads/main",
		"repository":            repo,
		"repository_owner":      strings.Split(repo, "/")[0],
		"repository_visibility": "private",
		"workflow_ref":          repo + "/.github/workflows/" + wf + "@refs/heads/main",
		"ref":                   "refs/heads/main",
	}
}

// gitlabClaims are the claims of a pipeline of project with its file.
func gitlabClaims(project, file string) map[string]any {
	return map[string]any{
		"sub":                "project_path:" + project + ":ref_type:branch:ref:main",
		"project_path":       project,
		"ci_config_ref_uri":  "gitlab.example.test/" + project + "//" + file + "@refs/heads/main",
		"project_visibility": "private",
	}
}

// exchange posts an ID token to the exchange endpoint.
func (e *trustEnv) exchange(t *testing.T, pkg, idToken string) httpResult {
	t.Helper()
	return e.srv.do(t, http.MethodPost, "-/npm/v1/oidc/token/exchange/package/"+url.PathEscape(pkg), idToken, nil)
}

// assertExchangeRefused checks a refusal: status and npm's message.
func assertExchangeRefused(t *testing.T, res httpResult, status int, message string) {
	t.Helper()
	if res.Status != status {
		t.Fatalf("exchange: got %s, want %d", res, status)
	}
	var body struct {
		Message string `json:"message"`
	}
	decodeJSON(t, res.Body, &body)
	if body.Message != message {
		t.Fatalf("exchange: message %q, want %q", body.Message, message)
	}
	if strings.Contains(string(res.Body), "npm_") {
		t.Fatalf("a refused exchange carries a token: %s", res)
	}
}

var trustIDPattern = regexp.MustCompile(`id: ([0-9a-f-]{36})`)

func TestTrustedPublishing(t *testing.T) {
	e := startTrust(t)
	for _, name := range []string{"tp-github", "tp-gitlab", "tp-circleci", "tp-stage"} {
		mustSucceed(t, tryPublish(e.alice, name, "1.0.0"))
	}
	// A restricted package: npm must not turn provenance on for it, which
	// would ask a public transparency log (unreachable here) and fail.
	mustSucceed(t, tryPublish(e.alice, "@alice/tp-private", "1.0.0", "--access", "restricted"))

	var githubID string
	t.Run("npm trust github", func(t *testing.T) {
		// Without a one-time password: the challenge (npm would prompt).
		res := e.srv.do(t, http.MethodPost, "-/package/tp-github/trust", e.session, []map[string]any{{"type": "github",
			"claims":      map[string]any{"repository": "acme/app", "workflow_ref": map[string]string{"file": "publish.yml"}},
			"permissions": []string{"createPackage"}}})
		assertOTPChallenge(t, "create a trust configuration without an OTP", res)

		out := e.alice.mustRun("", "trust", "github", "tp-github", "--file", "publish.yml", "--repo", "acme/app",
			"--allow-publish", "--yes", "--otp="+e.otp.anyCode(t))
		for _, want := range []string{"Trust configuration created successfully", "repository: acme/app", "file: publish.yml", "permissions: publish"} {
			if !strings.Contains(out.Output(), want) {
				t.Fatalf("npm trust github: no %q in its output:\n%s", want, out)
			}
		}
		m := trustIDPattern.FindStringSubmatch(out.Output())
		if m == nil {
			t.Fatalf("npm trust github printed no id:\n%s", out)
		}
		githubID = m[1]

		list := e.alice.mustRun("", "trust", "list", "tp-github")
		for _, want := range []string{"type: github", "id: " + githubID, "repository: acme/app", "file: publish.yml", "permissions: publish"} {
			if !strings.Contains(list.Output(), want) {
				t.Fatalf("npm trust list: no %q in its output:\n%s", want, list)
			}
		}
		// One configuration per package, as npm: the second is a 409.
		e.alice.mustFail("", []string{"409", "already has a trust configuration"}, "trust", "github", "tp-github",
			"--file", "other.yml", "--repo", "acme/app", "--allow-publish", "--yes", "--otp="+e.otp.anyCode(t))
	})

	t.Run("npm trust is for owners with 2FA, never for automation or bypass tokens", func(t *testing.T) {
		body := []map[string]any{{"type": "github", "claims": map[string]any{"repository": "mallory/x",
			"workflow_ref": map[string]string{"file": "x.yml"}}, "permissions": []string{"createPackage"}}}
		// Another user: the package's configuration is not theirs to see or make.
		mallory := e.srv.createUser(t, "mallory")
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			if res := e.srv.do(t, m, "-/package/tp-gitlab/trust", mallory, body); res.Status != http.StatusNotFound && res.Status != http.StatusForbidden {
				t.Fatalf("%s trust by a stranger: got %s, want 403 or 404", m, res)
			}
		}
		if res := e.srv.do(t, http.MethodGet, "-/package/tp-gitlab/trust", "", nil); res.Status != http.StatusUnauthorized {
			t.Fatalf("anonymous trust list: got %s, want 401", res)
		}
		// alice's bypass-2FA granular token and her automation token: governance is refused.
		bypass := createTokenHTTP(t, e.srv, e.session, e.otp.anyCode(t), map[string]any{"password": passwordOf("alice"),
			"name": "ci", "packages_and_scopes_permission": "read-write", "packages_all": true, "bypass_2fa": true})
		automation := createTokenHTTP(t, e.srv, e.session, e.otp.anyCode(t), map[string]any{"password": passwordOf("alice"),
			"automation": true})
		for what, tok := range map[string]string{"bypass-2FA": bypass, "automation": automation} {
			res := e.srv.doHeader(t, http.MethodPost, "-/package/tp-gitlab/trust", tok, map[string]string{"npm-otp": e.otp.anyCode(t)}, body)
			if res.Status != http.StatusForbidden {
				t.Fatalf("trust create with the %s token: got %s, want 403", what, res)
			}
		}
		if res := e.srv.do(t, http.MethodGet, "-/package/tp-gitlab/trust", e.session, nil); !strings.Contains(string(res.Body), "[]") {
			t.Fatalf("tp-gitlab got a configuration from a refused request: %s", res)
		}
	})

	for _, tl := range []tool{npm11(t), npm12(t)} {
		t.Run("github job publishes with "+tl.name, func(t *testing.T) {
			version := map[string]string{"npm11": "1.1.0", "npm12": "1.2.0"}[tl.name]
			want := map[string][]string{"npm11": {"1.0.0", "1.1.0"}, "npm12": {"1.0.0", "1.1.0", "1.2.0"}}[tl.name]
			e.github.SetClaims(githubClaims("acme/app", "publish.yml"))
			before := len(e.github.Audiences())
			ci := e.ciClient(t, tl, e.githubJob()...)
			res := tryPublish(ci, "tp-github", version, "--loglevel", "verbose")
			mustSucceed(t, res)
			assertVersions(t, e.srv, "tp-github", want...)
			if auds := e.github.Audiences(); len(auds) <= before || auds[len(auds)-1] != e.aud {
				t.Fatalf("npm asked the runner for audiences %q, want %q last", auds, e.aud)
			}
			if strings.Contains(ci.readRC(), "_authToken") {
				t.Fatalf("npm wrote the exchanged token to the npmrc:\n%s", ci.readRC())
			}
		})
	}
	// Versions publish in order; assertVersions wants them all.
	assertVersions(t, e.srv, "tp-github", "1.0.0", "1.1.0", "1.2.0")

	t.Run("the exchanged token is listed as an oidc token", func(t *testing.T) {
		res := e.srv.do(t, http.MethodGet, "-/npm/v1/tokens", e.session, nil)
		var list struct {
			Objects []map[string]any `json:"objects"`
		}
		decodeJSON(t, res.Body, &list)
		n := 0
		for _, o := range list.Objects {
			if o["type"] == "oidc" {
				n++
				if pk, _ := o["packages"].([]any); len(pk) != 1 || pk[0] != "tp-github" {
					t.Fatalf("an oidc token's packages: %v, want [tp-github]", o["packages"])
				}
				if exp, _ := o["expires"].(string); exp == "" {
					t.Fatalf("an oidc token without an expiry: %v", o)
				}
			}
		}
		if n != 2 {
			t.Fatalf("%d oidc tokens listed, want 2 (one per publish): %s", n, res)
		}
	})

	t.Run("private package: provenance stays off", func(t *testing.T) {
		e.alice.mustRun("", "trust", "github", "@alice/tp-private", "--file", "publish.yml", "--repo", "acme/app",
			"--allow-publish", "--yes", "--otp="+e.otp.anyCode(t))
		public := githubClaims("acme/app", "publish.yml")
		public["repository_visibility"] = "public"
		e.github.SetClaims(public)
		ci := e.ciClient(t, npm11(t), e.githubJob()...)
		res := tryPublish(ci, "@alice/tp-private", "1.1.0", "--loglevel", "verbose")
		mustSucceed(t, res)
		if !strings.Contains(res.Output(), "/-/package/@alice%2ftp-private/visibility") || strings.Contains(res.Output(), "Enabling provenance") {
			t.Fatalf("npm enabled provenance for a restricted package:\n%s", res)
		}
		var doc struct {
			Versions map[string]json.RawMessage `json:"versions"`
		}
		decodeJSON(t, e.srv.do(t, http.MethodGet, "@alice%2ftp-private", e.session, nil).Body, &doc)
		if _, ok := doc.Versions["1.1.0"]; !ok || len(doc.Versions) != 2 {
			t.Fatalf("@alice/tp-private has versions %v, want 1.0.0 and 1.1.0", slices.Collect(maps.Keys(doc.Versions)))
		}
		// And the answer npm read: not public; a missing package is a 404.
		tok := e.github.Sign(e.github.Claims(e.aud, githubClaims("acme/app", "publish.yml")))
		ex := e.exchange(t, "@alice/tp-private", tok)
		var got struct {
			Token string `json:"token"`
		}
		decodeJSON(t, ex.Body, &got)
		if res := e.srv.do(t, http.MethodGet, "-/package/@alice%2ftp-private/visibility", got.Token, nil); res.Status != http.StatusOK ||
			!strings.Contains(string(res.Body), `"public":false`) {
			t.Fatalf("visibility of a restricted package: got %s, want 200 {public: false}", res)
		}
		if res := e.srv.do(t, http.MethodGet, "-/package/tp-missing/visibility", got.Token, nil); res.Status != http.StatusNotFound {
			t.Fatalf("visibility of a missing package: got %s, want 404", res)
		}
	})

	t.Run("gitlab job publishes with NPM_ID_TOKEN", func(t *testing.T) {
		e.alice.mustRun("", "trust", "gitlab", "tp-gitlab", "--file", ".gitlab-ci.yml", "--project", "group/sub/proj",
			"--allow-publish", "--yes", "--otp="+e.otp.anyCode(t))
		idToken := e.gitlab.Sign(e.gitlab.Claims(e.aud, gitlabClaims("group/sub/proj", ".gitlab-ci.yml")))
		ci := e.ciClient(t, npm12(t), "GITLAB_CI=true", "CI=true", "NPM_ID_TOKEN="+idToken)
		mustSucceed(t, tryPublish(ci, "tp-gitlab", "1.1.0"))
		assertVersions(t, e.srv, "tp-gitlab", "1.0.0", "1.1.0")
		// The same ID token again: a replay.
		ci = e.ciClient(t, npm11(t), "GITLAB_CI=true", "CI=true", "NPM_ID_TOKEN="+idToken)
		ci.mustFail(makePackage(t, pkgSpec{Name: "tp-gitlab", Version: "1.2.0"}), []string{"ENEEDAUTH", "E401", "logged in"}, "publish")
		assertVersions(t, e.srv, "tp-gitlab", "1.0.0", "1.1.0")
	})

	t.Run("circleci job publishes with NPM_ID_TOKEN", func(t *testing.T) {
		const org, project, pipeline, context = "6d8f1c2a-0b3e-4c5d-8e9f-0a1b2c3d4e5f",
			"11111111-2222-4333-8444-555555555555", "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee", "12345678-1234-4234-8234-123456789012"
		out := e.alice.mustRun("", "trust", "circleci", "tp-circleci", "--org-id", org, "--project-id", project,
			"--pipeline-definition-id", pipeline, "--vcs-origin", "github.com/acme/app", "--context-id", context,
			"--allow-publish", "--yes", "--otp="+e.otp.anyCode(t))
		if !strings.Contains(out.Output(), "Trust configuration created successfully") {
			t.Fatalf("npm trust circleci:\n%s", out)
		}
		claims := map[string]any{"sub": "org/" + org + "/project/" + project + "/user/u",
			"oidc.circleci.com/org-id": org, "oidc.circleci.com/project-id": project,
			"oidc.circleci.com/pipeline-definition-id": pipeline, "oidc.circleci.com/vcs-origin": "github.com/acme/app",
			"oidc.circleci.com/context-ids": []string{"87654321-4321-4321-8321-210987654321", context}}
		idToken := e.circleci.Sign(e.circleci.Claims(e.aud, claims))
		ci := e.ciClient(t, npm11(t), "CIRCLECI=true", "CI=true", "NPM_ID_TOKEN="+idToken)
		mustSucceed(t, tryPublish(ci, "tp-circleci", "1.1.0"))
		assertVersions(t, e.srv, "tp-circleci", "1.0.0", "1.1.0")
		// A job without the configured context is not the configured job.
		claims["oidc.circleci.com/context-ids"] = []string{"87654321-4321-4321-8321-210987654321"}
		ci = e.ciClient(t, npm11(t), "CIRCLECI=true", "CI=true", "NPM_ID_TOKEN="+e.circleci.Sign(e.circleci.Claims(e.aud, claims)))
		ci.mustFail(makePackage(t, pkgSpec{Name: "tp-circleci", Version: "1.2.0"}), []string{"ENEEDAUTH", "E401", "logged in"}, "publish")
		assertVersions(t, e.srv, "tp-circleci", "1.0.0", "1.1.0")
	})

	t.Run("refused", func(t *testing.T) {
		gh := func() map[string]any {
			return e.github.Claims(e.aud, githubClaims("acme/app", "publish.yml"))
		}
		with := func(c map[string]any, kv ...any) map[string]any {
			for i := 0; i < len(kv); i += 2 {
				c[kv[i].(string)] = kv[i+1]
			}
			return c
		}
		untrusted := testkit.NewIssuerKey(t, jose.RS256)
		stranger := testkit.NewIssuer(t)
		unauthorized := "OIDC token exchange error - unauthorized"
		notFound := "OIDC token exchange error - package not found"
		cases := []struct {
			name    string
			token   string
			status  int
			message string
		}{
			{"another repository", e.github.Sign(with(gh(), "repository", "acme/other",
				"workflow_ref", "acme/other/.github/workflows/publish.yml@refs/heads/main")), 404, notFound},
			{"another workflow file", e.github.Sign(with(gh(), "workflow_ref",
				"acme/app/.github/workflows/release.yml@refs/heads/main")), 404, notFound},
			{"the workflow file of another repository", e.github.Sign(with(gh(), "workflow_ref",
				"mallory/x/.github/workflows/publish.yml@refs/heads/main")), 404, notFound},
			{"wrong audience", e.github.Sign(with(gh(), "aud", "npm:registry.example.test")), 401, unauthorized},
			{"expired", e.github.Sign(with(gh(), "iat", time.Now().Add(-2*time.Hour).Unix(),
				"nbf", time.Now().Add(-2*time.Hour).Unix(), "exp", time.Now().Add(-time.Hour).Unix())), 401, unauthorized},
			{"not yet valid", e.github.Sign(with(gh(), "nbf", time.Now().Add(time.Hour).Unix(),
				"exp", time.Now().Add(2*time.Hour).Unix())), 401, unauthorized},
			{"signed by an untrusted key", testkit.SignJWT(t, untrusted, gh()), 401, unauthorized},
			{"an issuer not configured", stranger.Sign(with(gh(), "iss", stranger.URL)), 401, unauthorized},
			{"alg none", testkit.UnsignedJWT(t, gh()), 401, unauthorized},
			{"a GitLab token for a GitHub configuration", e.gitlab.Sign(e.gitlab.Claims(e.aud,
				gitlabClaims("acme/app", "publish.yml"))), 404, notFound},
			{"a package that does not exist", "", 404, notFound},
			{"not a JWT", "npm_not-a-jwt", 401, unauthorized},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				pkg, tok := "tp-github", c.token
				if tok == "" {
					pkg, tok = "tp-missing", e.github.Sign(gh())
				}
				assertExchangeRefused(t, e.exchange(t, pkg, tok), c.status, c.message)
			})
		}
		t.Run("a replayed token", func(t *testing.T) {
			tok := e.github.Sign(gh())
			if res := e.exchange(t, "tp-github", tok); res.Status != http.StatusCreated {
				t.Fatalf("first exchange: got %s, want 201", res)
			}
			assertExchangeRefused(t, e.exchange(t, "tp-github", tok), 401, unauthorized)
		})
		t.Run("no token", func(t *testing.T) {
			assertExchangeRefused(t, e.exchange(t, "tp-github", ""), 400,
				"OIDC token exchange error - bad request: no ID token in the Authorization header")
		})
		// Nothing refused was published.
		assertVersions(t, e.srv, "tp-github", "1.0.0", "1.1.0", "1.2.0")
	})

	t.Run("a staging-only configuration stages and does not publish", func(t *testing.T) {
		e.alice.mustRun("", "trust", "github", "tp-stage", "--file", "publish.yml", "--repo", "acme/app",
			"--allow-stage-publish", "--yes", "--otp="+e.otp.anyCode(t))
		list := e.alice.mustRun("", "trust", "list", "tp-stage")
		if !strings.Contains(list.Output(), "permissions: stage publish") {
			t.Fatalf("npm trust list: want permissions: stage publish:\n%s", list)
		}
		e.github.SetClaims(githubClaims("acme/app", "publish.yml"))
		ci := e.ciClient(t, npm11(t), e.githubJob()...)
		dir := makePackage(t, pkgSpec{Name: "tp-stage", Version: "1.1.0"})
		ci.mustFail(dir, []string{"E403", "npm stage publish"}, "publish")
		// The same job stages the version through the same exchange; no
		// install sees it until a person approves it.
		ci.mustRun(dir, "stage", "publish")
		staged := e.alice.mustRun("", "stage", "list", "tp-stage")
		if !strings.Contains(staged.Output(), "1.1.0") {
			t.Fatalf("npm stage list tp-stage: want the version the CI job staged:\n%s", staged)
		}
		assertVersions(t, e.srv, "tp-stage", "1.0.0")
	})

	t.Run("npm trust revoke", func(t *testing.T) {
		tok := e.github.Sign(e.github.Claims(e.aud, githubClaims("acme/app", "publish.yml")))
		res := e.exchange(t, "tp-github", tok)
		var got struct {
			TokenType string `json:"token_type"`
			Token     string `json:"token"`
			Created   string `json:"created"`
			Expires   string `json:"expires"`
		}
		decodeJSON(t, res.Body, &got)
		if res.Status != http.StatusCreated || got.TokenType != "oidc" || got.Token == "" {
			t.Fatalf("exchange: got %s, want 201 {token_type: oidc, token}", res)
		}
		created, err1 := time.Parse(time.RFC3339, got.Created)
		expires, err2 := time.Parse(time.RFC3339, got.Expires)
		if err1 != nil || err2 != nil || expires.Sub(created) != time.Hour {
			t.Fatalf("exchange: created %q, expires %q: want an hour apart", got.Created, got.Expires)
		}
		if who := whoamiName(t, e.srv.whoami(t, got.Token)); who != "alice" {
			t.Fatalf("the exchanged token is %q's, want alice's", who)
		}
		out := e.alice.mustRun("", "trust", "revoke", "tp-github", "--id", githubID, "--otp="+e.otp.anyCode(t))
		if !strings.Contains(out.Output(), "Revoked") {
			t.Fatalf("npm trust revoke:\n%s", out)
		}
		list := e.alice.mustRun("", "trust", "list", "tp-github")
		if !strings.Contains(list.Output(), "No trust configurations found") {
			t.Fatalf("npm trust list after revoke:\n%s", list)
		}
		// The tokens exchanged under it are revoked with it.
		if res := e.srv.whoami(t, got.Token); res.Status != http.StatusUnauthorized {
			t.Fatalf("whoami with a token of a revoked configuration: got %s, want 401", res)
		}
		assertExchangeRefused(t, e.exchange(t, "tp-github", e.github.Sign(e.github.Claims(e.aud,
			githubClaims("acme/app", "publish.yml")))), 404, "OIDC token exchange error - package not found")
	})

	if t.Failed() {
		return
	}
	logs := e.srv.Logs()
	for _, want := range []string{"trusted publishing exchange", "subject=repo:acme/app:ref:refs/heads/main",
		"trusted publishing exchange refused"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the server log has no %q", want)
		}
	}
	if slices.ContainsFunc(strings.Split(logs, "\n"), func(l string) bool { return strings.Contains(l, "eyJ") }) {
		t.Errorf("an ID token is in the server log")
	}
}
