package uplink

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// upstream is a test registry that answers with handler and records what
// it was asked.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
}

func newUpstream(t *testing.T, handler http.HandlerFunc) *upstream {
	t.Helper()
	up := &upstream{}
	up.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up.mu.Lock()
		up.reqs = append(up.reqs, r.Clone(context.Background()))
		up.mu.Unlock()
		handler(w, r)
	}))
	t.Cleanup(up.Close)
	return up
}

func (up *upstream) requests() []*http.Request {
	up.mu.Lock()
	defer up.mu.Unlock()
	return append([]*http.Request(nil), up.reqs...)
}

// uplinkTo is an uplink at up's URL with the token "tok" and spec changes.
func uplinkTo(t *testing.T, rawURL string, modify ...func(*Spec)) *Uplink {
	t.Helper()
	s := NewSpec("up", rawURL)
	s.TokenEnv = "TOK"
	for _, m := range modify {
		m(&s)
	}
	u, err := New(s, Secrets{Getenv: func(string) string { return "tok" }})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestFetchPackument(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.Header().Set("ETag", `"v1"`)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Last-Modified", "Mon, 01 Jun 2026 12:00:00 GMT")
		_, _ = io.WriteString(w, `{"name":"@types/node"}`)
	})
	u := uplinkTo(t, up.URL+"/npm")
	f, err := u.FetchPackument(t.Context(), "@types/node", true, Validators{})
	if err != nil {
		t.Fatal(err)
	}
	if string(f.Body) != `{"name":"@types/node"}` || f.ETag != `"v1"` || f.LastModified != "Mon, 01 Jun 2026 12:00:00 GMT" || f.NotModified {
		t.Fatalf("fetched %+v", f)
	}
	f, err = u.FetchPackument(t.Context(), "@types/node", false, Validators{ETag: `"v1"`, LastModified: "Mon, 01 Jun 2026 12:00:00 GMT"})
	if err != nil || !f.NotModified || len(f.Body) != 0 {
		t.Fatalf("revalidated: %+v, %v", f, err)
	}
	reqs := up.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	if reqs[0].URL.EscapedPath() != "/npm/@types%2Fnode" && reqs[0].URL.EscapedPath() != "/npm/@types%2fnode" {
		t.Errorf("asked for %s", reqs[0].URL.EscapedPath())
	}
	if !strings.HasPrefix(reqs[0].Header.Get("Accept"), "application/vnd.npm.install-v1+json") || reqs[1].Header.Get("Accept") != "application/json" {
		t.Errorf("Accept: %q then %q", reqs[0].Header.Get("Accept"), reqs[1].Header.Get("Accept"))
	}
	if reqs[0].Header.Get("If-None-Match") != "" || reqs[1].Header.Get("If-None-Match") != `"v1"` ||
		reqs[1].Header.Get("If-Modified-Since") != "Mon, 01 Jun 2026 12:00:00 GMT" {
		t.Errorf("validators sent: %q, then %q / %q", reqs[0].Header.Get("If-None-Match"),
			reqs[1].Header.Get("If-None-Match"), reqs[1].Header.Get("If-Modified-Since"))
	}
	for _, r := range reqs {
		if r.Header.Get("Authorization") != "Bearer tok" {
			t.Errorf("Authorization %q, want the uplink's token", r.Header.Get("Authorization"))
		}
	}
}

// TestFetchErrors maps each way an uplink can fail to a fault that names it.
func TestFetchErrors(t *testing.T) {
	big := strings.Repeat("x", 2<<10)
	tests := []struct {
		name    string
		handler http.HandlerFunc
		modify  func(*Spec)
		kind    fault.Kind
		want    string
	}{
		{"404", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }, nil, fault.NotFound, "Not found"},
		{"410", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusGone) }, nil, fault.NotFound, "Not found"},
		{"401", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) }, nil, fault.Upstream,
			"uplink up refused the packument of x (401 Unauthorized): check the uplink's token"},
		{"503", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }, nil, fault.Upstream,
			"uplink up answered 503 Service Unavailable for the packument of x"},
		{"a 304 never asked for", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotModified) }, nil,
			fault.Upstream, "answered 304"},
		{"too large, announced", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			_, _ = io.WriteString(w, big)
		}, func(s *Spec) { s.MaxPackumentSize = 1 << 10 }, fault.Upstream, "larger than the 1KiB limit (2KiB): refused"},
		{"too large, chunked", func(w http.ResponseWriter, r *http.Request) {
			for range 4 {
				_, _ = io.WriteString(w, big[:1000])
				w.(http.Flusher).Flush()
			}
		}, func(s *Spec) { s.MaxPackumentSize = 1 << 10 }, fault.Upstream, "larger than the 1KiB limit: refused"},
		{"no headers in time", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
			}
		}, func(s *Spec) { s.ResponseTimeout = 100 * time.Millisecond }, fault.UpstreamTimeout, "uplink up did not send the packument of x in time"},
		{"a body too slow for the whole-request timeout", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, `{"name":`)
			w.(http.Flusher).Flush()
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
			}
		}, func(s *Spec) { s.Timeout = 200 * time.Millisecond }, fault.UpstreamTimeout, "did not send the packument of x in time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, tt.handler)
			var mods []func(*Spec)
			if tt.modify != nil {
				mods = append(mods, tt.modify)
			}
			_, err := uplinkTo(t, up.URL, mods...).FetchPackument(t.Context(), "x", true, Validators{})
			if !fault.Is(err, tt.kind) {
				t.Fatalf("error %v is a %v, want %v", err, fault.KindOf(err), tt.kind)
			}
			e, _ := fault.As(err)
			if !strings.Contains(e.Message, tt.want) {
				t.Errorf("message %q lacks %q", e.Message, tt.want)
			}
			if strings.Contains(err.Error(), "tok") && !strings.Contains(tt.want, "tok") {
				t.Errorf("the error shows the token: %v", err)
			}
		})
	}

	t.Run("nobody listening", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		_, err = uplinkTo(t, "http://"+addr).FetchPackument(t.Context(), "x", true, Validators{})
		if e, ok := fault.As(err); !ok || e.Kind != fault.Upstream || !strings.Contains(e.Message, "uplink up could not be reached") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("offline", func(t *testing.T) {
		up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {})
		u := uplinkTo(t, up.URL, func(s *Spec) { s.Offline = true })
		_, err := u.FetchPackument(t.Context(), "x", true, Validators{})
		if !fault.Is(err, fault.Upstream) || !strings.Contains(err.Error(), "offline") {
			t.Errorf("offline fetch: %v", err)
		}
		if _, err := u.OpenTarball(t.Context(), up.URL+"/x/-/x-1.0.0.tgz", "x", "1.0.0"); err == nil {
			t.Error("an offline uplink fetched a tarball")
		}
		if err := u.Ping(t.Context()); err == nil {
			t.Error("an offline uplink was pinged")
		}
		if n := len(up.requests()); n != 0 {
			t.Errorf("an offline uplink got %d requests", n)
		}
	})
}

func TestOpenTarball(t *testing.T) {
	data := bytes.Repeat([]byte("tarball!"), 512) // 4 KiB
	other := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(data) })
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/x/-/x-1.0.0.tgz":
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			_, _ = w.Write(data)
		case "/chunked.tgz":
			_, _ = w.Write(data)
		case "/moved.tgz":
			http.Redirect(w, r, other.URL+"/elsewhere.tgz", http.StatusFound)
		case "/slow.tgz":
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			_, _ = w.Write(data[:100])
			w.(http.Flusher).Flush()
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
			}
		default:
			http.NotFound(w, r)
		}
	})
	u := uplinkTo(t, up.URL)
	d, err := u.OpenTarball(t.Context(), up.URL+"/x/-/x-1.0.0.tgz", "x", "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(d.Body)
	d.Body.Close()
	if err != nil || !bytes.Equal(got, data) || d.Size != int64(len(data)) {
		t.Fatalf("read %d bytes (size %d), %v", len(got), d.Size, err)
	}

	// A redirect elsewhere is followed without the token.
	d, err = u.OpenTarball(t.Context(), up.URL+"/moved.tgz", "x", "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, d.Body)
	d.Body.Close()
	if reqs := other.requests(); len(reqs) != 1 || reqs[0].Header.Get("Authorization") != "" {
		t.Fatalf("the other host got %d requests, the last with Authorization %q", len(reqs), reqs[len(reqs)-1].Header.Get("Authorization"))
	}

	_, err = u.OpenTarball(t.Context(), up.URL+"/missing.tgz", "x", "1.0.0")
	if !fault.Is(err, fault.NotFound) {
		t.Errorf("a missing tarball: %v", err)
	}

	small := uplinkTo(t, up.URL, func(s *Spec) { s.MaxTarballSize = 1 << 10 })
	if _, err := small.OpenTarball(t.Context(), up.URL+"/x/-/x-1.0.0.tgz", "x", "1.0.0"); !fault.Is(err, fault.Upstream) ||
		!strings.Contains(err.Error(), "larger than the 1KiB limit (4KiB)") {
		t.Errorf("a tarball announced over the limit: %v", err)
	}
	d, err = small.OpenTarball(t.Context(), up.URL+"/chunked.tgz", "x", "1.0.0")
	if err != nil {
		t.Fatal(err) // chunked: the size shows only while reading
	}
	_, err = io.ReadAll(d.Body)
	d.Body.Close()
	if !fault.Is(err, fault.Upstream) || !strings.Contains(err.Error(), "larger than the 1KiB limit") {
		t.Errorf("reading a tarball over the limit: %v", err)
	}

	slow := uplinkTo(t, up.URL, func(s *Spec) { s.Timeout = 200 * time.Millisecond })
	d, err = slow.OpenTarball(t.Context(), up.URL+"/slow.tgz", "x", "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(d.Body)
	d.Body.Close()
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Kind != fault.UpstreamTimeout {
		t.Errorf("a tarball slower than the timeout: %v", err)
	}
}

func TestPing(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	if err := uplinkTo(t, up.URL).Ping(t.Context()); err != nil {
		t.Errorf("an uplink answering 404 does not answer: %v", err)
	}
	up.Close()
	if err := uplinkTo(t, up.URL).Ping(t.Context()); err == nil {
		t.Error("a closed uplink answers")
	}
}

// TestFetchKeys: the uplink's /-/npm/v1/keys is asked with the uplink's
// token and returned as sent; no keys, an error, a body over the bound and
// an offline uplink are faults.
func TestFetchKeys(t *testing.T) {
	const keys = `{"keys":[{"expires":null,"keyid":"SHA256:k","keytype":"ecdsa-sha2-nistp256","scheme":"ecdsa-sha2-nistp256","key":"AAAA"}]}`
	tests := []struct {
		name    string
		handler http.HandlerFunc
		offline bool
		want    string
		kind    fault.Kind
	}{
		{name: "keys", handler: func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/npm/-/npm/v1/keys" || r.Header.Get("Authorization") != "Bearer tok" {
				http.Error(w, "wrong request", http.StatusBadRequest)
				return
			}
			_, _ = io.WriteString(w, keys)
		}, want: keys},
		{name: "no keys", handler: func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }, kind: fault.NotFound},
		{name: "error status", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "down", http.StatusBadGateway)
		}, kind: fault.Upstream},
		{name: "too large", handler: func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write(bytes.Repeat([]byte(" "), MaxKeysSize+1))
		}, kind: fault.Upstream},
		{name: "offline", handler: func(w http.ResponseWriter, r *http.Request) {
			t.Error("an offline uplink was asked")
		}, offline: true, kind: fault.Upstream},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, tt.handler)
			u := uplinkTo(t, up.URL+"/npm", func(s *Spec) { s.Offline = tt.offline })
			got, err := u.FetchKeys(t.Context())
			if tt.want != "" {
				if err != nil || string(got) != tt.want {
					t.Fatalf("FetchKeys = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if !fault.Is(err, tt.kind) {
				t.Fatalf("FetchKeys error %v, want a %v fault", err, tt.kind)
			}
		})
	}
}
