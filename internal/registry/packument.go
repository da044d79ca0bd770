package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// BasePlaceholder stands for the registry's public base URL inside stored
// documents (tarball links). Readers replace it with the configured URL, or
// with the URL the request came to, so a stored packument serves any host.
const BasePlaceholder = "@@GATEHOUSE_BASE@@"

// docFormat changes whenever the documents' shape changes, so ETags from an
// older build are never taken for the new bytes.
const docFormat = "1"

// abbreviatedFields are the version fields the abbreviated ("corgi") packument
// keeps: what an installer needs, nothing else.
var abbreviatedFields = []string{
	"name", "version", "deprecated", "dependencies", "optionalDependencies", "devDependencies",
	"bundleDependencies", "bundledDependencies", "peerDependencies", "peerDependenciesMeta",
	"acceptDependencies", "bin", "directories", "engines", "dist", "_hasShrinkwrap", "hasInstallScript",
	"os", "cpu", "libc", "funding", "license",
}

// topLevelFromLatest are copied from the latest version to the top of the full packument.
var topLevelFromLatest = []string{"description", "homepage", "keywords", "repository", "author", "bugs", "license", "readmeFilename"}

// documents builds a package's full and abbreviated packuments from its rows.
type documents struct {
	full, abbreviated []byte
	description       string
	keywords          string
}

type builtVersion struct {
	version  *semver.Version
	raw      string
	manifest map[string]json.RawMessage
	time     int64
}

func buildDocuments(pkg store.Package, versions []store.Version, tags map[string]string, owners []store.Owner) (documents, error) {
	vs := make([]builtVersion, 0, len(versions))
	for _, v := range versions {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(v.Manifest, &m); err != nil {
			return documents{}, fmt.Errorf("decode manifest %s@%s: %w", pkg.Name, v.Version, err)
		}
		sv, err := semver.StrictNewVersion(v.Version)
		if err != nil {
			return documents{}, fmt.Errorf("stored version %s@%s: %w", pkg.Name, v.Version, err)
		}
		vs = append(vs, builtVersion{version: sv, raw: v.Version, manifest: m, time: v.PublishedAt})
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].version.LessThan(vs[j].version) })

	rev := revString(pkg)
	modified := isoTime(pkg.ModifiedAt)

	var latest map[string]json.RawMessage
	if lv, ok := tags["latest"]; ok {
		for _, v := range vs {
			if v.raw == lv {
				latest = v.manifest
			}
		}
	}
	if latest == nil && len(vs) > 0 {
		latest = vs[len(vs)-1].manifest
	}

	var full, abbr bytes.Buffer
	// Full packument.
	full.WriteString(`{"_id":`)
	writeJSON(&full, pkg.Name)
	full.WriteString(`,"_rev":`)
	writeJSON(&full, rev)
	full.WriteString(`,"name":`)
	writeJSON(&full, pkg.Name)
	full.WriteString(`,"dist-tags":`)
	writeJSON(&full, tags)
	full.WriteString(`,"versions":`)
	writeVersions(&full, vs, func(m map[string]json.RawMessage) map[string]json.RawMessage {
		return withoutKeys(m, "readme")
	})
	full.WriteString(`,"time":{"created":`)
	writeJSON(&full, isoTime(pkg.CreatedAt))
	full.WriteString(`,"modified":`)
	writeJSON(&full, modified)
	for _, v := range vs {
		full.WriteByte(',')
		writeJSON(&full, v.raw)
		full.WriteByte(':')
		writeJSON(&full, isoTime(v.time))
	}
	full.WriteString(`},"maintainers":[`)
	for i, o := range owners {
		if i > 0 {
			full.WriteByte(',')
		}
		writeJSON(&full, map[string]string{"name": o.Name, "email": o.Email})
	}
	full.WriteByte(']')
	readme := ""
	if latest != nil {
		_ = json.Unmarshal(latest["readme"], &readme)
		for _, k := range topLevelFromLatest {
			if raw, ok := latest[k]; ok {
				full.WriteByte(',')
				writeJSON(&full, k)
				full.WriteByte(':')
				full.Write(raw)
			}
		}
	}
	full.WriteString(`,"readme":`)
	writeJSON(&full, readme)
	full.WriteByte('}')

	// Abbreviated packument.
	abbr.WriteString(`{"name":`)
	writeJSON(&abbr, pkg.Name)
	abbr.WriteString(`,"modified":`)
	writeJSON(&abbr, modified)
	abbr.WriteString(`,"dist-tags":`)
	writeJSON(&abbr, tags)
	abbr.WriteString(`,"versions":`)
	writeVersions(&abbr, vs, func(m map[string]json.RawMessage) map[string]json.RawMessage {
		return onlyKeys(m, abbreviatedFields)
	})
	abbr.WriteByte('}')

	d := documents{full: full.Bytes(), abbreviated: abbr.Bytes()}
	if latest != nil {
		_ = json.Unmarshal(latest["description"], &d.description)
		var kw []string
		if json.Unmarshal(latest["keywords"], &kw) == nil {
			d.keywords = strings.ToLower(strings.Join(kw, " "))
		}
	}
	return d, nil
}

// revString is the package's CouchDB-style revision: the change counter, then
// a tag that differs between two incarnations of one name.
func revString(p store.Package) string {
	return fmt.Sprintf("%d-%012x", p.Rev, p.ID<<20^p.CreatedAt)
}

func isoTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
}

// writeVersions writes the "versions" object of a packument: each of vs,
// in order, keyed by its version, with the manifest doc makes of it.
func writeVersions(b *bytes.Buffer, vs []builtVersion, doc func(map[string]json.RawMessage) map[string]json.RawMessage) {
	b.WriteByte('{')
	for i, v := range vs {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSON(b, v.raw)
		b.WriteByte(':')
		writeJSON(b, doc(v.manifest))
	}
	b.WriteByte('}')
}

// writeJSON encodes v without HTML escaping (npm documents carry <, > and &).
func writeJSON(b *bytes.Buffer, v any) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only values built here reach this point; they always encode.
		panic(fmt.Sprintf("registry: encode %T: %v", v, err))
	}
	b.Truncate(b.Len() - 1) // Encode's newline
}

func withoutKeys(m map[string]json.RawMessage, keys ...string) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		out[k] = v
	}
	for _, k := range keys {
		delete(out, k)
	}
	return out
}

func onlyKeys(m map[string]json.RawMessage, keys []string) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(keys))
	for _, k := range keys {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	return out
}

// fillBase replaces BasePlaceholder in a stored document with base, escaped
// for a JSON string.
func fillBase(body []byte, base string) []byte {
	enc, _ := json.Marshal(base)
	return bytes.ReplaceAll(body, []byte(BasePlaceholder), enc[1:len(enc)-1])
}
