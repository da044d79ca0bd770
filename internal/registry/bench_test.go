package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

// benchPublishBody is a publish body for name@1.0.0 whose tarball holds size
// bytes of random data, and the tarball's length.
func benchPublishBody(b *testing.B, name string, size int) ([]byte, int) {
	b.Helper()
	data := make([]byte, size)
	_, _ = rand.NewChaCha8([32]byte{7}).Read(data)
	tgz, err := testkit.Tarball(testkit.File{Name: "package/package.json", Data: fmt.Appendf(nil, `{"name":%q,"version":"1.0.0"}`, name)},
		testkit.File{Name: "package/blob.bin", Data: data})
	if err != nil {
		b.Fatal(err)
	}
	body, err := json.Marshal(testkit.PublishBody(nil, name, "1.0.0", tgz))
	if err != nil {
		b.Fatal(err)
	}
	return body, len(tgz)
}

// BenchmarkReadPublish32MiB: a publish body with a 32 MiB tarball, read as
// the server reads it now (ReadDocument: streamed, spooled to a file) and as
// it read it before (the whole document decoded, then the base64 decoded,
// hashed and checked in memory). B/op is what each holds per publish.
func BenchmarkReadPublish32MiB(b *testing.B) {
	body, size := benchPublishBody(b, "big", 32<<20)
	b.Run("streamed", func(b *testing.B) {
		dir := b.TempDir()
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			doc, err := ReadDocument(bytes.NewReader(body), ReadOptions{MaxPublishDocument: MaxPublishDocument, SpoolDir: dir})
			if err != nil {
				b.Fatal(err)
			}
			pub, err := DecodePublish("big", doc)
			if err != nil || pub.Digest.Size != int64(size) {
				b.Fatal(err)
			}
			doc.Close()
		}
	})
	b.Run("in-memory", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var doc PublishDocument
			if err := json.Unmarshal(body, &doc); err != nil {
				b.Fatal(err)
			}
			pub, err := DecodePublish("big", doc)
			if err != nil || pub.Digest.Size != int64(size) {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSignBacklog: signing the versions written before registry
// signatures, as a node does at its first start after migration 0019: 100
// packages of 5 versions each, signed (one ECDSA signature per version),
// their version documents and packuments rebuilt, one transaction per
// package. ns/package is the time per package.
func BenchmarkSignBacklog(b *testing.B) {
	const packages, versions = 100, 5
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for b.Loop() {
		b.StopTimer()
		svc, alice := newTestService(b, now)
		owner := []store.Owner{{UserID: alice.UserID, Name: alice.UserName, Email: alice.Email}}
		var pkgs []ImportedPackage
		for i := range packages {
			name := fmt.Sprintf("backlog-%d", i)
			tgz, err := testkit.Tarball(testkit.File{Name: "package/package.json", Data: fmt.Appendf(nil, `{"name":%q}`, name)})
			if err != nil {
				b.Fatal(err)
			}
			digest, err := svc.ImportTarball(b.Context(), tgz)
			if err != nil {
				b.Fatal(err)
			}
			p := ImportedPackage{Name: name, Owners: owner}
			for v := range versions {
				ver := fmt.Sprintf("1.0.%d", v)
				p.Versions = append(p.Versions, ImportedVersion{Version: ver, Tarball: digest,
					Manifest:    fmt.Appendf(nil, `{"name":%q,"version":%q,"description":"a package signed late"}`, name, ver),
					PublishedAt: now.Add(-time.Duration(versions-v) * time.Hour).UnixMilli()})
			}
			pkgs = append(pkgs, p)
		}
		if err := svc.Import(b.Context(), pkgs); err != nil {
			b.Fatal(err)
		}
		svc.SetSigner(newSigner(b, svc))
		b.StartTimer()
		n, err := svc.SignBacklog(b.Context())
		if err != nil || n != packages {
			b.Fatalf("signed %d packages (%v), want %d", n, err, packages)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*packages), "ns/package")
}
