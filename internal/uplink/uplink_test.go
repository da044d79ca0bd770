package uplink

import (
	"io/fs"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// mustNew is New on a spec that must be valid, with no secrets.
func mustNew(t *testing.T, s Spec) *Uplink {
	t.Helper()
	u, err := New(s, Secrets{Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatalf("New(%+v): %v", s, err)
	}
	return u
}

func TestPatterns(t *testing.T) {
	tests := []struct {
		pattern string
		matches []string
		misses  []string
	}{
		{"*", []string{"express", "@types/node", "JSONStream"}, nil},
		{"@types/*", []string{"@types/node", "@types/a.b"}, []string{"types", "@typesx/node", "@type/node", "node"}},
		{"express", []string{"express"}, []string{"express2", "@x/express", "Express"}},
		{"@acme/tool", []string{"@acme/tool"}, []string{"@acme/tool2", "@acme/other", "tool"}},
	}
	for _, tt := range tests {
		p, err := parsePattern(tt.pattern)
		if err != nil {
			t.Fatalf("parsePattern(%q): %v", tt.pattern, err)
		}
		for _, n := range tt.matches {
			if !p.match(n) {
				t.Errorf("%q does not match %q", tt.pattern, n)
			}
		}
		for _, n := range tt.misses {
			if p.match(n) {
				t.Errorf("%q matches %q", tt.pattern, n)
			}
		}
	}
	for _, bad := range []string{"", "**", "@scope", "@/*", "@scope/", "ex press", "a/b", ".hidden", "@types/*x", "*x"} {
		if _, err := parsePattern(bad); err == nil {
			t.Errorf("parsePattern(%q) accepted it", bad)
		}
	}
}

// TestSetFirstMatchWins routes names to the first uplink whose patterns
// match them.
func TestSetFirstMatchWins(t *testing.T) {
	mk := func(name string, packages ...string) *Uplink {
		s := NewSpec(name, "http://127.0.0.1:1")
		s.Packages = packages
		return mustNew(t, s)
	}
	set, err := NewSet(mk("corp", "@corp/*", "left-pad"), mk("types", "@types/*"), mk("public", "*"), mk("never", "express"))
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]string{
		"@corp/ui": "corp", "left-pad": "corp", "@types/node": "types", "express": "public", "@other/x": "public",
	}
	for name, want := range tests {
		if got := set.For(name); got == nil || got.Name() != want {
			t.Errorf("For(%q) = %v, want %s", name, got, want)
		}
	}
	narrow, _ := NewSet(mk("types", "@types/*"))
	if got := narrow.For("express"); got != nil {
		t.Errorf("a name no pattern matches went to %s", got.Name())
	}
	var none *Set
	if none.For("express") != nil || len(none.All()) != 0 {
		t.Error("no uplinks serve something")
	}
	if _, err := NewSet(mk("a", "*"), mk("a", "x")); err == nil {
		t.Error("two uplinks of one name were accepted")
	}
}

func TestSpecCheck(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Spec)
		want   []string // substrings of the error; none means valid
	}{
		{"defaults", func(*Spec) {}, nil},
		{"https with a path", func(s *Spec) { s.URL = "https://registry.example.com/npm" }, nil},
		{"a token from the environment", func(s *Spec) { s.TokenEnv = "UPLINK_TOKEN" }, nil},
		{"gates", func(s *Spec) {
			s.MinReleaseAgeDays = 3
			s.Deny = []Deny{{Package: "event-stream@3.3.6", Reason: "compromised"}, {Package: "@evil/pkg", Reason: "malware"}}
		}, nil},
		{"ftp", func(s *Spec) { s.URL = "ftp://registry.example.com" }, []string{"uplink up", "url", "http:// or https://"}},
		{"file", func(s *Spec) { s.URL = "file:///srv/registry" }, []string{"http:// or https://"}},
		{"no scheme", func(s *Spec) { s.URL = "registry.example.com" }, []string{"http:// or https://"}},
		{"no host", func(s *Spec) { s.URL = "http://" }, []string{"must name a host"}},
		{"a password in the URL", func(s *Spec) { s.URL = "https://me:secret@registry.example.com" },
			[]string{"token_env or token_file"}},
		{"a query", func(s *Spec) { s.URL = "https://registry.example.com/?a=b" }, []string{"query"}},
		{"bad name", func(s *Spec) { s.Name = "Up Link" }, []string{"name", "lower-case"}},
		{"both credentials", func(s *Spec) { s.TokenEnv, s.TokenFile = "T", "/t" }, []string{"not both"}},
		{"a token as the variable", func(s *Spec) { s.TokenEnv = "npm_abc-def" }, []string{"token_env", "environment variable"}},
		{"no patterns", func(s *Spec) { s.Packages = nil }, []string{"packages"}},
		{"bad pattern", func(s *Spec) { s.Packages = []string{"@scope"} }, []string{"packages", "@scope"}},
		{"zero timeout", func(s *Spec) { s.Timeout = 0 }, []string{"timeout"}},
		{"negative max age", func(s *Spec) { s.MaxAge = -time.Second }, []string{"max_age"}},
		{"tiny packument limit", func(s *Spec) { s.MaxPackumentSize = 10 }, []string{"max_packument_size"}},
		{"age too large", func(s *Spec) { s.MinReleaseAgeDays = 5000 }, []string{"min_release_age_days"}},
		{"deny without a reason", func(s *Spec) { s.Deny = []Deny{{Package: "x@1"}} }, []string{"deny", "reason"}},
		{"deny with a bad range", func(s *Spec) { s.Deny = []Deny{{Package: "x@not a range", Reason: "r"}} },
			[]string{"deny", "semver range"}},
		{"deny a pattern", func(s *Spec) { s.Deny = []Deny{{Package: "@scope/*", Reason: "r"}} }, []string{"deny"}},
		{"every problem at once", func(s *Spec) { s.URL, s.Timeout = "gopher://x", 0 }, []string{"url", "timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSpec("up", "http://127.0.0.1:4873")
			tt.modify(&s)
			err := s.Check()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Check() = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Check() = nil, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

// TestToken reads an uplink's token from the variable or file its spec
// names, refuses an empty one, and never shows it in the log value.
func TestToken(t *testing.T) {
	env := map[string]string{"UPLINK_TOKEN": " s3cret-token\n", "EMPTY": ""}
	files := map[string]string{"/run/token": "file-token\n", "/run/empty": "  \n"}
	sec := Secrets{
		Getenv: func(k string) string { return env[k] },
		ReadFile: func(p string) ([]byte, error) {
			if v, ok := files[p]; ok {
				return []byte(v), nil
			}
			return nil, fs.ErrNotExist
		},
	}
	tests := []struct {
		env, file string
		token     string
		wantErr   string
	}{
		{"UPLINK_TOKEN", "", "s3cret-token", ""},
		{"", "/run/token", "file-token", ""},
		{"", "", "", ""},
		{"EMPTY", "", "", "EMPTY is empty or unset"},
		{"MISSING", "", "", "MISSING is empty or unset"},
		{"", "/run/empty", "", "/run/empty is empty"},
		{"", "/run/missing", "", "token_file"},
	}
	for _, tt := range tests {
		s := NewSpec("up", "https://registry.example.com")
		s.TokenEnv, s.TokenFile = tt.env, tt.file
		u, err := New(s, sec)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "uplink up") {
				t.Errorf("New(%q, %q) = %v, want an error with %q", tt.env, tt.file, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("New(%q, %q): %v", tt.env, tt.file, err)
		}
		if u.token != tt.token {
			t.Errorf("token = %q, want %q", u.token, tt.token)
		}
		var b strings.Builder
		slog.New(slog.NewTextHandler(&b, nil)).Info("uplink", slog.Any("uplink", u))
		if tt.token != "" && strings.Contains(b.String(), tt.token) {
			t.Errorf("the log line shows the token: %s", b.String())
		}
		if tt.env != "" && !strings.Contains(b.String(), tt.env) {
			t.Errorf("the log line does not say where the token comes from: %s", b.String())
		}
	}
	if _, err := New(NewSpec("up", "ftp://x"), sec); err == nil || !strings.Contains(err.Error(), "http") {
		t.Errorf("New accepted an ftp URL: %v", err)
	}
}
