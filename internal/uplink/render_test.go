package uplink

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// renderByMaps is how Render wrote a packument before it wrote its objects
// itself: every object a map, encoded by encoding/json (keys sorted, raw
// values compacted) at each level. Render must write the same bytes.
func renderByMaps(t testing.TB, p *Packument, u *Uplink, abbreviated bool, link func(string) string) []byte {
	t.Helper()
	versions := map[string]json.RawMessage{}
	for v, raw := range p.versions {
		if u.Allowed(p.name, v, p.times[v], now) != nil {
			continue
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		if abbreviated {
			kept := map[string]json.RawMessage{}
			for _, k := range abbreviatedFields {
				if x, ok := m[k]; ok {
					kept[k] = x
				}
			}
			m = kept
		}
		dist := map[string]json.RawMessage{}
		if raw, ok := m["dist"]; ok {
			if err := json.Unmarshal(raw, &dist); err != nil {
				t.Fatal(err)
			}
		}
		dist["tarball"] = mustJSON(link(v))
		m["dist"] = mustJSON(dist)
		versions[v] = mustJSON(m)
	}
	top := map[string]json.RawMessage{}
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
	}
	visible := map[string]bool{}
	for v := range versions {
		visible[v] = true
	}
	top["dist-tags"] = mustJSON(visibleTags(p.tags, visible))
	top["versions"] = mustJSON(versions)
	return mustJSON(top)
}

// awkward is a packument written the way some registries write them:
// indented, with keys that must be escaped, non-ASCII text, HTML
// characters and nested objects in versions.
const awkward = `{
  "name": "awkward",
  "modified": "2026-01-02T03:04:05.000Z",
  "dist-tags": { "latest": "1.1.0", "next": "2.0.0-rc.1" },
  "description": "a <b>bold</b> & \u00e9l\u00e8ve package \u2028 with a line separator",
  "x-\"quoted\"\\key": { "nested": [1, 2, { "deep": true }] },
  "clé": "valeur",
  "time": { "1.0.0": "2026-01-01T00:00:00.000Z", "1.1.0": "2026-01-02T00:00:00.000Z", "2.0.0-rc.1": "2026-01-03T00:00:00.000Z" },
  "versions": {
    "1.0.0": { "name": "awkward", "version": "1.0.0", "dependencies": { "a": "^1" },
      "dist": { "integrity": "sha512-AAAA", "shasum": "00", "tarball": "https://up.example/awkward/-/awkward-1.0.0.tgz",
        "signatures": [ { "keyid": "k", "sig": "s<>&" } ] }, "readme": "# hi <script>" },
    "1.1.0": { "name": "awkward", "version": "1.1.0", "engines": { "node": ">=18" }, "_hasShrinkwrap": false,
      "dist": { "integrity": "sha512-BBBB", "tarball": "https://up.example/awkward/-/awkward-1.1.0.tgz" } },
    "2.0.0-rc.1": { "name": "awkward", "version": "2.0.0-rc.1", "deprecated": "use \"1.1.0\"",
      "dist": { "shasum": "11", "tarball": "https://elsewhere.example/x.tgz", "fileCount": 3 } }
  }
}`

// TestRenderSameBytesAsMaps: Render writes byte for byte what encoding
// maps with encoding/json wrote, full and abbreviated, on awkward input and
// on the generated packuments of the other tests, so the ETags of cached
// documents do not change with it.
func TestRenderSameBytesAsMaps(t *testing.T) {
	docs := map[string][]byte{
		"awkward": []byte(awkward),
		"express": doc(t, "express", "https://evil.example", map[string]string{"latest": "1.1.0"}, map[string]float64{"1.0.0": 10, "1.1.0": 5}),
	}
	for name, body := range docs {
		p, err := Parse(body, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, abbreviated := range []bool{false, true} {
			u := gated(t, 0)
			r, err := p.Render(u, abbreviated, now, link(name))
			if err != nil {
				t.Fatal(err)
			}
			if want := renderByMaps(t, p, u, abbreviated, link(name)); !bytes.Equal(r.Body, want) {
				t.Errorf("%s, abbreviated=%v:\n got %s\nwant %s", name, abbreviated, r.Body, want)
			}
		}
	}
}

// bigPackument is a packument of n versions shaped like bench/run.sh's hot
// package: dependencies, a README of a few KB per version, full dist.
func bigPackument(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"name":"big","modified":"2026-01-02T03:04:05.000Z","dist-tags":{"latest":"1.0.0"},"time":{`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"1.%d.%d":"2026-01-01T00:00:00.000Z"`, i/10, i%10)
	}
	b.WriteString(`},"versions":{`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		v := fmt.Sprintf("1.%d.%d", i/10, i%10)
		fmt.Fprintf(&b, `%q:{"name":"big","version":%q,"description":"a package","main":"index.js","license":"MIT",`+
			`"dependencies":{"dep-one":"^1.0.0","dep-two":"^1.0.0"},"engines":{"node":">=18"},"readme":%q,`+
			`"dist":{"integrity":"sha512-%s","shasum":"%040d","tarball":"https://up.example/big/-/big-%s.tgz","fileCount":4,"unpackedSize":6400}}`,
			v, v, strings.Repeat("Some README text. ", 200), strings.Repeat("A", 86)+"==", i, v)
	}
	b.WriteString(`}}`)
	return []byte(b.String())
}

// BenchmarkRender renders a 100-version packument, full and abbreviated,
// as Render does it and as encoding maps did it.
func BenchmarkRender(b *testing.B) {
	p, err := Parse(bigPackument(100), "big")
	if err != nil {
		b.Fatal(err)
	}
	u, err := New(NewSpec("up", "https://registry.example.com"), Secrets{Getenv: func(string) string { return "" }})
	if err != nil {
		b.Fatal(err)
	}
	for _, abbreviated := range []bool{true, false} {
		kind := map[bool]string{true: "abbreviated", false: "full"}[abbreviated]
		b.Run(kind+"/render", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Render(u, abbreviated, now, link("big")); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(kind+"/maps", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				renderByMaps(b, p, u, abbreviated, link("big"))
			}
		})
	}
}
