package delivery

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// verify checks a delivery's signature as a receiver does: the HMAC-SHA256
// of the raw body under the shared secret, compared in constant time.
func verify(secret []byte, body []byte, header string) bool {
	hexSum, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSum)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

func TestSign(t *testing.T) {
	// The value any HMAC-SHA256 implementation gives (RFC 4231's test case 2).
	if got := Sign([]byte("Jefe"), []byte("what do ya want for nothing?")); got !=
		"sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" {
		t.Fatalf("Sign: %s", got)
	}
	if verify([]byte("other"), []byte("x"), Sign([]byte("secret"), []byte("x"))) {
		t.Fatal("a signature verified under another secret")
	}
}

func TestInternal(t *testing.T) {
	tests := []struct {
		ip   string
		want bool
	}{
		{"127.0.0.1", true}, {"127.8.9.10", true}, {"::1", true}, {"::ffff:127.0.0.1", true},
		{"10.1.2.3", true}, {"172.16.0.1", true}, {"192.168.1.1", true}, {"fd00::1", true},
		{"169.254.169.254", true}, {"fd00:ec2::254", true}, {"fe80::1", true}, {"100.100.100.200", true},
		{"0.0.0.0", true}, {"::", true}, {"224.0.0.1", true}, {"255.255.255.255", true}, {"64:ff9b::7f00:1", true},
		{"93.184.215.14", false}, {"8.8.8.8", false}, {"2606:4700::1111", false}, {"172.32.0.1", false},
	}
	for _, tt := range tests {
		if got := Internal(netip.MustParseAddr(tt.ip)); got != tt.want {
			t.Errorf("Internal(%s) = %v, want %v", tt.ip, got, tt.want)
		}
	}
}

func TestParseAllow(t *testing.T) {
	a, err := ParseAllow([]string{"127.0.0.0/8", " 10.0.0.5 ", "Hooks.Internal.", "", "fd00::/8"})
	if err != nil {
		t.Fatal(err)
	}
	if !a.addr(netip.MustParseAddr("127.3.3.3")) || !a.addr(netip.MustParseAddr("10.0.0.5")) ||
		a.addr(netip.MustParseAddr("10.0.0.6")) || !a.host("hooks.internal") || a.host("other") ||
		!a.addr(netip.MustParseAddr("fd12::1")) {
		t.Fatalf("allow-list %+v", a)
	}
	for _, bad := range []string{"10.0.0.0/33", "user@host", "a b"} {
		if _, err := ParseAllow([]string{bad}); err == nil {
			t.Errorf("ParseAllow(%q) accepted it", bad)
		}
	}
}

func TestCheckEndpoint(t *testing.T) {
	strict := New(Options{})
	open := New(Options{Allow: Allow{Prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}})
	named := New(Options{Allow: Allow{Hosts: []string{"localhost"}}})
	tests := []struct {
		name, url string
		c         *Client
		refused   bool
	}{
		{"loopback", "http://127.0.0.1:8080/hook", strict, true},
		{"a name that resolves to loopback", "http://localhost:8080/hook", strict, true},
		{"metadata", "http://169.254.169.254/latest/meta-data/", strict, true},
		{"metadata in IPv6", "http://[fd00:ec2::254]/", strict, true},
		{"mapped loopback", "http://[::ffff:127.0.0.1]/", strict, true},
		{"private", "https://10.0.0.1/", strict, true},
		{"public address", "https://93.184.215.14/hook", strict, false},
		{"loopback allowed by range", "http://127.0.0.1:8080/hook", open, false},
		{"localhost allowed by range", "http://localhost:8080/hook", open, false},
		{"localhost allowed by name", "http://localhost:8080/hook", named, false},
		{"127.0.0.1 not allowed by the name localhost", "http://127.0.0.1:8080/hook", named, true},
		{"metadata not in the loopback range", "http://169.254.169.254/", open, true},
		{"not http", "ftp://93.184.215.14/", strict, true},
		{"no host", "http:///x", strict, true},
		{"user and password", "https://u:p@93.184.215.14/", strict, true},
		{"too long", "https://93.184.215.14/" + strings.Repeat("a", MaxEndpoint), strict, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.CheckEndpoint(t.Context(), tt.url)
			if (err != nil) != tt.refused {
				t.Fatalf("CheckEndpoint(%s) = %v, refused want %v", tt.url, err, tt.refused)
			}
		})
	}
}

// receiver is a test receiver on loopback.
func receiver(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestPost(t *testing.T) {
	secret := []byte("s3cret")
	body := []byte(`{"event":"package:publish"}`)
	var got []byte
	var sig string
	url := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		sig = r.Header.Get(SignatureHeader)
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(strings.Repeat("é", 2000)))
	})
	loopback := Allow{Prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}

	// Without the allow-list the connection itself is refused, after
	// resolution: the receiver is on loopback.
	strict := New(Options{})
	r := strict.Post(t.Context(), url, map[string]string{SignatureHeader: Sign(secret, body)}, body)
	if !errors.Is(r.Err, ErrRefusedAddress) || r.Status != 0 || got != nil {
		t.Fatalf("post to loopback, not allowed: %+v (received %q)", r, got)
	}
	// Nor through a name: localhost is refused when it is dialed.
	named := strings.Replace(url, "127.0.0.1", "localhost", 1)
	if r := strict.Post(t.Context(), named, nil, body); !errors.Is(r.Err, ErrRefusedAddress) || got != nil {
		t.Fatalf("post to localhost, not allowed: %+v", r)
	}
	// Nor to the metadata address (refused before anything is sent).
	if r := strict.Post(t.Context(), "http://169.254.169.254/latest/meta-data/", nil, body); !errors.Is(r.Err, ErrRefusedAddress) {
		t.Fatalf("post to the metadata address: %+v", r)
	}

	c := New(Options{Allow: loopback, Excerpt: 101})
	r = c.Post(t.Context(), url, map[string]string{SignatureHeader: Sign(secret, body)}, body)
	if r.Err != nil || r.Status != http.StatusAccepted || string(got) != string(body) || !verify(secret, got, sig) {
		t.Fatalf("post: %+v, received %q signed %q", r, got, sig)
	}
	// The excerpt is bounded and valid UTF-8 though cut inside a character.
	if len(r.Excerpt) > 101+3 || !strings.HasPrefix(r.Excerpt, "éé") || !strings.HasSuffix(r.Excerpt, "\uFFFD") {
		t.Fatalf("excerpt %q (%d bytes)", r.Excerpt, len(r.Excerpt))
	}
}

func TestPostFailures(t *testing.T) {
	loopback := Allow{Prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	var followed bool
	target := receiver(t, func(w http.ResponseWriter, r *http.Request) { followed = true })
	redirect := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target+"/?token=receiver-secret", http.StatusTemporaryRedirect)
	})
	failing := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	})
	hang := make(chan struct{})
	hanging := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(hang) }) // before the server's Close, which waits for its handlers
	c := New(Options{Allow: loopback, Timeout: 300 * time.Millisecond})

	r := c.Post(t.Context(), redirect, nil, []byte("{}"))
	if r.Err == nil || r.Status != http.StatusTemporaryRedirect || followed {
		t.Fatalf("redirect: %+v (followed %v)", r, followed)
	}
	r = c.Post(t.Context(), failing, nil, []byte("{}"))
	if r.Err == nil || r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Excerpt, "maintenance") {
		t.Fatalf("failing receiver: %+v", r)
	}
	start := time.Now()
	r = c.Post(t.Context(), hanging+"/path?key=receiver-secret", nil, []byte("{}"))
	if r.Err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("hanging receiver: %+v after %v", r, time.Since(start))
	}
	if strings.Contains(r.Err.Error(), "receiver-secret") {
		t.Fatalf("the error repeats the endpoint's query: %v", r.Err)
	}
	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/"
	ln.Close()
	if r := c.Post(t.Context(), closed, nil, []byte("{}")); r.Err == nil || r.Status != 0 {
		t.Fatalf("closed port: %+v", r)
	}
}
