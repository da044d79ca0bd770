package registry

import (
	"bytes"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
)

// gzipWriters holds gzip writers for gzipDocument: a writer's state is large
// (hundreds of KB), and reset, not remade, for each document.
var gzipWriters = sync.Pool{New: func() any {
	// BestSpeed: a document is compressed on a cache miss, on the request
	// path. Measured on the scale store's documents (2 KB abbreviated,
	// 5 KB full), it costs three quarters of the default level's time for
	// 2 to 7% more bytes, and this package's compressor two thirds of the
	// standard library's time (docs/benchmarks.md, "Packuments gzipped").
	w, err := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	if err != nil {
		panic(err) // BestSpeed is a valid level
	}
	return w
}}

// gzipDocument returns d with its Body compressed with gzip, an ETag of its
// own (GzipETag of d's: the bytes differ, so must a strong validator) and
// its validators remade. The compressed Body is a slice of its own, sized
// to fit (it is kept in a cache, counted by its capacity).
func gzipDocument(d Document) Document {
	var buf bytes.Buffer
	buf.Grow(len(d.Body)/2 + 64)
	w := gzipWriters.Get().(*gzip.Writer)
	w.Reset(&buf)
	// Writing to a bytes.Buffer does not fail.
	_, _ = w.Write(d.Body)
	_ = w.Close()
	w.Reset(nil) // drop the buffer before pooling the writer
	gzipWriters.Put(w)
	d.Body = bytes.Clone(buf.Bytes())
	d.Encoding = "gzip"
	d.ETag = GzipETag(d.ETag)
	d.Validators = []string{d.ETag, d.LastModified, strconv.Itoa(len(d.Body))}
	return d
}

// GzipMinBytes is the smallest document sent gzipped: one smaller goes
// as JSON. Gzip would save it at most a few KB, a packet or two, for 15 to
// 30 µs of CPU to compress it, which on the scale store's documents (2 and
// 5 KB) cost the big store 7 to 10% of its packument throughput in
// bench/scale.sh (docs/benchmarks.md, "Packuments gzipped"); a document
// with a README or more than a few versions is larger, and shrinks three
// to ten times. nginx's gzip_min_length is the same knob.
const GzipMinBytes = 8 << 10

// worthGzip reports whether d is sent, and kept, gzipped when the client
// accepts it.
func worthGzip(d *Document) bool { return d.Encoding == "" && len(d.Body) >= GzipMinBytes }

// gzipMark ends the ETag of a document's gzip form, inside the quotes. No
// ETag of a JSON form has a dot: see GzipETag.
const gzipMark = ".gz"

// GzipETag returns the ETag of the gzip form of the document whose JSON
// form has etag (a quoted, strong ETag; anything else is returned as it
// is).
func GzipETag(etag string) string {
	if len(etag) < 2 || !strings.HasSuffix(etag, `"`) || strings.HasSuffix(etag, gzipMark+`"`) {
		return etag
	}
	return etag[:len(etag)-1] + gzipMark + `"`
}

// JSONETag returns the ETag of the JSON form of the document whose gzip
// form has etag, or "" when etag is not a gzip form's.
func JSONETag(etag string) string {
	base, ok := strings.CutSuffix(etag, gzipMark+`"`)
	if !ok {
		return ""
	}
	return base + `"`
}
