package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

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
