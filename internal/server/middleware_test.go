package server

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestResolveClientIP(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		name      string
		remote    string
		forwarded []string
		trusted   []netip.Prefix
		want      string
	}{
		{"direct peer", "192.0.2.7:5000", nil, nil, "192.0.2.7"},
		{"header ignored without trusted proxies", "192.0.2.7:5000", []string{"203.0.113.9"}, nil, "192.0.2.7"},
		{"header ignored from an untrusted peer", "192.0.2.7:5000", []string{"203.0.113.9"}, proxies, "192.0.2.7"},
		{"one trusted proxy", "10.1.1.1:443", []string{"203.0.113.9"}, proxies, "203.0.113.9"},
		{"right-most untrusted wins", "10.1.1.1:443", []string{"198.51.100.1, 203.0.113.9, 10.2.2.2"}, proxies, "203.0.113.9"},
		{"several header lines", "10.1.1.1:443", []string{"198.51.100.1", "203.0.113.9"}, proxies, "203.0.113.9"},
		{"spoofed left entries ignored", "10.1.1.1:443", []string{"127.0.0.1, 203.0.113.9"}, proxies, "203.0.113.9"},
		{"garbage stops at the proxy", "10.1.1.1:443", []string{"not-an-ip"}, proxies, "10.1.1.1"},
		{"all hops trusted", "10.1.1.1:443", []string{"10.3.3.3"}, proxies, "10.3.3.3"},
		{"IPv6 peer", "[2001:db8::1]:443", nil, proxies, "2001:db8::1"},
		{"IPv6 trusted proxy", "[fd00::5]:443", []string{"2001:db8::7"}, proxies, "2001:db8::7"},
		{"IPv4-mapped IPv6 peer", "[::ffff:192.0.2.7]:443", nil, nil, "192.0.2.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resolveClientIP(peerIP(tt.remote), tt.forwarded, tt.trusted)
			if got.String() != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// readerFromWriter is a ResponseWriter whose ReadFrom records what it was handed.
type readerFromWriter struct {
	httptest.ResponseRecorder
	from io.Reader
}

func (w *readerFromWriter) ReadFrom(src io.Reader) (int64, error) {
	w.from = src
	return io.Copy(&w.ResponseRecorder, src)
}

// TestRecorderPassesReadFrom: the access log's recorder hands a file to the
// writer underneath (net/http's, which sends it with sendfile), and still
// counts the bytes and the status; over a writer without ReadFrom it copies.
// Anything else (a tarball from memory, as io.CopyN in http.ServeContent
// hands it) is copied through Write, not handed on, so that net/http sends
// a small answer in one write with its headers.
func TestRecorderPassesReadFrom(t *testing.T) {
	t.Run("a file", testRecorderReadFromFile)
	body := bytes.Repeat([]byte("in memory "), 300)
	sources := []struct {
		name string
		src  io.Reader
		want []byte
	}{
		{"bytes.Reader", bytes.NewReader(body), body},
		{"bytes.Reader in a LimitedReader", io.LimitReader(bytes.NewReader(body), int64(len(body))), body},
		{"part of a bytes.Reader (a range)", io.LimitReader(bytes.NewReader(body), 1000), body[:1000]},
		{"a reader of unknown kind", io.MultiReader(bytes.NewReader(body)), body},
	}
	for _, tt := range sources {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.want
			under := &readerFromWriter{ResponseRecorder: *httptest.NewRecorder()}
			rec := &statusRecorder{ResponseWriter: under}
			n, err := rec.ReadFrom(tt.src)
			if err != nil || n != int64(len(body)) {
				t.Fatalf("copied %d, %v; want %d", n, err, len(body))
			}
			if under.from != nil {
				t.Errorf("the writer underneath was handed %T; a source in memory must go through Write", under.from)
			}
			if rec.bytes != int64(len(body)) || rec.status != http.StatusOK {
				t.Errorf("recorded %d bytes, status %d", rec.bytes, rec.status)
			}
			if !bytes.Equal(under.ResponseRecorder.Body.Bytes(), body) {
				t.Errorf("the body differs")
			}
		})
	}
}

func testRecorderReadFromFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "blob")
	body := bytes.Repeat([]byte("tarball "), 4096)
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, withReadFrom := range []bool{true, false} {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		under := &readerFromWriter{ResponseRecorder: *httptest.NewRecorder()}
		var w http.ResponseWriter = under
		if !withReadFrom {
			w = &under.ResponseRecorder
		}
		rec := &statusRecorder{ResponseWriter: w}
		n, err := io.Copy(rec, f)
		f.Close()
		if err != nil || n != int64(len(body)) {
			t.Fatalf("ReadFrom=%v: copied %d, %v; want %d", withReadFrom, n, err, len(body))
		}
		// What net/http's ReadFrom needs for sendfile: the file's descriptor.
		if _, isConn := under.from.(syscall.Conn); withReadFrom && !isConn {
			t.Fatalf("the writer underneath got %T, which hides the file's descriptor", under.from)
		}
		if rec.bytes != int64(len(body)) || rec.status != http.StatusOK {
			t.Fatalf("ReadFrom=%v: recorded %d bytes, status %d", withReadFrom, rec.bytes, rec.status)
		}
		if !bytes.Equal(under.ResponseRecorder.Body.Bytes(), body) {
			t.Fatalf("ReadFrom=%v: the body differs", withReadFrom)
		}
	}
}
