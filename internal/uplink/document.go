package uplink

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
)

// MaxDepth bounds how deeply the JSON of a packument from an uplink may
// nest. Real packuments nest a few levels (versions, a version, its
// dependencies, a config object); a document nested deeper is refused
// before it is decoded.
const MaxDepth = 64

// abbreviatedFields are the version fields an abbreviated packument keeps,
// as npm's own abbreviated documents do (and gatehouse's for local packages).
var abbreviatedFields = []string{
	"name", "version", "deprecated", "dependencies", "optionalDependencies", "devDependencies",
	"bundleDependencies", "bundledDependencies", "peerDependencies", "peerDependenciesMeta",
	"acceptDependencies", "bin", "directories", "engines", "dist", "_hasShrinkwrap", "hasInstallScript",
	"os", "cpu", "libc", "funding", "license",
}

// Packument is a packument from an uplink, checked: valid JSON, not nested
// too deeply, an object naming the package asked for, with versions that
// are objects. It keeps every field as the uplink wrote it.
type Packument struct {
	name     string
	top      map[string]json.RawMessage
	versions map[string]json.RawMessage
	tags     map[string]string
	times    map[string]time.Time
}

// Parse checks body, a packument an uplink sent for name, and decodes what
// serving it needs. Versions whose key cannot be a version (empty, with a
// slash or a space) are dropped, as are dist-tags that are not strings.
func Parse(body []byte, name string) (*Packument, error) {
	if err := checkDepth(body, MaxDepth); err != nil {
		return nil, err
	}
	p := &Packument{name: name}
	if err := json.Unmarshal(body, &p.top); err != nil || p.top == nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return nil, errors.New("it is not valid JSON")
		}
		return nil, errors.New("it is not a JSON object")
	}
	var got string
	if err := json.Unmarshal(p.top["name"], &got); err != nil || got != name {
		return nil, fmt.Errorf("it names the package %s, not %s", clip(got), name)
	}
	if raw, ok := p.top["versions"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &p.versions); err != nil {
			return nil, errors.New("its versions are not an object")
		}
	}
	for v, raw := range p.versions {
		if !versionKey(v) {
			delete(p.versions, v)
			continue
		}
		if len(raw) == 0 || raw[0] != '{' {
			return nil, fmt.Errorf("its version %s is not an object", clip(v))
		}
	}
	var tags map[string]json.RawMessage
	if raw, ok := p.top["dist-tags"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &tags); err != nil {
			return nil, errors.New("its dist-tags are not an object")
		}
	}
	p.tags = make(map[string]string, len(tags))
	for tag, raw := range tags {
		var v string
		if json.Unmarshal(raw, &v) == nil && v != "" {
			p.tags[tag] = v
		}
	}
	var times map[string]json.RawMessage
	if raw, ok := p.top["time"]; ok {
		_ = json.Unmarshal(raw, &times) // a malformed time map is as good as none
	}
	p.times = make(map[string]time.Time, len(times))
	for v, raw := range times {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			continue
		}
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			p.times[v] = t
		}
	}
	return p, nil
}

// versionKey reports whether s can name a version in a tarball path.
func versionKey(s string) bool {
	return s != "" && len(s) <= 256 && s != "." && s != ".." && !strings.ContainsAny(s, "/\\ \t\r\n?#%")
}

// checkDepth refuses JSON nested more than max levels deep, and input that
// ends inside a string or with brackets left open. It does not validate
// the rest: json.Unmarshal does.
func checkDepth(body []byte, max int) error {
	depth := 0
	inString, escaped := false, false
	for _, c := range body {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > max {
				return fmt.Errorf("it nests deeper than %d levels", max)
			}
		case c == '}' || c == ']':
			depth--
			if depth < 0 {
				return errors.New("it is not valid JSON")
			}
		}
	}
	if inString || depth != 0 {
		return errors.New("it is not valid JSON")
	}
	return nil
}

// Name is the package's name.
func (p *Packument) Name() string { return p.name }

// Versions returns the versions the packument lists, in no order.
func (p *Packument) Versions() []string {
	out := make([]string, 0, len(p.versions))
	for v := range p.versions {
		out = append(out, v)
	}
	return out
}

// Published is when the packument says version was published; zero when
// it does not say (abbreviated packuments never do).
func (p *Packument) Published(version string) time.Time { return p.times[version] }

// Dist is what a version's dist says of its tarball.
type Dist struct {
	// Tarball is the link the uplink gave.
	Tarball string
	// Integrity is the Subresource Integrity string, Shasum the hex SHA-1;
	// at least one is set.
	Integrity, Shasum string
}

// Dist returns version's dist. It is not ok when the packument has no such
// version, or the version gives neither an integrity nor a shasum (its
// tarball could not be verified).
func (p *Packument) Dist(version string) (Dist, bool) {
	raw, ok := p.versions[version]
	if !ok {
		return Dist{}, false
	}
	var m struct {
		Dist struct {
			Tarball   string `json:"tarball"`
			Integrity string `json:"integrity"`
			Shasum    string `json:"shasum"`
		} `json:"dist"`
	}
	if json.Unmarshal(raw, &m) != nil {
		return Dist{}, false
	}
	d := Dist{Tarball: m.Dist.Tarball, Integrity: strings.TrimSpace(m.Dist.Integrity), Shasum: strings.TrimSpace(m.Dist.Shasum)}
	return d, d.Integrity != "" || d.Shasum != ""
}

// Rendered is a packument as gatehouse serves it.
type Rendered struct {
	Body []byte
	// Until is when the gates' verdict on some version changes (a version
	// held back by the minimum release age comes of age), so the body must
	// be rendered again; zero when only a change of the packument would.
	Until time.Time
	// Hidden counts the versions the gates held back.
	Hidden int
}

// Render returns the packument as gatehouse serves it, full or abbreviated:
// the versions u's gates refuse at now are gone (from versions, time and
// the dist-tags: latest moves to the newest version left, other tags
// pointing at a hidden version go), and every version's dist.tarball is
// link(version), gatehouse's own URL. Everything else, dist.integrity,
// dist.signatures and dist.attestations among it, stays as the uplink
// wrote it. The abbreviated form keeps the fields installers read.
func (p *Packument) Render(u *Uplink, abbreviated bool, now time.Time, link func(version string) string) (Rendered, error) {
	var r Rendered
	visible := make(map[string]bool, len(p.versions))
	for v := range p.versions {
		published := p.times[v]
		if u.Allowed(p.name, v, published, now) != nil {
			r.Hidden++
			if from := u.allowedFrom(p.name, v, published, now); !from.IsZero() && (r.Until.IsZero() || from.Before(r.Until)) {
				r.Until = from
			}
			continue
		}
		visible[v] = true
	}

	// The document is written with its keys sorted and compacted once at
	// the end, as encoding/json would write it from maps, without the
	// passes over every version that encoding maps of raw values makes.
	versions := make(map[string]json.RawMessage, len(visible))
	for v := range visible {
		out, err := renderVersion(p.versions[v], link(v), abbreviated)
		if err != nil {
			return Rendered{}, fmt.Errorf("version %s: %w", clip(v), err)
		}
		versions[v] = out
	}
	tags := visibleTags(p.tags, visible)

	top := make(map[string]json.RawMessage, len(p.top))
	if abbreviated {
		top["name"] = p.top["name"]
		if m, ok := p.top["modified"]; ok {
			top["modified"] = m
		} else if t, ok := p.times["modified"]; ok {
			top["modified"] = mustJSON(t.UTC().Format("2006-01-02T15:04:05.000Z"))
		}
	} else {
		for k, v := range p.top {
			top[k] = v
		}
		delete(top, "_attachments")
		if raw, ok := p.top["time"]; ok && r.Hidden > 0 {
			var times map[string]json.RawMessage
			if json.Unmarshal(raw, &times) == nil {
				for v := range p.versions {
					if !visible[v] {
						delete(times, v)
					}
				}
				top["time"] = mustJSON(times)
			}
		}
	}
	top["dist-tags"] = mustJSON(tags)
	size := 0
	for _, v := range versions {
		size += len(v) + 32
	}
	top["versions"] = appendObject(make([]byte, 0, size), versions)
	size = 0
	for _, v := range top {
		size += len(v) + 16
	}
	body := bytes.NewBuffer(make([]byte, 0, size))
	if err := json.Compact(body, appendObject(make([]byte, 0, size), top)); err != nil {
		return Rendered{}, fmt.Errorf("encode packument: %w", err)
	}
	r.Body = body.Bytes()
	return r, nil
}

// appendObject appends to b the JSON object of fields, keys sorted as
// encoding/json sorts a map's, values as they are (not compacted).
func appendObject(b []byte, fields map[string]json.RawMessage) []byte {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendKey(b, k)
		b = append(b, ':')
		b = append(b, fields[k]...)
	}
	return append(b, '}')
}

// appendKey appends k as a JSON string, as encoding/json writes it without
// escaping HTML.
func appendKey(b []byte, k string) []byte {
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			return append(b, mustJSON(k)...) // escapes, and what encoding/json does to non-ASCII
		}
	}
	b = append(b, '"')
	b = append(b, k...)
	return append(b, '"')
}

// renderVersion rewrites one version document: its dist.tarball becomes
// link, and the abbreviated form keeps only abbreviatedFields.
func renderVersion(raw json.RawMessage, link string, abbreviated bool) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, errors.New("not a JSON object")
	}
	if abbreviated {
		kept := make(map[string]json.RawMessage, len(abbreviatedFields))
		for _, k := range abbreviatedFields {
			if v, ok := m[k]; ok {
				kept[k] = v
			}
		}
		m = kept
	}
	var dist map[string]json.RawMessage
	if raw, ok := m["dist"]; ok {
		if err := json.Unmarshal(raw, &dist); err != nil {
			return nil, errors.New("its dist is not an object")
		}
	}
	if dist == nil {
		dist = map[string]json.RawMessage{}
	}
	dist["tarball"] = mustJSON(link)
	size := 2
	for k, v := range dist {
		size += len(k) + len(v) + 4
	}
	m["dist"] = appendObject(make([]byte, 0, size), dist)
	size = 2
	for k, v := range m {
		size += len(k) + len(v) + 4
	}
	return appendObject(make([]byte, 0, size), m), nil
}

// visibleTags keeps the dist-tags that point at a visible version. When
// latest pointed at a hidden one, it moves to the newest visible version
// not above it (a release before a prerelease), else to the newest visible
// release, else goes.
func visibleTags(tags map[string]string, visible map[string]bool) map[string]string {
	out := make(map[string]string, len(tags))
	for tag, v := range tags {
		if visible[v] {
			out[tag] = v
		}
	}
	old, had := tags["latest"]
	if !had || visible[old] {
		return out
	}
	ceiling, _ := semver.NewVersion(old)
	var sorted []*semver.Version
	raw := map[*semver.Version]string{}
	for v := range visible {
		sv, err := semver.NewVersion(v)
		if err != nil {
			continue
		}
		sorted = append(sorted, sv)
		raw[sv] = v
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[j].LessThan(sorted[i]) }) // newest first
	pick := func(ok func(*semver.Version) bool) bool {
		for _, sv := range sorted {
			if ok(sv) {
				out["latest"] = raw[sv]
				return true
			}
		}
		return false
	}
	below := func(sv *semver.Version) bool { return ceiling == nil || !sv.GreaterThan(ceiling) }
	release := func(sv *semver.Version) bool { return sv.Prerelease() == "" }
	_ = pick(func(sv *semver.Version) bool { return below(sv) && release(sv) }) ||
		pick(below) || pick(release)
	return out
}

// TarballURL is where the tarball of name@version is fetched from, given
// the link the uplink's packument gave: the link itself when it is on the
// uplink's own origin (scheme, host and port), and otherwise the uplink's
// own canonical location of it, so that a packument cannot send gatehouse,
// or the uplink's token, anywhere else.
func (u *Uplink) TarballURL(link, name, version string) string {
	if l, err := url.Parse(link); err == nil && l.User == nil && strings.EqualFold(l.Scheme, u.base.Scheme) &&
		strings.EqualFold(l.Host, u.base.Host) && l.Path != "" {
		l.Fragment, l.RawFragment = "", ""
		return l.String()
	}
	bare := name
	if i := strings.IndexByte(name, '/'); i >= 0 {
		bare = name[i+1:]
	}
	return u.base.String() + "/" + name + "/-/" + url.PathEscape(bare+"-"+version+".tgz")
}

// encode marshals v without escaping <, > and & (npm documents carry them).
func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode packument: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// mustJSON encodes a value built here, which always encodes.
func mustJSON(v any) json.RawMessage {
	b, err := encode(v)
	if err != nil {
		panic(fmt.Sprintf("uplink: encode %T: %v", v, err))
	}
	return b
}

// clip shortens what an uplink sent for an error message.
func clip(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return fmt.Sprintf("%q", s)
}
