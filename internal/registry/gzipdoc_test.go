package registry

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

// TestGzipDocument: the gzipped form of a document decompresses to it, has
// an ETag and validators of its own, and is counted against the cache's
// bound at its compressed size: the bytes it keeps, sized to fit.
func TestGzipDocument(t *testing.T) {
	body := []byte(`{"name":"demo","versions":{` + strings.Repeat(`"1.0.0":{"dist":{"tarball":"http://127.0.0.1:4873/demo/-/demo-1.0.0.tgz"}},`, 40) + `"9.9.9":{}}}`)
	plain := fill(body, `"2-1-2-3-abbr"`, 1_700_000_000_000, "", false)
	gz := gzipDocument(plain)

	zr, err := gzip.NewReader(bytes.NewReader(gz.Body))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	got, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("gunzip: %v, %q", err, got)
	}
	if gz.Encoding != "gzip" || plain.Encoding != "" {
		t.Fatalf("encodings %q (gzipped) and %q (plain)", gz.Encoding, plain.Encoding)
	}
	if gz.ETag != `"2-1-2-3-abbr.gz"` || JSONETag(gz.ETag) != plain.ETag || GzipETag(gz.ETag) != gz.ETag {
		t.Fatalf("gzipped ETag %s", gz.ETag)
	}
	want := []string{gz.ETag, plain.LastModified, strconv.Itoa(len(gz.Body))}
	if strings.Join(gz.Validators, "|") != strings.Join(want, "|") {
		t.Fatalf("validators %q, want %q", gz.Validators, want)
	}
	if cap(gz.Body) > heapBytes(len(gz.Body)) {
		t.Fatalf("the kept body has room for %d bytes, holds %d", cap(gz.Body), len(gz.Body))
	}
	k := docKey{name: "demo", kind: kindAbbreviatedGzip}
	pc, gc := entryCost(k, &docEntry{doc: plain}), entryCost(k, &docEntry{doc: gz})
	if saved := pc - gc; saved < heapBytes(len(body))-heapBytes(len(gz.Body)) {
		t.Fatalf("entry cost %d plain, %d gzipped: the %d bytes compression saved are not counted", pc, gc,
			len(body)-len(gz.Body))
	}
	// The plain document is left as it was.
	if !bytes.Equal(plain.Body, body) || plain.ETag != `"2-1-2-3-abbr"` {
		t.Fatalf("the plain document changed: %s %s", plain.ETag, plain.Body)
	}
}

// scaleLikeDocument is an abbreviated packument shaped like bench/scale.sh's
// (versions with two dependencies, an integrity, a shasum and a signature
// each, about 700 bytes a version): random hashes, as real ones are, which
// is what compression cannot shrink.
func scaleLikeDocument(tb testing.TB, versions int) []byte {
	tb.Helper()
	random := func(n int) string { return base64.StdEncoding.EncodeToString(testkit.RandomBytes(tb, n)) }
	var sb strings.Builder
	sb.WriteString(`{"name":"scale-map-005000","modified":"2026-01-01T01:25:20.000Z","dist-tags":{"latest":"1.0.0"},"versions":{`)
	for i := range versions {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `"1.0.%d":{"dependencies":{"scale-import-005007":"^1.0.0","scale-set-005001":"^1.0.0"},`+
			`"dist":{"fileCount":4,"integrity":"sha512-%s","shasum":"%x","signatures":[{"keyid":"SHA256:%s","sig":"%s"}],`+
			`"tarball":"http://127.0.0.1:4873/scale-map-005000/-/scale-map-005000-1.0.%d.tgz","unpackedSize":2959},`+
			`"engines":{"node":">=18"},"license":"MIT","name":"scale-map-005000","version":"1.0.%d"}`,
			i, random(64), random(20)[:20], random(32)[:43], random(71), i, i)
	}
	sb.WriteString(`}}`)
	return []byte(sb.String())
}

// BenchmarkGzipDocument is what a cache miss pays to keep a document
// gzipped: docs/benchmarks.md, "Packuments gzipped".
func BenchmarkGzipDocument(b *testing.B) {
	for _, versions := range []int{3, 30} {
		doc := fill(scaleLikeDocument(b, versions), `"2-1-2-3-abbr"`, 1_700_000_000_000, "", false)
		b.Run(fmt.Sprintf("versions=%d", versions), func(b *testing.B) {
			var gz Document
			for b.Loop() {
				gz = gzipDocument(doc)
			}
			b.ReportMetric(float64(len(doc.Body)), "plain-bytes")
			b.ReportMetric(float64(len(gz.Body)), "gzip-bytes")
		})
	}
}

// TestGzipKeptFromTheSecondRead: a document's first read after a change
// goes out as JSON and costs no compression; its next read compresses the
// cached entry in place, which then costs less against the cache's bound
// and is served gzipped until the package changes.
func TestGzipKeptFromTheSecondRead(t *testing.T) {
	svc, alice := newTestService(t, time.Now())
	// Development dependencies are in the abbreviated packument: 300 take
	// it past GzipMinBytes.
	big := map[string]any{"devDependencies": testkit.Dependencies(300)}
	if err := publishVersionWith(t, svc, alice, "lazy", "1.0.0", big); err != nil {
		t.Fatal(err)
	}
	if err := publishVersion(t, svc, alice, "small", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	readOf := func(name string) Document {
		t.Helper()
		d, err := svc.PackumentGzip(t.Context(), alice, name, true, "http://127.0.0.1:4873")
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	read := func() Document { t.Helper(); return readOf("lazy") }
	// A document under GzipMinBytes stays JSON.
	for range 3 {
		if d := readOf("small"); d.Encoding != "" || len(d.Body) >= GzipMinBytes {
			t.Fatalf("small document: encoding %q, %d bytes", d.Encoding, len(d.Body))
		}
	}
	for version := range 2 {
		first := read()
		_, before, _ := svc.CacheUse()
		second := read()
		_, after, _ := svc.CacheUse()
		third := read()
		if first.Encoding != "" || second.Encoding != "gzip" || third.Encoding != "gzip" {
			t.Fatalf("version %d: encodings %q, %q, %q; want JSON, then gzip", version, first.Encoding, second.Encoding, third.Encoding)
		}
		if after >= before {
			t.Fatalf("version %d: the cache counts %d bytes after compressing, %d before", version, after, before)
		}
		if second.ETag != GzipETag(first.ETag) || third.ETag != second.ETag || &third.Body[0] != &second.Body[0] {
			t.Fatalf("version %d: ETags %s, %s, %s; the third read must be the kept gzip form", version, first.ETag, second.ETag, third.ETag)
		}
		if version == 0 {
			if err := publishVersionWith(t, svc, alice, "lazy", "1.1.0", big); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestCompressKeepsNewerEntries: compressing an entry that another read
// has replaced meanwhile serves the compressed form once and keeps the
// newer entry.
func TestCompressKeepsNewerEntries(t *testing.T) {
	c := newDocCache(1 << 20)
	k := docKey{name: "raced", kind: kindAbbreviatedGzip}
	doc := fill(scaleLikeDocument(t, 3), `"1-1-1-1-abbr"`, 1_700_000_000_000, "", false)
	older := &docEntry{gen: c.genOf(k.name), doc: doc}
	c.put(k, older)
	newer := &docEntry{gen: c.genOf(k.name), doc: doc}
	c.put(k, newer)
	_, bytesBefore, _ := c.size()
	if got := c.compress(k, older); got.doc.Encoding != "gzip" {
		t.Fatalf("compress returned encoding %q", got.doc.Encoding)
	}
	if e, ok := c.get(k); !ok || e != newer {
		t.Fatal("compressing a replaced entry displaced the newer one")
	}
	if _, bytesAfter, _ := c.size(); bytesAfter != bytesBefore {
		t.Fatalf("the cache counts %d bytes, %d before: the discarded compression was counted", bytesAfter, bytesBefore)
	}
	gz := c.compress(k, newer)
	if e, ok := c.get(k); !ok || e != gz || e.doc.Encoding != "gzip" {
		t.Fatal("the current entry was not replaced by its compressed form")
	}
}

// TestWithBase: a document read without a base, filled with one, is what
// a read with that base gives (bytes, ETag, validators); a gzipped
// document, one without an ETag (a failed read's) or an empty base leaves
// it as it is.
func TestWithBase(t *testing.T) {
	body := []byte(`{"dist":{"tarball":"` + BasePlaceholder + `/a/-/a-1.0.0.tgz"},"x":"` + BasePlaceholder + `"}`)
	template := fill(body, `"e-1"`, 1_700_000_000_000, "", false)
	for _, base := range []string{"http://127.0.0.1:4873", "https://npm.example/registry", `http://a"b`} {
		got, want := WithBase(template, base), fill(body, `"e-1"`, 1_700_000_000_000, base, false)
		if !bytes.Equal(got.Body, want.Body) || got.ETag != want.ETag || !slices.Equal(got.Validators, want.Validators) ||
			got.LastModified != want.LastModified || got.ETag == template.ETag {
			t.Errorf("base %q: got %q %s %v, want %q %s %v", base, got.Body, got.ETag, got.Validators, want.Body, want.ETag, want.Validators)
		}
	}
	if !bytes.Equal(template.Body, body) {
		t.Errorf("WithBase changed the template: %s", template.Body)
	}
	if got := WithBase(template, ""); got.ETag != template.ETag || !bytes.Equal(got.Body, body) {
		t.Errorf("an empty base: %s %s", got.Body, got.ETag)
	}
	if got := WithBase(Document{}, "http://x"); got.ETag != "" || got.Body != nil {
		t.Errorf("an empty document: %q %s", got.Body, got.ETag)
	}
	gz := gzipDocument(template)
	if got := WithBase(gz, "http://x"); got.ETag != gz.ETag || !bytes.Equal(got.Body, gz.Body) {
		t.Errorf("a gzipped document was changed: %s", got.ETag)
	}
}
