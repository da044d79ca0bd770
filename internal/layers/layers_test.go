package layers

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/gatehouse-registry/gatehouse/"

// rank places every package of the module (test-only packages included) in
// a layer: a package may import packages of lower layers, and domain
// services (layer 4) may also use each other. A new package gets a line
// here, in the layer where it belongs (docs/architecture.md).
var rank = map[string]int{
	// 0: leaves, no gatehouse imports: errors, token strings, TOTP, keys,
	// units, the route table's mechanism, metrics, per-address limits, the
	// log's buffer.
	"internal/throttle": 0, "internal/fault": 0, "internal/token": 0, "internal/totp": 0, "internal/keyring": 0,
	"internal/units": 0, "internal/route": 0, "internal/metrics": 0, "internal/logqueue": 0, "internal/heapfloor": 0, "internal/memsize": 0, "internal/certificate": 0,
	// 1: storage, and the upstream registries beside it.
	"internal/store": 1, "internal/blob": 1, "internal/uplink": 1,
	// Webhook deliveries' guarded HTTP client, beside the uplinks'.
	"internal/delivery": 1,
	// 2: who is asking: credentials, and the CI identities of trusted publishing.
	"internal/auth": 2, "internal/idtoken": 2, "internal/sso": 2,
	// 3: may it.
	"internal/policy": 3,
	// 4: domain services.
	"internal/account": 4, "internal/registry": 4, "internal/org": 4, "internal/gc": 4,
	"internal/signing": 4, "internal/trust": 4, "internal/admin": 4, "internal/hook": 4,
	// The audit log, which the domain services write (and policy's refusals
	// tell its reasons).
	"internal/audit": 4,
	// 5: transport: the npm protocol and the website.
	"internal/npmapi": 5, "internal/web": 5,
	// 6: settings.
	"internal/config": 6,
	// 7: wiring.
	"internal/server": 7,
	// 8: the binary and the tools around it.
	"cmd/gatehouse": 8, "bench/seed": 8,
	// Test support and this package: imported by tests only.
	"internal/testkit": 9, "internal/store/pgtest": 9, "internal/blob/blobtest": 9,
	"internal/server/servertest": 9, "internal/layers": 9,
}

// domain is the layer whose packages may import each other.
const domain = 4

// httpAllowed are the packages below the transport layer that may import
// net/http: the blob store (its S3 client's transport, serving files), the
// uplinks (their HTTP client), webhook deliveries (theirs), the route
// table, the metrics endpoint and the ID token verifier (its client fetches
// issuers' keys). Domain packages never do.
var httpAllowed = map[string]bool{"internal/blob": true, "internal/uplink": true, "internal/delivery": true, "internal/route": true,
	"internal/metrics": true, "internal/idtoken": true, "internal/sso": true}

// testOnly may be imported only from tests.
func testOnly(pkg string) bool { return rank[pkg] == 9 }

func TestLayers(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	imports := map[string]map[string]bool{} // package -> imports of its non-test files
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && notGo(d.Name()) {
				return filepath.SkipDir
			}
			if path != root {
				// A folder with a go.mod of its own is another module
				// (bench/floor), outside this one's layers; it must not
				// import this module's packages, which only it could.
				if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
					if err := importsNothingOf(path, module); err != nil {
						return err
					}
					return filepath.SkipDir
				}
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil // tests may drive any package (the server, for real requests)
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		pkg := filepath.ToSlash(rel)
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		if imports[pkg] == nil {
			imports[pkg] = map[string]bool{}
		}
		for _, im := range f.Imports {
			imports[pkg][strings.Trim(im.Path.Value, `"`)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var pkgs []string
	for p := range imports {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	for _, pkg := range pkgs {
		if strings.HasPrefix(pkg, "e2e") {
			continue // end-to-end tests drive the binary; they may use anything
		}
		r, known := rank[pkg]
		if !known {
			t.Errorf("%s is not in the layers table: add it to rank in internal/layers/layers_test.go, in the layer where it belongs (docs/architecture.md)", pkg)
			continue
		}
		for im := range imports[pkg] {
			if im == "net/http" && r < 5 && !httpAllowed[pkg] {
				t.Errorf("%s imports net/http: domain and lower packages never speak HTTP", pkg)
			}
			dep, ok := strings.CutPrefix(im, module)
			if !ok {
				continue
			}
			dr, known := rank[dep]
			switch {
			case !known:
				t.Errorf("%s imports %s, which is not in the layers table", pkg, dep)
			case testOnly(pkg):
				// Test support may use any package it drives.
			case testOnly(dep):
				t.Errorf("%s imports %s, which is for tests only", pkg, dep)
			case dr > r, dr == r && r != domain:
				t.Errorf("%s (layer %d) imports %s (layer %d): a package imports only lower layers", pkg, r, dep, dr)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("the module root was not found at %s: %v", root, err)
	}
}

// notGo reports whether a folder of that name holds no package of a
// module: hidden folders, test data and npm's node_modules.
func notGo(name string) bool {
	return strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules"
}

// importsNothingOf checks that no Go file under dir, another module's
// folder, imports a package of module (a nested module importing the
// outer one would build against whatever version of it its go.mod names).
func importsNothingOf(dir, module string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != dir && notGo(d.Name()) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, im := range f.Imports {
			if strings.HasPrefix(strings.Trim(im.Path.Value, `"`), module) {
				return fmt.Errorf("%s, in a module of its own, imports %s", path, im.Path.Value)
			}
		}
		return nil
	})
}
