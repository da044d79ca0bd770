package route

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

// FuzzPackagePath feeds the {pkg} matcher's splitting any escaped path.
// Properties: a path it splits names a non-empty package that is either
// one segment without a leading "@" or "@scope/name" with both parts
// non-empty; escaping that name and the rest again, in either spelling of
// a scoped name ("@scope/name" and "@scope%2fname"), splits to the same
// name and rest.
func FuzzPackagePath(f *testing.F) {
	for _, s := range []string{
		"/left-pad", "/@acme/web", "/@acme%2fweb", "/@acme%2Fweb", "/@acme%2fweb/1.0.0", "/@acme/web/-/web-1.0.0.tgz",
		"/@acme", "/@acme/", "/@/web", "/%40acme%2fweb", "/@acme%2f", "/a%2fb", "/%zz", "/", "", "/a/-/a-1.0.0.tgz",
		"/@acme/web/dist-tags/latest", "/@acme%2fweb%2fx", "/..%2f..%2fetc", "//a", "/@acme//web",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		name, rest, ok := PackagePath(p)
		if !ok {
			return
		}
		if name == "" {
			t.Fatalf("%q split to an empty name", p)
		}
		scope, bare, scoped := strings.Cut(name, "/")
		if strings.HasPrefix(name, "@") {
			if !scoped || scope == "@" || bare == "" {
				t.Fatalf("%q split to the scoped name %q without a scope or name", p, name)
			}
		}
		var tail string
		for _, r := range rest {
			tail += "/" + url.PathEscape(r)
		}
		spellings := []string{"/" + url.PathEscape(name) + tail}
		if strings.HasPrefix(name, "@") && !strings.Contains(bare, "/") {
			spellings = append(spellings, "/"+url.PathEscape(scope)+"/"+url.PathEscape(bare)+tail)
		}
		for _, s := range spellings {
			n2, r2, ok := PackagePath(s)
			if !ok || n2 != name || !slices.Equal(r2, rest) {
				t.Fatalf("%q split to %q %q; its spelling %q splits to %q %q (%v)", p, name, rest, s, n2, r2, ok)
			}
		}
	})
}
