package registry

import (
	"bytes"
	"compress/gzip"
	"io"
	"strconv"
	"strings"
	"testing"
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
	if gz.ETag != `"2-1-2-3-abbr-gz"` {
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
