package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

// paced is a registry that lets a transfer stall 1 s, then asks for rate
// bytes a second.
func paced(rate int64) func(*config.Config) {
	return func(c *config.Config) {
		c.TransferTimeout, c.MinTransferRate, c.MaxBodySize = time.Second, rate, 64<<20
	}
}

// TestTricklingBodyIsCut: a client that sends a request body a byte at a
// time is disconnected within the transfer bound, signed in or not. Before,
// only the request's head had a deadline, and such a client held its
// connection and its handler for as long as it liked.
func TestTricklingBodyIsCut(t *testing.T) {
	tr := newTestRegistry(t, paced(1024))
	alice := tr.user("alice")
	tests := []struct{ what, head string }{
		{"an anonymous login", "PUT /-/user/org.couchdb.user:bob HTTP/1.1\r\n"},
		{"a signed-in publish", "PUT /demo HTTP/1.1\r\nAuthorization: Bearer " + alice + "\r\n"},
		{"an anonymous publish, refused before its body", "PUT /demo HTTP/1.1\r\n"},
		{"a chunked body", "POST /-/v1/login HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"},
	}
	for _, tt := range tests {
		conn, err := net.Dial("tcp", strings.TrimPrefix(tr.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		head := tt.head + "Host: registry\r\nContent-Type: application/json\r\n"
		if !strings.Contains(head, "chunked") {
			head += "Content-Length: 10000\r\n"
		}
		if _, err := io.WriteString(conn, head+"\r\n"); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		stop := make(chan struct{})
		go func() { // one byte (or one chunk of one byte) every 200 ms
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(200 * time.Millisecond):
				}
				b := "{"
				if i > 0 {
					b = " "
				}
				if strings.Contains(head, "chunked") {
					b = "1\r\n" + b + "\r\n"
				}
				if _, err := io.WriteString(conn, b); err != nil {
					return
				}
			}
		}()
		// The server answers (or just closes) and the connection ends.
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = io.Copy(io.Discard, conn)
		elapsed := time.Since(start)
		close(stop)
		conn.Close()
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("%s: the connection was still open after %v", tt.what, elapsed.Round(time.Millisecond))
			continue
		}
		// 1 s of grace, and the few bytes sent earn little more.
		if elapsed > 3*time.Second {
			t.Errorf("%s: cut after %v, want within 3s", tt.what, elapsed.Round(time.Millisecond))
		}
	}
}

// TestSlowReaderIsCut: a client that asks for a large tarball and reads
// none of it is disconnected once the response's bound (1 s and its length
// at the rate) has passed, instead of holding the handler.
func TestSlowReaderIsCut(t *testing.T) {
	tr := newTestRegistry(t, paced(8<<20))
	alice := tr.user("alice")
	tgz := bigTarball(t, "big", "1.0.0", 16<<20)
	if res := tr.do("PUT", "/big", alice, testkit.PublishBody(nil, "big", "1.0.0", tgz)); res.status != 201 {
		t.Fatalf("publish: %d %s", res.status, res.body)
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(tr.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.(*net.TCPConn).SetReadBuffer(16 << 10)
	if _, err := io.WriteString(conn, "GET /big/-/big-1.0.0.tgz HTTP/1.1\r\nHost: registry\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// Read nothing for longer than the bound (1 s + 16 MiB at 8 MiB/s).
	time.Sleep(5 * time.Second)
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the head of the answer: %v", err)
	}
	n, err := io.Copy(io.Discard, res.Body)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the connection was still open: %v", err)
	}
	if n >= int64(len(tgz)) {
		t.Fatalf("the whole tarball (%d bytes) came to a client that stalled past the bound", n)
	}
	// A client that reads at once gets it all.
	got := tr.do("GET", "/big/-/big-1.0.0.tgz", "", nil)
	if got.status != 200 || !bytes.Equal(got.body, tgz) {
		t.Fatalf("a normal download: %d, %d bytes", got.status, len(got.body))
	}
}

// TestLargePublishAtNormalRateWorks: a publish whose body keeps to the
// minimum rate succeeds, however long it takes past the grace: here 3 MiB
// sent at about twice a floor of 512 KiB/s, over 3 s.
func TestLargePublishAtNormalRateWorks(t *testing.T) {
	tr := newTestRegistry(t, paced(512<<10))
	alice := tr.user("alice")
	tgz := bigTarball(t, "slowpub", "1.0.0", 2<<20)
	body, _ := json.Marshal(testkit.PublishBody(nil, "slowpub", "1.0.0", tgz))
	req, _ := http.NewRequest("PUT", tr.url+"/slowpub", &throttled{r: bytes.NewReader(body), rate: 1 << 20, start: time.Now()})
	req.ContentLength = int64(len(body))
	req.Header.Set("Authorization", "Bearer "+alice)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	msg, _ := io.ReadAll(res.Body)
	if res.StatusCode != 201 {
		t.Fatalf("a publish of %d bytes at 1 MiB/s: %d %s after %v", len(body), res.StatusCode, msg, time.Since(start))
	}
	if elapsed := time.Since(start); elapsed < 2*time.Second {
		t.Fatalf("the throttled body took only %v: the test did not test the rate", elapsed)
	}
}

// bigTarball is a package tarball holding size bytes of random data (which
// gzip cannot shrink).
func bigTarball(t testing.TB, name, version string, size int) []byte {
	t.Helper()
	data := make([]byte, size)
	rng := rand.NewChaCha8([32]byte{1})
	_, _ = rng.Read(data)
	tgz, err := testkit.Tarball(testkit.File{Name: "package/package.json", Data: fmt.Appendf(nil, `{"name":%q,"version":%q}`, name, version)},
		testkit.File{Name: "package/blob.bin", Data: data})
	if err != nil {
		t.Fatal(err)
	}
	return tgz
}

// throttled reads r at about rate bytes a second.
type throttled struct {
	r     io.Reader
	rate  int
	start time.Time
	n     int
}

func (t *throttled) Read(p []byte) (int, error) {
	p = p[:min(len(p), t.rate/20)]
	if due := t.start.Add(time.Duration(float64(t.n) / float64(t.rate) * float64(time.Second))); time.Now().Before(due) {
		time.Sleep(time.Until(due))
	}
	n, err := t.r.Read(p)
	t.n += n
	return n, err
}

// TestConnDeadlinesFound checks that pace finds the connection's deadlines
// through the writers around net/http's (each with Unwrap), as
// http.ResponseController does, and that a writer without them answers
// http.ErrNotSupported, which pace ignores.
func TestConnDeadlinesFound(t *testing.T) {
	found := make(chan deadlines, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		found <- connDeadlines(&pacedWriter{ResponseWriter: &statusRecorder{ResponseWriter: w}})
	}))
	defer srv.Close()
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	d := <-found
	if _, ok := d.(noDeadlines); ok {
		t.Fatal("the deadlines of net/http's writer were not found under two wrappers")
	}
	if _, ok := d.(http.ResponseWriter); !ok {
		t.Fatalf("found %T, want net/http's writer", d)
	}
	none := connDeadlines(&statusRecorder{ResponseWriter: httptest.NewRecorder()})
	if err := none.SetWriteDeadline(time.Now()); !errors.Is(err, http.ErrNotSupported) {
		t.Fatalf("a recorder's write deadline: %v, want http.ErrNotSupported", err)
	}
	if err := none.SetReadDeadline(time.Now()); !errors.Is(err, http.ErrNotSupported) {
		t.Fatalf("a recorder's read deadline: %v, want http.ErrNotSupported", err)
	}
}
