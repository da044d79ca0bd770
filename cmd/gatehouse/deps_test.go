package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBinaryModules keeps the binary lean (issue 15, docs/benchmarks.md "A
// lean build"): no module of these stacks may be linked into gatehouse.
// Tests may use some of them (Prometheus' text parser checks /metrics); the
// binary's own packages, which go list -deps gives without -test, may not.
func TestBinaryModules(t *testing.T) {
	forbidden := []struct{ prefix, why string }{
		{"google.golang.org/grpc", "gRPC"},
		{"google.golang.org/api", "Google API clients"},
		{"google.golang.org/genproto", "Google API protocol buffers"},
		{"google.golang.org/protobuf", "Protocol Buffers (Prometheus' client brought it)"},
		{"go.opentelemetry.io/", "OpenTelemetry"},
		{"github.com/prometheus/", "Prometheus' client libraries (test-only here)"},
		{"gocloud.dev", "gocloud's blob layer"},
		{"github.com/aws/", "the AWS SDK"},
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{with .Module}}{{.Path}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	modules := map[string]bool{}
	for _, m := range strings.Fields(string(out)) {
		modules[m] = true
	}
	if !modules["github.com/gatehouse-registry/gatehouse"] || !modules["modernc.org/sqlite"] {
		t.Fatalf("go list did not list the binary's modules: %v", modules)
	}
	for m := range modules {
		for _, f := range forbidden {
			if strings.HasPrefix(m, f.prefix) {
				t.Errorf("the binary links %s: %s", m, f.why)
			}
		}
	}
}

// TestLinkerDropsUnusedMethods keeps Go's linker able to leave out the
// methods nothing calls (docs/benchmarks.md, "The whole binary"): when a
// reachable function calls reflect's Method or MethodByName with a name known
// only at run time (the standard text/template and html/template do, to call
// a template's methods), the linker keeps every exported method of every type
// that may be used through an interface, which made the release build 3.5 MB
// larger. The linker's dependency dump marks such a function <ReflectMethod>;
// none may be reachable.
func TestLinkerDropsUnusedMethods(t *testing.T) {
	cmd := exec.Command("go", "build", "-ldflags=-dumpdep", "-o", filepath.Join(t.TempDir(), "gatehouse"), ".")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go build -ldflags=-dumpdep: %v\n%.2000s", err, out)
	}
	dump := string(out)
	if !strings.Contains(dump, "main.main") {
		t.Fatalf("the linker's dump does not name main.main: %.2000s", dump)
	}
	seen := map[string]bool{}
	for line := range strings.Lines(dump) {
		// A line is "caller -> callee", either side marked when it is such a function.
		for _, sym := range strings.Split(strings.TrimSpace(line), " -> ") {
			fn, marked := strings.CutSuffix(sym, " <ReflectMethod>")
			if !marked || seen[fn] {
				continue
			}
			seen[fn] = true
			t.Errorf("%s calls reflect's Method or MethodByName with a name the linker cannot know: every exported method stays in the binary", fn)
		}
	}
}
