package registry

import (
	"fmt"
	"strings"
	"testing"
)

func TestValidatePackageName(t *testing.T) {
	tests := []struct {
		name    string
		wantErr string // "" when valid
	}{
		{"web", ""},
		{"a", ""},
		{"a.b-c_d", ""},
		{"web2", ""},
		{"@acme/web", ""},
		{"@acme/web.js", ""},
		{"@acme/_web", ""},
		{"@acme-corp/web", ""},
		{strings.Repeat("x", 214), ""},
		{"", "name length must be greater than zero"},
		{"Web", `invalid package name "Web": name can no longer contain capital letters`},
		{"@Acme/web", "name can no longer contain capital letters"},
		{"@acme/Web", "name can no longer contain capital letters"},
		{"node_modules", "node_modules is not a valid package name"},
		{"Node_Modules", "node_modules is not a valid package name; name can no longer contain capital letters"},
		{"favicon.ico", "favicon.ico is not a valid package name"},
		{"http", "http is a core module name"},
		{"fs", "fs is a core module name"},
		{"_http_agent", "name cannot start with an underscore; _http_agent is a core module name"},
		{strings.Repeat("x", 215), "name can no longer contain more than 214 characters"},
		{".hidden", "name cannot start with a period"},
		{"_under", "name cannot start with an underscore"},
		{"-dash", "name cannot start with a hyphen"},
		{"a b", "name can only contain URL-friendly characters"},
		{" a", "name cannot contain leading or trailing spaces; name can only contain URL-friendly characters"},
		{"a ", "name cannot contain leading or trailing spaces"},
		{"@scope/", "name can only contain URL-friendly characters"},
		{"@/x", "name can only contain URL-friendly characters"},
		{"@scope", "name can only contain URL-friendly characters"},
		{"@scope/.x", "name cannot start with a period"},
		{"@scope/a/b", "name can only contain URL-friendly characters"},
		{"a/b", "name can only contain URL-friendly characters"},
		{"a~b", `name can no longer contain special characters ("~'!()*")`},
		{"a(b)", "special characters"},
		{"@acme/a!", "special characters"},
		{"café", "name can only contain URL-friendly characters"},
		{"a:b", "name can only contain URL-friendly characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantValidation(t, fmt.Sprintf("ValidatePackageName(%q)", tt.name), ValidatePackageName(tt.name), tt.wantErr)
		})
	}
}

func TestValidatePackageNameClipsLongNames(t *testing.T) {
	err := ValidatePackageName(strings.Repeat("X", 10_000))
	wantInvalid(t, err, "name can no longer contain capital letters")
	if len(err.Error()) > 500 {
		t.Errorf("message is %d bytes long; the name should be shortened", len(err.Error()))
	}
}

func TestSplitName(t *testing.T) {
	tests := []struct{ name, scope, bare string }{
		{"@acme/web", "acme", "web"},
		{"web", "", "web"},
		{"@acme/web.js", "acme", "web.js"},
		{"", "", ""},
	}
	for _, tt := range tests {
		scope, bare := SplitName(tt.name)
		if scope != tt.scope || bare != tt.bare {
			t.Errorf("SplitName(%q) = %q, %q; want %q, %q", tt.name, scope, bare, tt.scope, tt.bare)
		}
	}
}

func TestTarballFilename(t *testing.T) {
	tests := []struct{ name, version, want string }{
		{"@acme/web", "1.0.0", "web-1.0.0.tgz"},
		{"web", "1.0.0-beta.1", "web-1.0.0-beta.1.tgz"},
		{"a.b", "0.0.1", "a.b-0.0.1.tgz"},
	}
	for _, tt := range tests {
		if got := TarballFilename(tt.name, tt.version); got != tt.want {
			t.Errorf("TarballFilename(%q, %q) = %q, want %q", tt.name, tt.version, got, tt.want)
		}
	}
}

func TestValidateVersion(t *testing.T) {
	tests := []struct {
		version string
		ok      bool
	}{
		{"1.2.3", true},
		{"0.0.0", true},
		{"10.20.30", true},
		{"1.0.0-beta.1+build", true},
		{"1.0.0-alpha-1", true},
		{"1.0.0-0a.1", true},
		{"1.0.0-0", true},
		{"1.0.0+01.x-y", true},
		{"9007199254740991.0.0", true},
		{"1.0.0-" + strings.Repeat("a", 250), true},
		{"1.0.0-" + strings.Repeat("a", 251), false},
		{"", false},
		{"v1.2.3", false},
		{"=1.2.3", false},
		{"1.2", false},
		{"1", false},
		{"1.2.3.4", false},
		{"01.2.3", false},
		{"1.02.3", false},
		{"1.2.03", false},
		{"1.0.0-01", false},
		{"1.0.0-", false},
		{"1.0.0+", false},
		{"1.0.0-beta..1", false},
		{"1.0.0-beta_1", false},
		{" 1.0.0", false},
		{"1.0.0 ", false},
		{"1.x.0", false},
		{"latest", false},
		{"9007199254740992.0.0", false},
		{"99999999999999999999.0.0", false},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			err := ValidateVersion(tt.version)
			if tt.ok {
				if err != nil {
					t.Fatalf("ValidateVersion(%q) = %v, want nil", tt.version, err)
				}
				return
			}
			want := `Invalid version: "` + tt.version + `"`
			if len(tt.version) > maxEchoed {
				want = `Invalid version: "` + tt.version[:maxEchoed] + `"...`
			}
			wantInvalid(t, err, want)
		})
	}
}

func TestValidateTag(t *testing.T) {
	const rangeMsg = "Tag name must not be a valid SemVer range: "
	tests := []struct {
		tag     string
		wantErr string // "" when valid
	}{
		{"latest", ""},
		{"next", ""},
		{"beta", ""},
		{"canary", ""},
		{"alpha", ""},
		{"rc", ""},
		{"release-1.0", ""},
		{"next_major", ""},
		{"v2-next", ""},
		{"1.0-rc", ""},
		{"1-beta", ""},
		{"x-beta", ""},
		{"2.x-next", ""},
		{"01", ""},
		{"v", ""},
		{"~", ""},
		{strings.Repeat("t", 128), ""},
		{"", "tag name cannot be empty"},
		{strings.Repeat("t", 129), "longer than 128 characters"},
		{"1.x", rangeMsg + "1.x"},
		{"1.2.x", rangeMsg + "1.2.x"},
		{"1.2.3", rangeMsg + "1.2.3"},
		{"1.2.3-beta.1", rangeMsg + "1.2.3-beta.1"},
		{"1", rangeMsg + "1"},
		{"v1", rangeMsg + "v1"},
		{"x", rangeMsg + "x"},
		{"X", rangeMsg + "X"},
		{"*", rangeMsg + "*"},
		{"~1.2", rangeMsg + "~1.2"},
		{"^1.0.0", rangeMsg + "^1.0.0"},
		{">=2", rangeMsg + ">=2"},
		{"1.0.0 - 2.0.0", rangeMsg + "1.0.0 - 2.0.0"},
		{"a b", "tags may not have any characters that encodeURIComponent encodes"},
		{"a/b", "tags may not have any characters that encodeURIComponent encodes"},
		{"@next", "tags may not have any characters that encodeURIComponent encodes"},
		{"next%", "tags may not have any characters that encodeURIComponent encodes"},
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			wantValidation(t, fmt.Sprintf("ValidateTag(%q)", tt.tag), ValidateTag(tt.tag), tt.wantErr)
		})
	}
}

// TestIsSemverRange pins cases where node-semver's validRange differs from
// what a looser range parser would say.
func TestIsSemverRange(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"1.2.3*", true},   // node-semver drops the first "*"
		{"*1.2.3", true},   //
		{"**", false},      //
		{"vv1.2", true},    // an x-range may have several "v"s
		{"vv1.2.3", false}, // an exact version only one
		{"~vv1.2.3", true},
		{"~x.1", true},
		{"x.1", false},
		{"1.*.2", false},
		{"1.x-beta", false},
		{"1.2.x-beta", true},
		{"9007199254740990.x", true},
		{"9007199254740991.x", false}, // the upper bound would be unsafe
		{"9007199254740991.0.0", true},
		{"9007199254740992.0.0", false},
	}
	for _, tt := range tests {
		if got := isSemverRange(tt.s); got != tt.want {
			t.Errorf("isSemverRange(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

func TestValidateLegacyPackageName(t *testing.T) {
	tests := []struct {
		name    string
		wantErr string // "" when valid for an existing package
		forNew  bool   // valid for a new package too
	}{
		{"web", "", true},
		{"@acme/web", "", true},
		// What npm refuses only for new packages.
		{"JSONStream", "", false},
		{"Web", "", false},
		{"@acme/Web", "", false},
		{"http", "", false},
		{"a~b", "", false},
		{"a(b)", "", false},
		{strings.Repeat("x", 215), "", false},
		// What npm has always refused.
		{"", "name length must be greater than zero", false},
		{".JSONStream", "name cannot start with a period", false},
		{"_JSONStream", "name cannot start with an underscore", false},
		{"-JSONStream", "name cannot start with a hyphen", false},
		{" JSONStream", "name cannot contain leading or trailing spaces", false},
		{"Node_Modules", `invalid package name "Node_Modules": node_modules is not a valid package name`, false},
		{"favicon.ico", "favicon.ico is not a valid package name", false},
		{"JSON Stream", "name can only contain URL-friendly characters", false},
		{"@acme/.Web", "name cannot start with a period", false},
		{"JSON/Stream", "name can only contain URL-friendly characters", false},
		{"Café", "name can only contain URL-friendly characters", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateLegacyPackageName(tt.name)
			if newErr := ValidatePackageName(tt.name); (newErr == nil) != tt.forNew {
				t.Errorf("ValidatePackageName(%q) = %v, want valid %v", tt.name, newErr, tt.forNew)
			}
			wantValidation(t, fmt.Sprintf("ValidateLegacyPackageName(%q)", tt.name), err, tt.wantErr)
			if err != nil && strings.Contains(err.Error(), "can no longer") {
				t.Errorf("ValidateLegacyPackageName(%q) = %v names a rule for new packages only", tt.name, err)
			}
		})
	}
}

// wantValidation checks err, what call answered: nil when wantErr is "",
// otherwise an Invalid error whose message contains wantErr.
func wantValidation(t *testing.T, call string, err error, wantErr string) {
	t.Helper()
	if wantErr == "" {
		if err != nil {
			t.Fatalf("%s = %v, want nil", call, err)
		}
		return
	}
	wantInvalid(t, err, wantErr)
}
