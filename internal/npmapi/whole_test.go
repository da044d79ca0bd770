package npmapi

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// TestWriteWholeMatchesServeContent checks that a tarball from memory sent
// whole to a plain request gets exactly what http.ServeContent gives it:
// status, headers and body, for GET and HEAD, with and without a date, and
// with the header values the registry made for the version
// (Tarball.Validators) as without them.
func TestWriteWholeMatchesServeContent(t *testing.T) {
	published := time.Date(2026, 12, 5, 12, 34, 56, 789_000_000, time.FixedZone("CET", 3600))
	tests := []struct {
		name     string
		method   string
		modified time.Time
		body     []byte
	}{
		{"GET", http.MethodGet, published, bytes.Repeat([]byte("tgz"), 800)},
		{"HEAD", http.MethodHead, published, bytes.Repeat([]byte("tgz"), 800)},
		{"no date", http.MethodGet, time.Time{}, []byte("x")},
		{"the epoch", http.MethodGet, time.Unix(0, 0), []byte("x")},
		{"empty", http.MethodGet, published, []byte{}},
	}
	for _, tt := range tests {
		made := []string{`"sha512abc"`, tt.modified.UTC().Format(http.TimeFormat), strconv.Itoa(len(tt.body))}
		for _, validators := range [][]string{nil, made} {
			name := tt.name
			if validators != nil {
				name += " with validators"
			}
			t.Run(name, func(t *testing.T) {
				r := httptest.NewRequest(tt.method, "/demo/-/demo-1.0.0.tgz", nil)
				if !plainRequest(r) {
					t.Fatal("a request without conditions is not plain")
				}
				want := httptest.NewRecorder()
				want.Header()["Content-Type"] = typeOctets
				http.ServeContent(want, r, "", tt.modified, bytes.NewReader(tt.body))
				got := httptest.NewRecorder()
				got.Header()["Content-Type"] = typeOctets
				writeWhole(got, r, tt.modified, tt.body, validators)
				if got.Code != want.Code || !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) {
					t.Errorf("status %d with %d bytes, ServeContent %d with %d", got.Code, got.Body.Len(), want.Code, want.Body.Len())
				}
				if g, w := got.Header(), want.Header(); len(g) != len(w) {
					t.Errorf("headers %v, ServeContent %v", g, w)
				} else {
					for k := range w {
						if g.Get(k) != w.Get(k) {
							t.Errorf("%s: %q, ServeContent %q", k, g.Get(k), w.Get(k))
						}
					}
				}
			})
		}
	}
}

// TestPlainRequest checks that every header ServeContent acts on, and any
// method but GET and HEAD, leaves the answer to ServeContent.
func TestPlainRequest(t *testing.T) {
	tests := []struct {
		method, header, value string
		plain                 bool
	}{
		{"GET", "", "", true},
		{"HEAD", "", "", true},
		{"GET", "Accept", "*/*", true},
		{"POST", "", "", false},
		{"GET", "Range", "bytes=0-9", false},
		{"GET", "range", "bytes=0-9", false},
		{"GET", "If-Range", `"etag"`, false},
		{"GET", "If-Match", `"etag"`, false},
		{"GET", "If-None-Match", `"etag"`, false},
		{"GET", "If-Modified-Since", "Sat, 05 Dec 2026 12:00:00 GMT", false},
		{"GET", "If-Unmodified-Since", "Sat, 05 Dec 2026 12:00:00 GMT", false},
		{"GET", "If-None-Match", "", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, "/demo/-/demo-1.0.0.tgz", nil)
		if tt.header != "" {
			r.Header.Set(tt.header, tt.value)
		}
		if got := plainRequest(r); got != tt.plain {
			t.Errorf("%s with %s: %q: plain %v, want %v", tt.method, tt.header, tt.value, got, tt.plain)
		}
	}
}
