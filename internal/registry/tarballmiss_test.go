package registry

import (
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// TestTarballMiss reads tarballs with nothing cached (the package's row
// and the version's file read together, Queries.PackageVersionFile), with
// the row cached and not the version, and with both cached: each serves
// the version's blob, or NotFound for what does not exist, and a miss
// leaves both the row and the version cached.
func TestTarballMiss(t *testing.T) {
	svc, alice := newTestService(t, time.Date(2026, 12, 5, 19, 0, 0, 0, time.UTC))
	ctx := t.Context()
	for _, v := range []string{"1.0.0", "2.0.0"} {
		if err := publishVersion(t, svc, alice, "lib", v); err != nil {
			t.Fatal(err)
		}
	}
	pkg, err := svc.store.Q().PackageByName(ctx, "lib")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, pkg, file string
		warmRow         bool // the row cached before the read
		want            string
	}{
		{"cold, a version", "lib", "lib-1.0.0.tgz", false, "1.0.0"},
		{"cold, another version", "lib", "lib-2.0.0.tgz", false, "2.0.0"},
		{"cold, a missing version", "lib", "lib-3.0.0.tgz", false, ""},
		{"cold, a missing package", "nothing", "nothing-1.0.0.tgz", false, ""},
		{"cold, another package's file name", "lib", "other-1.0.0.tgz", false, ""},
		{"row cached, a version", "lib", "lib-2.0.0.tgz", true, "2.0.0"},
		{"row cached, a missing version", "lib", "lib-3.0.0.tgz", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc.docs = newDocCache(DefaultCacheBytes)
			if tt.warmRow {
				if _, err := svc.cached(ctx, svc.store.Q(), tt.pkg, kindRow, ""); err != nil {
					t.Fatal(err)
				}
			}
			for _, pass := range []string{"first", "again"} {
				got, err := svc.Tarball(ctx, alice, tt.pkg, tt.file)
				if tt.want == "" {
					if !fault.Is(err, fault.NotFound) {
						t.Fatalf("%s read: %+v %v, want NotFound", pass, got, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s read: %v", pass, err)
				}
				if got.Reader != nil {
					got.Reader.Close()
				}
				want, err := svc.store.Q().VersionFile(ctx, pkg.ID, tt.want)
				if err != nil {
					t.Fatal(err)
				}
				if got.Key != want.BlobKey || got.Size != want.Size || len(got.Validators) != 3 {
					t.Fatalf("%s read: key %s size %d validators %q, want %s %d", pass, got.Key, got.Size, got.Validators, want.BlobKey, want.Size)
				}
				if _, _, ok := svc.docs.getVersion(versionKey{pkgID: pkg.ID, version: tt.want, name: tt.pkg}); !ok {
					t.Fatalf("%s read: the version is not cached", pass)
				}
			}
			if _, ok := svc.docs.get(docKey{name: tt.pkg, kind: kindRow}); !ok {
				t.Fatal("the row is not cached")
			}
		})
	}
}
