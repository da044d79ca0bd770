package registry

import (
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"
)

// nameSeeds are package names in the spellings clients and attackers send.
var nameSeeds = []string{
	"a", "left-pad", "@acme/web", "@acme%2fweb", "@acme%2Fweb", "@acme/", "@/web", "@acme",
	"@acme/web/extra", "JSONStream", "node_modules", "favicon.ico", "http", ".hidden", "_under",
	"-dash", " space", "name ", "caf\u00e9", "a~b", "@acme/a(b)", strings.Repeat("a", 215),
	"@" + strings.Repeat("s", 100) + "/" + strings.Repeat("n", 120), "..", "@acme/..", "a\x00b",
	"%2e%2e", "@acme\\web", "\u00a0a",
}

// FuzzPackageName checks the package name rules. Properties: a name valid
// for a new package is valid for an old one; a valid new name is at most 214
// bytes, lowercase, URL-safe apart from the scope's slash, and splits into
// scope and bare name that rebuild it; a valid name of either kind never
// holds a path element ".." or a backslash, and its tarball file name holds no
// slash.
func FuzzPackageName(f *testing.F) {
	for _, s := range nameSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		newErr := ValidatePackageName(name)
		oldErr := ValidateLegacyPackageName(name)
		if newErr == nil && oldErr != nil {
			t.Fatalf("%q valid for a new package but not an old one: %v", name, oldErr)
		}
		if oldErr != nil {
			if len(oldErr.Error()) > 2000 {
				t.Fatalf("the error for a %d-byte name is %d bytes: the name is not clipped", len(name), len(oldErr.Error()))
			}
			return
		}
		scope, bare := SplitName(name)
		rebuilt := bare
		if scope != "" {
			rebuilt = "@" + scope + "/" + bare
		}
		if rebuilt != name {
			t.Fatalf("SplitName(%q) = %q, %q: rebuilds %q", name, scope, bare, rebuilt)
		}
		if bare == "" || bare == "." || bare == ".." || strings.ContainsAny(bare, `/\`) {
			t.Fatalf("valid name %q has the bare part %q", name, bare)
		}
		if strings.ContainsAny(TarballFilename(name, "1.0.0"), `/\`) {
			t.Fatalf("tarball file name of %q holds a separator", name)
		}
		if newErr != nil {
			return
		}
		if len(name) > maxNameLength || strings.ToLower(name) != name {
			t.Fatalf("%q passed as a new name: too long or not lowercase", name)
		}
		if !isURLSafe(scope) || !isURLSafe(bare) {
			t.Fatalf("%q passed as a new name with characters encodeURIComponent changes", name)
		}
	})
}

// FuzzVersion checks ValidateVersion. Properties: an accepted version parses
// strictly with the semver library that stored versions are read with, and
// prints back to itself (so no two spellings of one version are both
// stored); it is at most 256 bytes; and as a URL-safe string without build
// metadata it is a range, so it can never be taken as a dist-tag.
func FuzzVersion(f *testing.F) {
	for _, s := range []string{
		"1.0.0", "0.0.0", "1.2.3-beta.1", "1.0.0+build.5", "1.0.0-rc.1+x", "v1.0.0", "1.0", "01.0.0",
		"1.0.0-01", "9007199254740991.0.0", "9007199254740992.0.0", "1.0.0-", "1.0.0+", " 1.0.0",
		"1.0.0\n", "1.0.0-a..b", "=1.0.0", "1.x", "^1.0.0", strings.Repeat("1", 300) + ".0.0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if ValidateVersion(v) != nil {
			return
		}
		if len(v) > maxVersionLength {
			t.Fatalf("%d-byte version accepted", len(v))
		}
		sv, err := semver.StrictNewVersion(v)
		if err != nil {
			t.Fatalf("%q accepted but the semver library refuses it: %v", v, err)
		}
		if sv.Original() != v || sv.String() != v {
			t.Fatalf("%q accepted but prints as %q", v, sv.String())
		}
		if !strings.Contains(v, "+") {
			if !isSemverRange(v) {
				t.Fatalf("version %q is not seen as a range", v)
			}
			if ValidateTag(v) == nil {
				t.Fatalf("version %q accepted as a dist-tag", v)
			}
		}
	})
}

// FuzzTag checks ValidateTag and the range recogniser under it. Properties:
// an accepted tag is non-empty, at most 128 bytes, URL-safe, not a version
// and not a range (npm would read it as one); a refused one's message stays
// short whatever was sent.
func FuzzTag(f *testing.F) {
	for _, s := range []string{
		"latest", "next", "beta", "v1", "1", "1.x", "~1.2", "*", "x", "X", "v1.2.3", "1.2.3-rc",
		"~v1", "^1.0.0", ">=2", "1 || 2", "a/b", "%20", "", strings.Repeat("t", 129), "latest\n",
		"~9007199254740991.9007199254740991", "1.x.2", "vvv1", "~", "*1.0.0", "1.0.0-",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tag string) {
		err := ValidateTag(tag)
		if err != nil {
			if len(err.Error()) > 400 {
				t.Fatalf("the error for a %d-byte tag is %d bytes long", len(tag), len(err.Error()))
			}
			return
		}
		if tag == "" || len(tag) > maxTagLength || !isURLSafe(tag) {
			t.Fatalf("tag %q accepted: empty, too long or not URL-safe", tag)
		}
		if ValidateVersion(tag) == nil {
			t.Fatalf("tag %q is a version", tag)
		}
		if isSemverRange(tag) {
			t.Fatalf("tag %q is a range", tag)
		}
	})
}

// FuzzRange: the range check that keeps dist-tags from looking like ranges
// (as npm refuses `npm dist-tag add pkg@1.0.0 ^1`) never panics, and every
// string it takes for a range is refused as a dist-tag.
func FuzzRange(f *testing.F) {
	for _, s := range []string{
		"^1.0.0", "~1.2", "1.x", "1.2.*", "*", "x", ">=1.0.0 <2.0.0", "1.0.0 - 2.0.0", "^1 || ^2",
		"latest", "next", "", " ", "||", "1.0.0-", "~>1", ">= 1.2.3", "1.2.3+build", "v1",
		strings.Repeat("^1 || ", 100) + "^2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if isSemverRange(s) && ValidateTag(s) == nil {
			t.Fatalf("%q is a range but was accepted as a dist-tag", s)
		}
	})
}
