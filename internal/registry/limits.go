package registry

import (
	"encoding/json"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// Bounds on the counts a client chooses, so that one request cannot make
// the registry write (and rebuild into every packument) without limit. npm
// sends one dist-tag with a publish, a handful of keywords, and an owners
// list of the package's few maintainers plus or minus one.
const (
	// MaxPublishTags bounds the dist-tags one publish sets.
	MaxPublishTags = 10
	// MaxDistTags bounds a package's dist-tags.
	MaxDistTags = 100
	// MaxMaintainers bounds a package's owners, and the names an owners
	// update may send.
	MaxMaintainers = 100
	// MaxKeywords bounds the keywords of a published version.
	MaxKeywords = 100
)

// checkTagCount refuses a change that leaves a package with more than
// MaxDistTags dist-tags: existing ones and those set.
func checkTagCount(name string, existing, set map[string]string) error {
	n := len(existing)
	for tag := range set {
		if _, ok := existing[tag]; !ok {
			n++
		}
	}
	if n > MaxDistTags {
		return fault.Invalidf("%s would have %d dist-tags; a package may have at most %d (remove some with npm dist-tag rm)", name, n, MaxDistTags)
	}
	return nil
}

// checkKeywords refuses a manifest whose keywords list is longer than
// MaxKeywords. A keywords field of another type is left to clients, as
// before.
func checkKeywords(version string, raw json.RawMessage) error {
	var kw []json.RawMessage
	if raw == nil || json.Unmarshal(raw, &kw) != nil {
		return nil
	}
	if len(kw) > MaxKeywords {
		return fault.Invalidf("version %s has %d keywords; at most %d are accepted", version, len(kw), MaxKeywords)
	}
	return nil
}
