package trust

import (
	"encoding/json"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/idtoken"
)

// The types of trust configuration npm trust makes, and the generic one.
const (
	TypeGitHub   = "github"
	TypeGitLab   = "gitlab"
	TypeCircleCI = "circleci"
)

// The claims of a CircleCI trust configuration (and of CircleCI's tokens).
const (
	circleOrg       = "oidc.circleci.com/org-id"
	circleProject   = "oidc.circleci.com/project-id"
	circlePipeline  = "oidc.circleci.com/pipeline-definition-id"
	circleVCSOrigin = "oidc.circleci.com/vcs-origin"
	circleContexts  = "oidc.circleci.com/context-ids"
)

// Limits on a trust configuration's values.
const (
	maxValueLen = 256
	maxContexts = 50
)

// Claims are a trust configuration's claims, checked and normalised: what
// a CI job's token must show. Entity is the repository (GitHub) or project
// path (GitLab); File the workflow or pipeline file; Environment, when set,
// the deployment environment; the CircleCI fields are CircleCI's ids.
type Claims struct {
	Entity      string
	File        string
	Environment string

	OrgID, ProjectID, PipelineID, VCSOrigin string
	ContextIDs                              []string
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// parseClaims checks the claims object of a trust configuration of type typ
// as npm trust sends it, refusing unknown keys.
func parseClaims(typ string, raw map[string]json.RawMessage) (Claims, error) {
	var c Claims
	str := func(key string, required bool) (string, error) {
		v, ok := raw[key]
		if !ok || string(v) == "null" {
			if required {
				return "", fault.Invalidf("claims.%s is required", key)
			}
			return "", nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", fault.Invalidf("claims.%s must be a string", key)
		}
		s = strings.TrimSpace(s)
		if s == "" && required {
			return "", fault.Invalidf("claims.%s is required", key)
		}
		if len(s) > maxValueLen || strings.ContainsAny(s, "\x00\n\r") {
			return "", fault.Invalidf("claims.%s is not a valid value", key)
		}
		return s, nil
	}
	file := func(key string) (string, error) {
		v, ok := raw[key]
		if !ok {
			return "", fault.Invalidf("claims.%s.file is required", key)
		}
		var obj struct {
			File string `json:"file"`
		}
		if err := json.Unmarshal(v, &obj); err != nil || obj.File == "" {
			return "", fault.Invalidf("claims.%s must be {\"file\": \"NAME.yml\"}", key)
		}
		f := obj.File
		if f != path.Base(f) || strings.ContainsAny(f, "\\@\x00\n") || len(f) > maxValueLen ||
			!(strings.HasSuffix(f, ".yml") || strings.HasSuffix(f, ".yaml")) {
			return "", fault.Invalidf("claims.%s.file must be a file name ending in .yml or .yaml, not a path", key)
		}
		return f, nil
	}
	allowed := func(keys ...string) error {
		for k := range raw {
			if !slices.Contains(keys, k) {
				return fault.Invalidf("claims.%s is not a claim of a %s trust configuration", k, typ)
			}
		}
		return nil
	}
	var err error
	switch typ {
	case TypeGitHub:
		if err = allowed("repository", "workflow_ref", "environment"); err != nil {
			return c, err
		}
		if c.Entity, err = str("repository", true); err != nil {
			return c, err
		}
		if parts := strings.Split(c.Entity, "/"); len(parts) != 2 || parts[0] == "" || parts[1] == "" {
			return c, fault.Invalidf("claims.repository must be owner/repository")
		}
		if c.File, err = file("workflow_ref"); err != nil {
			return c, err
		}
		c.Environment, err = str("environment", false)
	case TypeGitLab:
		if err = allowed("project_path", "ci_config_ref_uri", "environment"); err != nil {
			return c, err
		}
		if c.Entity, err = str("project_path", true); err != nil {
			return c, err
		}
		parts := strings.Split(c.Entity, "/")
		if len(parts) < 2 || slices.Contains(parts, "") {
			return c, fault.Invalidf("claims.project_path must be group/project or group/subgroup/project")
		}
		if c.File, err = file("ci_config_ref_uri"); err != nil {
			return c, err
		}
		c.Environment, err = str("environment", false)
	case TypeCircleCI:
		if err = allowed(circleOrg, circleProject, circlePipeline, circleVCSOrigin, circleContexts); err != nil {
			return c, err
		}
		for _, f := range []struct {
			key string
			dst *string
		}{{circleOrg, &c.OrgID}, {circleProject, &c.ProjectID}, {circlePipeline, &c.PipelineID}} {
			if *f.dst, err = str(f.key, true); err != nil {
				return c, err
			}
			if !uuidPattern.MatchString(*f.dst) {
				return c, fault.Invalidf("claims.%s must be a UUID", f.key)
			}
			*f.dst = strings.ToLower(*f.dst)
		}
		if c.VCSOrigin, err = str(circleVCSOrigin, true); err != nil {
			return c, err
		}
		if strings.Contains(c.VCSOrigin, "://") || len(strings.Split(c.VCSOrigin, "/")) < 3 {
			return c, fault.Invalidf("claims.%s must be provider/owner/repository, without a scheme", circleVCSOrigin)
		}
		if v, ok := raw[circleContexts]; ok && string(v) != "null" {
			if err := json.Unmarshal(v, &c.ContextIDs); err != nil {
				return c, fault.Invalidf("claims.%s must be a list of UUIDs", circleContexts)
			}
			if len(c.ContextIDs) > maxContexts {
				return c, fault.Invalidf("claims.%s holds at most %d ids", circleContexts, maxContexts)
			}
			for i, id := range c.ContextIDs {
				if !uuidPattern.MatchString(id) {
					return c, fault.Invalidf("claims.%s must be a list of UUIDs", circleContexts)
				}
				c.ContextIDs[i] = strings.ToLower(id)
			}
		}
	default:
		return c, fault.Invalidf("type must be github, gitlab or circleci, not %q", typ)
	}
	return c, err
}

// document is the claims object as npm trust sent it and renders it.
func (c Claims) document(typ string) map[string]any {
	switch typ {
	case TypeGitHub, TypeGitLab:
		entity, file := "repository", "workflow_ref"
		if typ == TypeGitLab {
			entity, file = "project_path", "ci_config_ref_uri"
		}
		d := map[string]any{entity: c.Entity, file: map[string]string{"file": c.File}}
		if c.Environment != "" {
			d["environment"] = c.Environment
		}
		return d
	}
	d := map[string]any{circleOrg: c.OrgID, circleProject: c.ProjectID, circlePipeline: c.PipelineID, circleVCSOrigin: c.VCSOrigin}
	if len(c.ContextIDs) > 0 {
		d[circleContexts] = c.ContextIDs
	}
	return d
}

// match reports whether the verified identity id satisfies the claims c of
// a configuration bound to id's issuer, and if not, why (for the log).
func (c Claims) match(id idtoken.Identity) (bool, string) {
	claim := func(name string) string { s, _ := id.String(name); return s }
	switch id.Issuer.Kind {
	case idtoken.GitHub:
		// workflow_ref is OWNER/REPO/.github/workflows/FILE@REF (Gitea and
		// Forgejo use .gitea or .forgejo), of the calling workflow for a
		// reusable one: the file must be in the configured repository.
		if claim("repository") != c.Entity {
			return false, "repository " + claim("repository")
		}
		wf, _, _ := strings.Cut(claim("workflow_ref"), "@")
		if !strings.HasPrefix(wf, c.Entity+"/") || path.Base(wf) != c.File {
			return false, "workflow_ref " + claim("workflow_ref")
		}
		return c.environmentMatches(claim("environment"))
	case idtoken.GitLab:
		// ci_config_ref_uri is HOST/GROUP/PROJECT//FILE@REF.
		if claim("project_path") != c.Entity {
			return false, "project_path " + claim("project_path")
		}
		where, rest, ok := strings.Cut(claim("ci_config_ref_uri"), "//")
		file := rest
		if i := strings.LastIndex(rest, "@"); i >= 0 {
			file = rest[:i]
		}
		if !ok || !strings.HasSuffix(where, "/"+c.Entity) || file != c.File {
			return false, "ci_config_ref_uri " + claim("ci_config_ref_uri")
		}
		return c.environmentMatches(claim("environment"))
	case idtoken.CircleCI:
		for _, f := range []struct{ name, want string }{
			{circleOrg, c.OrgID}, {circleProject, c.ProjectID}, {circlePipeline, c.PipelineID}, {circleVCSOrigin, c.VCSOrigin},
		} {
			got := claim(f.name)
			if f.name != circleVCSOrigin {
				got = strings.ToLower(got)
			}
			if got != f.want {
				return false, f.name + " " + claim(f.name)
			}
		}
		have, _ := id.Strings(circleContexts)
		for _, want := range c.ContextIDs {
			if !slices.ContainsFunc(have, func(h string) bool { return strings.EqualFold(h, want) }) {
				return false, "context " + want + " not in the job's contexts"
			}
		}
		return true, ""
	case idtoken.Generic:
		m := id.Issuer.Claims
		if claim(m[idtoken.FieldRepository]) != c.Entity {
			return false, m[idtoken.FieldRepository] + " " + claim(m[idtoken.FieldRepository])
		}
		f, _, _ := strings.Cut(claim(m[idtoken.FieldFile]), "@")
		if path.Base(f) != c.File || f == "" {
			return false, m[idtoken.FieldFile] + " " + claim(m[idtoken.FieldFile])
		}
		if c.Environment == "" {
			return true, ""
		}
		if m[idtoken.FieldEnvironment] == "" {
			return false, "the configuration names an environment and the issuer maps no environment claim"
		}
		return c.environmentMatches(claim(m[idtoken.FieldEnvironment]))
	}
	return false, "issuer of kind " + string(id.Issuer.Kind)
}

func (c Claims) environmentMatches(env string) (bool, string) {
	if c.Environment != "" && env != c.Environment {
		return false, "environment " + env
	}
	return true, ""
}

// kindsFor are the issuer kinds a configuration of type typ can be bound to:
// its own, and generic issuers for the repository-and-file types.
func kindsFor(typ string) []idtoken.Kind {
	switch typ {
	case TypeGitHub:
		return []idtoken.Kind{idtoken.GitHub, idtoken.Generic}
	case TypeGitLab:
		return []idtoken.Kind{idtoken.GitLab, idtoken.Generic}
	case TypeCircleCI:
		return []idtoken.Kind{idtoken.CircleCI}
	}
	return nil
}
