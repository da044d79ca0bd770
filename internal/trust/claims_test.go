package trust

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/idtoken"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

const aud = "npm:registry.test"

func rawClaims(t *testing.T, doc string) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestParseClaims checks the claims npm trust sends, and what is refused.
func TestParseClaims(t *testing.T) {
	const uuid1, uuid2 = "6d8f1c2a-0b3e-4c5d-8e9f-0a1b2c3d4e5f", "11111111-2222-4333-8444-555555555555"
	tests := []struct {
		name, typ, claims string
		ok                bool
	}{
		{"github", "github", `{"repository":"o/r","workflow_ref":{"file":"publish.yml"}}`, true},
		{"github with environment", "github", `{"repository":"o/r","workflow_ref":{"file":"p.yaml"},"environment":"prod"}`, true},
		{"github without repository", "github", `{"workflow_ref":{"file":"publish.yml"}}`, false},
		{"github repository without owner", "github", `{"repository":"r","workflow_ref":{"file":"publish.yml"}}`, false},
		{"github file is a path", "github", `{"repository":"o/r","workflow_ref":{"file":".github/workflows/p.yml"}}`, false},
		{"github file is not yaml", "github", `{"repository":"o/r","workflow_ref":{"file":"p.sh"}}`, false},
		{"github file with a ref", "github", `{"repository":"o/r","workflow_ref":{"file":"p.yml@main"}}`, false},
		{"github unknown claim", "github", `{"repository":"o/r","workflow_ref":{"file":"p.yml"},"ref":"main"}`, false},
		{"github repository not a string", "github", `{"repository":["o/r"],"workflow_ref":{"file":"p.yml"}}`, false},
		{"gitlab subgroup", "gitlab", `{"project_path":"g/s/p","ci_config_ref_uri":{"file":".gitlab-ci.yml"}}`, true},
		{"gitlab project without group", "gitlab", `{"project_path":"p","ci_config_ref_uri":{"file":".gitlab-ci.yml"}}`, false},
		{"gitlab empty path part", "gitlab", `{"project_path":"g//p","ci_config_ref_uri":{"file":".gitlab-ci.yml"}}`, false},
		{"circleci", "circleci", `{"oidc.circleci.com/org-id":"` + uuid1 + `","oidc.circleci.com/project-id":"` + uuid2 +
			`","oidc.circleci.com/pipeline-definition-id":"` + uuid1 + `","oidc.circleci.com/vcs-origin":"github.com/o/r",` +
			`"oidc.circleci.com/context-ids":["` + uuid2 + `"]}`, true},
		{"circleci id not a uuid", "circleci", `{"oidc.circleci.com/org-id":"x","oidc.circleci.com/project-id":"` + uuid2 +
			`","oidc.circleci.com/pipeline-definition-id":"` + uuid1 + `","oidc.circleci.com/vcs-origin":"github.com/o/r"}`, false},
		{"circleci vcs origin with a scheme", "circleci", `{"oidc.circleci.com/org-id":"` + uuid1 + `","oidc.circleci.com/project-id":"` + uuid2 +
			`","oidc.circleci.com/pipeline-definition-id":"` + uuid1 + `","oidc.circleci.com/vcs-origin":"https://github.com/o/r"}`, false},
		{"unknown type", "jenkins", `{}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseClaims(tt.typ, rawClaims(t, tt.claims))
			if tt.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tt.ok && !fault.Is(err, fault.Invalid) {
				t.Fatalf("got %v, want an Invalid refusal", err)
			}
		})
	}
}

func TestPermissions(t *testing.T) {
	if got, err := permissions(nil); err != nil || len(got) != 1 || got[0] != "createPackage" {
		t.Fatalf("no permissions: got %v, %v; want [createPackage]", got, err)
	}
	if got, err := permissions([]string{"createStagedPackage", "createPackage", "createPackage"}); err != nil || len(got) != 2 {
		t.Fatalf("both permissions: got %v, %v", got, err)
	}
	if _, err := permissions([]string{"deletePackage"}); !fault.Is(err, fault.Invalid) {
		t.Fatalf("unknown permission: got %v, want Invalid", err)
	}
}

// issuers are one verifier trusting a test issuer of each kind.
type issuers struct {
	v                                 *idtoken.Verifier
	github, gitlab, circleci, generic *testkit.Issuer
}

func newIssuers(t *testing.T) issuers {
	t.Helper()
	is := issuers{github: testkit.NewIssuer(t), gitlab: testkit.NewIssuer(t), circleci: testkit.NewIssuer(t), generic: testkit.NewIssuer(t)}
	var err error
	is.v, err = idtoken.New([]idtoken.Issuer{
		{URL: is.github.URL, Kind: idtoken.GitHub},
		{URL: is.gitlab.URL, Kind: idtoken.GitLab},
		{URL: is.circleci.URL, Kind: idtoken.CircleCI},
		{URL: is.generic.URL, Kind: idtoken.Generic, Claims: map[string]string{
			idtoken.FieldRepository: "repo", idtoken.FieldFile: "pipeline", idtoken.FieldEnvironment: "stage"}},
	}, idtoken.Options{Audience: aud})
	if err != nil {
		t.Fatal(err)
	}
	return is
}

func (is issuers) identity(t *testing.T, from *testkit.Issuer, claims map[string]any) idtoken.Identity {
	t.Helper()
	id, err := is.v.Verify(context.Background(), from.Sign(from.Claims(aud, claims)))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestMatch checks a verified identity against configurations of each type:
// every claim the configuration names must match, and nothing else will do.
func TestMatch(t *testing.T) {
	is := newIssuers(t)
	const org, project, pipeline, ctx1, ctx2 = "6d8f1c2a-0b3e-4c5d-8e9f-0a1b2c3d4e5f", "11111111-2222-4333-8444-555555555555",
		"aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee", "12345678-1234-4234-8234-123456789012", "87654321-4321-4321-8321-210987654321"
	gh := func(repo, wfRef, env string) map[string]any {
		c := map[string]any{"repository": repo, "workflow_ref": wfRef}
		if env != "" {
			c["environment"] = env
		}
		return c
	}
	circle := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{"oidc.circleci.com/org-id": org, "oidc.circleci.com/project-id": project,
			"oidc.circleci.com/pipeline-definition-id": pipeline, "oidc.circleci.com/vcs-origin": "github.com/o/r",
			"oidc.circleci.com/context-ids": []string{ctx1, ctx2}}
		if mod != nil {
			mod(c)
		}
		return c
	}
	circleConfig := `{"oidc.circleci.com/org-id":"` + org + `","oidc.circleci.com/project-id":"` + project +
		`","oidc.circleci.com/pipeline-definition-id":"` + pipeline + `","oidc.circleci.com/vcs-origin":"github.com/o/r",` +
		`"oidc.circleci.com/context-ids":["` + ctx2 + `"]}`
	tests := []struct {
		name   string
		typ    string
		config string
		from   *testkit.Issuer
		claims map[string]any
		want   bool
	}{
		{"github", "github", `{"repository":"o/r","workflow_ref":{"file":"publish.yml"}}`, is.github,
			gh("o/r", "o/r/.github/workflows/publish.yml@refs/tags/v1", ""), true},
		{"github, another repository", "github", `{"repository":"o/r","workflow_ref":{"file":"publish.yml"}}`, is.github,
			gh("o/other", "o/other/.github/workflows/publish.yml@refs/heads/main", ""), false},
		{"github, repository differs in case", "github", `{"repository":"o/r","workflow_ref":{"file":"publish.yml"}}`, is.github,
			gh("O/R", "O/R/.github/workflows/publish.yml@refs/heads/main", ""), false},
		{"github, another workflow", "github", `{"repository":"o/r","workflow_ref":{"file":"publish.yml"}}`, is.github,
			gh("o/r", "o/r/.github/workflows/test.yml@refs/heads/main", ""), false},
		{"github, the file of another repository's workflow", "github", `{"repository":"o/r","workflow_ref":{"file":"publish.yml"}}`, is.github,
			gh("o/r", "evil/x/.github/workflows/publish.yml@refs/heads/main", ""), false},
		{"github, no workflow_ref", "github", `{"repository":"o/r","workflow_ref":{"file":"publish.yml"}}`, is.github,
			map[string]any{"repository": "o/r"}, false},
		{"github, environment", "github", `{"repository":"o/r","workflow_ref":{"file":"p.yml"},"environment":"prod"}`, is.github,
			gh("o/r", "o/r/.github/workflows/p.yml@refs/heads/main", "prod"), true},
		{"github, another environment", "github", `{"repository":"o/r","workflow_ref":{"file":"p.yml"},"environment":"prod"}`, is.github,
			gh("o/r", "o/r/.github/workflows/p.yml@refs/heads/main", "test"), false},
		{"github, no environment", "github", `{"repository":"o/r","workflow_ref":{"file":"p.yml"},"environment":"prod"}`, is.github,
			gh("o/r", "o/r/.github/workflows/p.yml@refs/heads/main", ""), false},
		{"github, Forgejo's workflow folder", "github", `{"repository":"o/r","workflow_ref":{"file":"p.yml"}}`, is.github,
			gh("o/r", "o/r/.forgejo/workflows/p.yml@refs/heads/main", ""), true},
		{"gitlab", "gitlab", `{"project_path":"g/s/p","ci_config_ref_uri":{"file":".gitlab-ci.yml"}}`, is.gitlab,
			map[string]any{"project_path": "g/s/p", "ci_config_ref_uri": "gitlab.test/g/s/p//.gitlab-ci.yml@refs/heads/main"}, true},
		{"gitlab, another project", "gitlab", `{"project_path":"g/s/p","ci_config_ref_uri":{"file":".gitlab-ci.yml"}}`, is.gitlab,
			map[string]any{"project_path": "g/other", "ci_config_ref_uri": "gitlab.test/g/other//.gitlab-ci.yml@refs/heads/main"}, false},
		{"gitlab, the file of another project", "gitlab", `{"project_path":"g/s/p","ci_config_ref_uri":{"file":".gitlab-ci.yml"}}`, is.gitlab,
			map[string]any{"project_path": "g/s/p", "ci_config_ref_uri": "gitlab.test/evil/x//.gitlab-ci.yml@refs/heads/main"}, false},
		{"gitlab, another file", "gitlab", `{"project_path":"g/s/p","ci_config_ref_uri":{"file":".gitlab-ci.yml"}}`, is.gitlab,
			map[string]any{"project_path": "g/s/p", "ci_config_ref_uri": "gitlab.test/g/s/p//release.yml@refs/heads/main"}, false},
		{"gitlab, environment", "gitlab", `{"project_path":"g/p","ci_config_ref_uri":{"file":"c.yml"},"environment":"prod"}`, is.gitlab,
			map[string]any{"project_path": "g/p", "ci_config_ref_uri": "gitlab.test/g/p//c.yml@refs/heads/main", "environment": "prod"}, true},
		{"gitlab, another environment", "gitlab", `{"project_path":"g/p","ci_config_ref_uri":{"file":"c.yml"},"environment":"prod"}`, is.gitlab,
			map[string]any{"project_path": "g/p", "ci_config_ref_uri": "gitlab.test/g/p//c.yml@refs/heads/main", "environment": "dev"}, false},
		{"circleci", "circleci", circleConfig, is.circleci, circle(nil), true},
		{"circleci, another project", "circleci", circleConfig, is.circleci,
			circle(func(c map[string]any) { c["oidc.circleci.com/project-id"] = ctx1 }), false},
		{"circleci, another pipeline", "circleci", circleConfig, is.circleci,
			circle(func(c map[string]any) { c["oidc.circleci.com/pipeline-definition-id"] = ctx1 }), false},
		{"circleci, another origin", "circleci", circleConfig, is.circleci,
			circle(func(c map[string]any) { c["oidc.circleci.com/vcs-origin"] = "github.com/o/fork" }), false},
		{"circleci, without the context", "circleci", circleConfig, is.circleci,
			circle(func(c map[string]any) { c["oidc.circleci.com/context-ids"] = []string{ctx1} }), false},
		{"generic, mapped claims", "github", `{"repository":"o/r","workflow_ref":{"file":"ci.yml"},"environment":"prod"}`, is.generic,
			map[string]any{"repo": "o/r", "pipeline": "o/r/ci.yml@main", "stage": "prod"}, true},
		{"generic, another repository", "github", `{"repository":"o/r","workflow_ref":{"file":"ci.yml"}}`, is.generic,
			map[string]any{"repo": "o/x", "pipeline": "o/x/ci.yml@main"}, false},
		{"generic, the claim of another name", "github", `{"repository":"o/r","workflow_ref":{"file":"ci.yml"}}`, is.generic,
			map[string]any{"repository": "o/r", "workflow_ref": "o/r/ci.yml@main"}, false},
		{"generic, another environment", "github", `{"repository":"o/r","workflow_ref":{"file":"ci.yml"},"environment":"prod"}`, is.generic,
			map[string]any{"repo": "o/r", "pipeline": "o/r/ci.yml@main", "stage": "dev"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseClaims(tt.typ, rawClaims(t, tt.config))
			if err != nil {
				t.Fatal(err)
			}
			ok, why := c.match(is.identity(t, tt.from, tt.claims))
			if ok != tt.want {
				t.Fatalf("match = %v (%s), want %v", ok, why, tt.want)
			}
			if !ok && why == "" {
				t.Fatal("a refusal without a reason for the log")
			}
		})
	}
}
