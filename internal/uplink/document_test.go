package uplink

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// gated is an uplink with a minimum release age of days and deny rules.
func gated(t *testing.T, days int, deny ...Deny) *Uplink {
	t.Helper()
	s := NewSpec("up", "https://registry.example.com")
	s.MinReleaseAgeDays = days
	s.Deny = deny
	return mustNew(t, s)
}

func TestAllowed(t *testing.T) {
	u := gated(t, 3,
		Deny{Package: "event-stream@3.3.6", Reason: "compromised release"},
		Deny{Package: "@evil/pkg", Reason: "malware"},
		Deny{Package: "left-pad@<1.1.0 || >=2.0.0-0", Reason: "broken"},
		Deny{Package: "lib@*", Reason: "gone"},
	)
	old, young := now.Add(-4*24*time.Hour), now.Add(-2*24*time.Hour)
	tests := []struct {
		name, version string
		published     time.Time
		want          string // "" allowed, else a substring of the refusal
	}{
		{"express", "4.18.2", old, ""},
		{"express", "5.0.0", young, "held back by uplink up until 2026-06-02T12:00:00Z"},
		{"express", "5.0.0", time.Time{}, "publish time is unknown"},
		{"express", "5.0.0", now.Add(-3 * 24 * time.Hour), ""}, // exactly of age
		{"event-stream", "3.3.6", old, "denied by uplink up: compromised release"},
		{"event-stream", "3.3.5", old, ""},
		{"event-stream", "3.3.7", old, ""},
		{"@evil/pkg", "1.0.0", old, "malware"},
		{"@evil/pkg", "0.0.1-security", old, "malware"},
		{"@evil/other", "1.0.0", old, ""},
		{"left-pad", "1.0.9", old, "broken"},
		{"left-pad", "1.3.0", old, ""},
		{"left-pad", "2.0.0-beta.1", old, "broken"},
		{"lib", "3.0.0-rc.1", old, "gone"}, // * covers prereleases
		{"lib", "not-a-version", old, "gone"},
		{"event-stream", "3.3.6", young, "denied"}, // the deny list's reason comes first
	}
	for _, tt := range tests {
		err := u.Allowed(tt.name, tt.version, tt.published, now)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s@%s: refused: %v", tt.name, tt.version, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s@%s: %v, want a refusal with %q", tt.name, tt.version, err, tt.want)
		case tt.want != "" && !fault.Is(err, fault.Forbidden):
			t.Errorf("%s@%s: refused as %v, want Forbidden", tt.name, tt.version, fault.KindOf(err))
		}
	}
	if err := gated(t, 0).Allowed("express", "5.0.0", time.Time{}, now); err != nil {
		t.Errorf("no gates refused a version: %v", err)
	}
}

// doc builds a packument of name with versions published at the given ages
// (in days before now), dist-tags, tarball links on host and extra
// fields in each version.
func doc(t *testing.T, name, host string, tags map[string]string, ages map[string]float64) []byte {
	t.Helper()
	versions := map[string]any{}
	times := map[string]string{"created": now.Add(-100 * 24 * time.Hour).Format(time.RFC3339), "modified": now.Format(time.RFC3339)}
	bare := name[strings.LastIndexByte(name, '/')+1:]
	for v, days := range ages {
		versions[v] = map[string]any{
			"name": name, "version": v, "description": "d", "readme": "# long readme", "scripts": map[string]string{"test": "x"},
			"dependencies": map[string]string{"dep": "^1.0.0"},
			"dist": map[string]any{
				"tarball":   host + "/" + name + "/-/" + bare + "-" + v + ".tgz",
				"integrity": "sha512-" + v, "shasum": "abc",
				"signatures":   []map[string]string{{"keyid": "SHA256:k", "sig": "sig-" + v}},
				"attestations": map[string]any{"url": host + "/-/npm/v1/attestations/" + name + "@" + v},
			},
		}
		times[v] = now.Add(-time.Duration(days * 24 * float64(time.Hour))).Format(time.RFC3339Nano)
	}
	b, err := json.Marshal(map[string]any{"_id": name, "_rev": "3-abc", "name": name, "dist-tags": tags, "versions": versions,
		"time": times, "readme": "# top readme", "maintainers": []map[string]string{{"name": "m"}},
		"_attachments": map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func link(name string) func(string) string {
	return func(v string) string { return "@@BASE@@/" + name + "/-/" + name + "-" + v + ".tgz" }
}

type rendered struct {
	DistTags map[string]string                     `json:"dist-tags"`
	Versions map[string]map[string]json.RawMessage `json:"versions"`
	Time     map[string]string                     `json:"time"`
	Readme   *string                               `json:"readme"`
	Attach   json.RawMessage                       `json:"_attachments"`
	Modified string                                `json:"modified"`
	Name     string                                `json:"name"`
}

func render(t *testing.T, u *Uplink, body []byte, name string, abbreviated bool) (rendered, Rendered) {
	t.Helper()
	p, err := Parse(body, name)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	r, err := p.Render(u, abbreviated, now, link(name))
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	var out rendered
	if err := json.Unmarshal(r.Body, &out); err != nil {
		t.Fatalf("rendered packument is not JSON: %v\n%s", err, r.Body)
	}
	return out, r
}

// TestRenderRewritesTarballs shows every dist.tarball pointing at
// gatehouse, even those the uplink pointed elsewhere, while the rest of
// dist (integrity, signatures, attestations) stays as written.
func TestRenderRewritesTarballs(t *testing.T) {
	body := doc(t, "express", "https://evil.example", map[string]string{"latest": "1.1.0"}, map[string]float64{"1.0.0": 10, "1.1.0": 5})
	for _, abbreviated := range []bool{false, true} {
		out, r := render(t, gated(t, 0), body, "express", abbreviated)
		if r.Hidden != 0 || !r.Until.IsZero() {
			t.Errorf("no gates, yet %d hidden, until %v", r.Hidden, r.Until)
		}
		for v, m := range out.Versions {
			var dist map[string]json.RawMessage
			if err := json.Unmarshal(m["dist"], &dist); err != nil {
				t.Fatal(err)
			}
			var tarball string
			_ = json.Unmarshal(dist["tarball"], &tarball)
			if want := "@@BASE@@/express/-/express-" + v + ".tgz"; tarball != want {
				t.Errorf("abbreviated=%v %s: tarball %q, want %q", abbreviated, v, tarball, want)
			}
			if string(dist["integrity"]) != fmt.Sprintf("%q", "sha512-"+v) || !strings.Contains(string(dist["signatures"]), "sig-"+v) ||
				!strings.Contains(string(dist["attestations"]), "https://evil.example/-/npm/v1/attestations/express@"+v) {
				t.Errorf("abbreviated=%v %s: dist changed beyond its tarball: %s", abbreviated, v, m["dist"])
			}
			if _, ok := m["readme"]; ok == abbreviated {
				t.Errorf("abbreviated=%v %s: readme kept = %v", abbreviated, v, ok)
			}
			if _, ok := m["dependencies"]; !ok {
				t.Errorf("abbreviated=%v %s: dependencies lost", abbreviated, v)
			}
		}
		if len(out.Versions) != 2 || out.DistTags["latest"] != "1.1.0" || out.Name != "express" {
			t.Errorf("abbreviated=%v: %+v", abbreviated, out)
		}
		if abbreviated && (out.Readme != nil || out.Time != nil || out.Modified == "") {
			t.Errorf("the abbreviated form has readme %v, time %v, modified %q", out.Readme, out.Time, out.Modified)
		}
		if !abbreviated && (out.Readme == nil || len(out.Time) != 4 || out.Attach != nil) {
			t.Errorf("the full form: readme %v, time %v, _attachments %s", out.Readme, out.Time, out.Attach)
		}
	}
}

// TestRenderGates hides the versions the gates refuse from versions, time
// and dist-tags, moves latest to the newest allowed version, and says when
// the verdict changes.
func TestRenderGates(t *testing.T) {
	ages := map[string]float64{"1.0.0": 30, "1.1.0": 20, "1.2.0": 10, "2.0.0-beta.1": 4, "2.0.0": 1, "2.1.0-rc.1": 0.5}
	tags := map[string]string{"latest": "2.0.0", "next": "2.1.0-rc.1", "beta": "2.0.0-beta.1", "legacy": "1.0.0"}
	tests := []struct {
		name       string
		u          *Uplink
		tags       map[string]string
		visible    []string
		wantTags   map[string]string
		wantUntil  time.Time
		wantHidden int
	}{
		{"no gates", gated(t, 0), tags, []string{"1.0.0", "1.1.0", "1.2.0", "2.0.0-beta.1", "2.0.0", "2.1.0-rc.1"},
			tags, time.Time{}, 0},
		{"three days", gated(t, 3), tags, []string{"1.0.0", "1.1.0", "1.2.0", "2.0.0-beta.1"},
			map[string]string{"latest": "1.2.0", "beta": "2.0.0-beta.1", "legacy": "1.0.0"},
			now.Add(-1*24*time.Hour + 3*24*time.Hour), 2},
		{"three days and 1.2.0 denied", gated(t, 3, Deny{Package: "express@1.2.0", Reason: "bad"}), tags,
			[]string{"1.0.0", "1.1.0", "2.0.0-beta.1"},
			map[string]string{"latest": "1.1.0", "beta": "2.0.0-beta.1", "legacy": "1.0.0"},
			now.Add(2 * 24 * time.Hour), 3},
		{"every release denied", gated(t, 0, Deny{Package: "express@<2.0.1", Reason: "bad"}), tags, []string{"2.1.0-rc.1"},
			map[string]string{"next": "2.1.0-rc.1"}, time.Time{}, 5}, // no release left: no latest, not a newer prerelease
		{"everything denied", gated(t, 0, Deny{Package: "express", Reason: "bad"}), tags, nil, map[string]string{},
			time.Time{}, 6},
		{"latest below a newer visible release", gated(t, 3), map[string]string{"latest": "1.1.0"},
			[]string{"1.0.0", "1.1.0", "1.2.0", "2.0.0-beta.1"}, map[string]string{"latest": "1.1.0"},
			now.Add(2 * 24 * time.Hour), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := doc(t, "express", "https://registry.example.com", tt.tags, ages)
			for _, abbreviated := range []bool{false, true} {
				out, r := render(t, tt.u, body, "express", abbreviated)
				if len(out.Versions) != len(tt.visible) {
					t.Errorf("abbreviated=%v: versions %v, want %v", abbreviated, keys(out.Versions), tt.visible)
				}
				for _, v := range tt.visible {
					if _, ok := out.Versions[v]; !ok {
						t.Errorf("abbreviated=%v: %s is missing", abbreviated, v)
					}
				}
				if fmt.Sprint(out.DistTags) != fmt.Sprint(tt.wantTags) {
					t.Errorf("abbreviated=%v: dist-tags %v, want %v", abbreviated, out.DistTags, tt.wantTags)
				}
				if !r.Until.Equal(tt.wantUntil) || r.Hidden != tt.wantHidden {
					t.Errorf("abbreviated=%v: until %v hidden %d, want %v and %d", abbreviated, r.Until, r.Hidden, tt.wantUntil, tt.wantHidden)
				}
				if !abbreviated {
					for v := range out.Time {
						if v != "created" && v != "modified" && out.Versions[v] == nil {
							t.Errorf("time still lists the hidden %s", v)
						}
					}
				}
			}
		})
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestParseRefuses shows what an uplink may not send as a packument.
func TestParseRefuses(t *testing.T) {
	deep := strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1)
	deepInVersion := `{"name":"x","versions":{"1.0.0":` + strings.Repeat(`[`, MaxDepth) + strings.Repeat(`]`, MaxDepth) + `}}`
	tests := []struct {
		name, body, want string
	}{
		{"garbage", `<html>Bad gateway</html>`, "not valid JSON"},
		{"truncated", `{"name":"x","versions":{`, "not valid JSON"},
		{"an unterminated string", `{"name":"x`, "not valid JSON"},
		{"an array", `["x"]`, "not a JSON object"},
		{"null", `null`, "not a JSON object"},
		{"too deep", deep, fmt.Sprintf("deeper than %d", MaxDepth)},
		{"too deep inside a version", deepInVersion, "deeper than"},
		{"another package", `{"name":"y","versions":{}}`, `names the package "y", not x`},
		{"no name", `{"versions":{}}`, "not x"},
		{"versions not an object", `{"name":"x","versions":[]}`, "versions are not an object"},
		{"a version not an object", `{"name":"x","versions":{"1.0.0":"1.0.0"}}`, "version \"1.0.0\" is not an object"},
		{"dist-tags not an object", `{"name":"x","dist-tags":"latest"}`, "dist-tags"},
		{"bad JSON after a valid start", `{"name":"x","versions":{}}x`, "not valid JSON"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.body), "x")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Parse = %v, want an error with %q", tt.name, err, tt.want)
		}
	}
	// Brackets and quotes inside strings do not count.
	ok := `{"name":"x","description":"{{[[\"}}","versions":{"1.0.0":{"name":"x","dist":{"shasum":"a"}}},"dist-tags":{"latest":"1.0.0","bad":3}}`
	p, err := Parse([]byte(ok), "x")
	if err != nil {
		t.Fatalf("Parse of a valid packument: %v", err)
	}
	if d, found := p.Dist("1.0.0"); !found || d.Shasum != "a" {
		t.Errorf("Dist(1.0.0) = %+v, %v", d, found)
	}
	if _, found := p.Dist("2.0.0"); found {
		t.Error("Dist of a version that does not exist")
	}
	if len(p.tags) != 1 {
		t.Errorf("dist-tags kept: %v, want the string one only", p.tags)
	}
	weird := `{"name":"x","versions":{"../1":{"name":"x"},"1.0.0 x":{},"1.0.0":{"name":"x","dist":{}}}}`
	p, err = Parse([]byte(weird), "x")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Versions(); len(got) != 1 || got[0] != "1.0.0" {
		t.Errorf("versions kept: %v, want 1.0.0 alone", got)
	}
	if _, found := p.Dist("1.0.0"); found {
		t.Error("a version without integrity or shasum has a usable dist")
	}
}

func TestTarballURL(t *testing.T) {
	u := mustNew(t, NewSpec("up", "https://registry.example.com/npm"))
	tests := []struct{ link, name, version, want string }{
		{"https://registry.example.com/npm/express/-/express-4.18.2.tgz", "express", "4.18.2",
			"https://registry.example.com/npm/express/-/express-4.18.2.tgz"},
		{"https://REGISTRY.example.com/other/path/x.tgz", "express", "4.18.2", "https://REGISTRY.example.com/other/path/x.tgz"},
		{"https://evil.example/express/-/express-4.18.2.tgz", "express", "4.18.2",
			"https://registry.example.com/npm/express/-/express-4.18.2.tgz"},
		{"http://registry.example.com/npm/express/-/express-4.18.2.tgz", "express", "4.18.2",
			"https://registry.example.com/npm/express/-/express-4.18.2.tgz"},
		{"https://registry.example.com:8443/x.tgz", "express", "1.0.0", "https://registry.example.com/npm/express/-/express-1.0.0.tgz"},
		{"https://user:pw@registry.example.com/x.tgz", "express", "1.0.0", "https://registry.example.com/npm/express/-/express-1.0.0.tgz"},
		{"file:///etc/passwd", "@types/node", "20.1.0", "https://registry.example.com/npm/@types/node/-/node-20.1.0.tgz"},
		{"", "@types/node", "1.0.0+build", "https://registry.example.com/npm/@types/node/-/node-1.0.0+build.tgz"},
		{"https://registry.example.com/a.tgz#frag", "x", "1.0.0", "https://registry.example.com/a.tgz"},
	}
	for _, tt := range tests {
		if got := u.TarballURL(tt.link, tt.name, tt.version); got != tt.want {
			t.Errorf("TarballURL(%q) = %q, want %q", tt.link, got, tt.want)
		}
	}
}
