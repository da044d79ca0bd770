package uplink

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzParse feeds the packument check what an uplink might send for a
// name. Properties: an accepted packument is valid JSON nested at most
// MaxDepth deep, names exactly the package asked for, and every version
// it keeps can be put in a tarball path (no slash, backslash, space, "?",
// "#", "%", ".." or "."), with a dist-tag set of non-empty strings.
func FuzzParse(f *testing.F) {
	good := `{"_id":"left-pad","name":"left-pad","dist-tags":{"latest":"1.3.0","next":"2.0.0-rc.1"},` +
		`"versions":{"1.3.0":{"name":"left-pad","version":"1.3.0","dist":{"integrity":"sha512-AAAA","shasum":"0123456789abcdef0123456789abcdef01234567","tarball":"http://127.0.0.1/left-pad/-/left-pad-1.3.0.tgz"}}},` +
		`"time":{"created":"2016-03-23T00:00:00.000Z","1.3.0":"2018-04-09T00:00:00.000Z"}}`
	for _, s := range []struct{ body, name string }{
		{good, "left-pad"},
		{good, "other"},
		{strings.ReplaceAll(good, "left-pad", "@acme/web"), "@acme/web"},
		{`{"name":"a","versions":{"../../x":{},"1.0.0":{}}}`, "a"},
		{`{"name":"a","versions":{"1.0.0":"x"}}`, "a"},
		{`{"name":"a","versions":null,"dist-tags":{"latest":1}}`, "a"},
		{`{"name":"a","time":{"1.0.0":"not a time"}}`, "a"},
		{strings.Repeat("[", 100) + strings.Repeat("]", 100), "a"},
		{`{"name":"a","x":"\"{"}`, "a"},
		{`{"name":"a"}}`, "a"},
		{`[]`, "a"},
	} {
		f.Add([]byte(s.body), s.name)
	}
	f.Fuzz(func(t *testing.T, body []byte, name string) {
		p, err := Parse(body, name)
		if err != nil {
			// The name asked for is the caller's, checked before; what the
			// uplink wrote is clipped.
			if len(err.Error()) > 300+len(name) {
				t.Fatalf("the error is %d bytes long: the uplink's text is not clipped", len(err.Error()))
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		if err := checkDepth(body, MaxDepth); err != nil {
			t.Fatalf("accepted a packument nested too deeply: %v", err)
		}
		if p.Name() != name {
			t.Fatalf("asked for %q, accepted %q", name, p.Name())
		}
		for _, v := range p.Versions() {
			if !versionKey(v) || strings.ContainsAny(v, "/\\ ?#%") || v == "." || v == ".." {
				t.Fatalf("kept version key %q", v)
			}
		}
		for tag, v := range p.tags {
			if v == "" {
				t.Fatalf("kept dist-tag %q with an empty version", tag)
			}
		}
	})
}
