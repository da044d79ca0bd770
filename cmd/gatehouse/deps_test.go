package main

import (
	"os/exec"
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
