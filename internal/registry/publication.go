package registry

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// PublishDocument is the body npm sends to PUT /:package: a packument with one
// new version and its tarball attached, or (without attachments) a changed
// packument for deprecation, unpublishing or owners.
type PublishDocument struct {
	ID          string                     `json:"_id"`
	Rev         string                     `json:"_rev"`
	Name        string                     `json:"name"`
	DistTags    map[string]string          `json:"dist-tags"`
	Versions    map[string]json.RawMessage `json:"versions"`
	Access      *string                    `json:"access"`
	Attachments map[string]Attachment      `json:"_attachments"`
	Maintainers []Maintainer               `json:"maintainers"`
}

// Attachment is a base64 tarball inside a publish document.
type Attachment struct {
	ContentType string `json:"content_type"`
	Data        string `json:"data"`
	Length      *int64 `json:"length"`
}

// Maintainer names an owner in a packument.
type Maintainer struct {
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
}

// parseManifest checks a version document from a publish and returns it with
// what the tarball must match.
func parseManifest(name, version string, raw json.RawMessage) (map[string]json.RawMessage, TarballCheck, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, TarballCheck{}, fault.Invalidf("version %s is not a JSON object", version)
	}
	var head struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		Dist    struct {
			Shasum    string `json:"shasum"`
			Integrity string `json:"integrity"`
		} `json:"dist"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, TarballCheck{}, fault.Invalidf("version %s has fields of the wrong type: %v", version, jsonProblem(err))
	}
	if head.Name != name {
		return nil, TarballCheck{}, fault.Invalidf("the name in version %s (%q) does not match the package (%q)", version, head.Name, name)
	}
	if head.Version != version {
		return nil, TarballCheck{}, fault.Invalidf("the version field (%q) does not match the version key (%q)", head.Version, version)
	}
	if head.Dist.Shasum == "" && head.Dist.Integrity == "" {
		return nil, TarballCheck{}, fault.Invalidf("version %s has no dist.shasum or dist.integrity", version)
	}
	// Keys starting with "_" are npm's bookkeeping; keep only the ones clients read.
	for k := range m {
		if strings.HasPrefix(k, "_") && k != "_hasShrinkwrap" && k != "_nodeVersion" && k != "_npmVersion" {
			delete(m, k)
		}
	}
	return m, TarballCheck{Name: name, Version: version, Shasum: head.Dist.Shasum, Integrity: head.Dist.Integrity}, nil
}

func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if e, ok := err.(*json.UnmarshalTypeError); ok {
		te = e
		return fmt.Sprintf("%s must be %s", te.Field, te.Type)
	}
	return "malformed JSON"
}
