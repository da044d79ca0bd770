package npmapi

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestBaseURLFromRequest checks the base URL made from a request (no
// --url), reused for the host it was made for: for hosts and schemes in
// turn, from several goroutines at once, each request gets its own host's
// URL; with --url set, that one whatever the request says.
func TestBaseURLFromRequest(t *testing.T) {
	a := &API{}
	cases := []struct {
		host string
		tls  bool
		want string
	}{
		{"127.0.0.1:4873", false, "http://127.0.0.1:4873"},
		{"127.0.0.1:4873", false, "http://127.0.0.1:4873"},
		{"127.0.0.1:4873", true, "https://127.0.0.1:4873"},
		{"registry.example:8443", true, "https://registry.example:8443"},
		{"registry.example:8443", false, "http://registry.example:8443"},
		{"127.0.0.1:4873", false, "http://127.0.0.1:4873"},
		{"[::1]:4873", false, "http://[::1]:4873"},
	}
	request := func(host string, overTLS bool) string {
		r := httptest.NewRequest("GET", "/left-pad", nil)
		r.Host = host
		r.TLS = nil
		if overTLS {
			r.TLS = &tls.ConnectionState{}
		}
		return a.baseURL(r)
	}
	for _, c := range cases {
		if got := request(c.host, c.tls); got != c.want {
			t.Errorf("host %q, TLS %v: got %q, want %q", c.host, c.tls, got, c.want)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan string, len(cases))
	for _, c := range cases {
		wg.Go(func() {
			for range 2000 {
				if got := request(c.host, c.tls); got != c.want {
					errs <- got + " != " + c.want
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	a.opts.BaseURL = "https://npm.example/registry"
	if got := request("127.0.0.1:4873", false); got != a.opts.BaseURL {
		t.Errorf("with --url: got %q, want %q", got, a.opts.BaseURL)
	}
}

// TestPackumentBasesBounded: packuments are cached for the first
// maxCachedBases base URLs their reads made (other requests take no
// place), whichever comes again, in any case, and for no later one, which
// is logged once; with --url, for that one.
func TestPackumentBasesBounded(t *testing.T) {
	var logged bytes.Buffer
	a := &API{log: slog.New(slog.NewTextHandler(&logged, nil))}
	base := func(host string) (string, bool) {
		r := httptest.NewRequest("GET", "/left-pad", nil)
		r.Host = host
		return a.packumentBase(r)
	}
	// Other requests (a manifest, an error's links) take no place.
	for i := range 10 {
		r := httptest.NewRequest("GET", "/left-pad/1.0.0", nil)
		r.Host = fmt.Sprintf("manifest%d.example", i)
		if got := a.baseURL(r); got != "http://"+r.Host {
			t.Fatalf("baseURL for %s: %q", r.Host, got)
		}
	}
	for round := range 2 {
		for i := range maxCachedBases {
			host := fmt.Sprintf("h%d.example", i)
			if got, cached := base(host); got != "http://"+host || !cached {
				t.Fatalf("round %d, host %s: %q, cached %v", round, host, got, cached)
			}
		}
	}
	for i := range 20 {
		host := fmt.Sprintf("other%d.example", i)
		if got, cached := base(host); got != "http://"+host || cached {
			t.Fatalf("host %s past the bound: %q, cached %v", host, got, cached)
		}
		if _, cached := base("h1.example"); !cached {
			t.Fatal("a cached base refused after others")
		}
	}
	// A host in capitals is the same base, in lower case.
	if got, cached := base("H2.Example"); got != "http://h2.example" || !cached {
		t.Errorf("a cached host in capitals: %q, cached %v", got, cached)
	}
	if n := strings.Count(logged.String(), "set --url"); n != 1 {
		t.Errorf("logged the refusal %d times, want once:\n%s", n, logged.String())
	}
	a.opts.BaseURL = "https://npm.example"
	if got, cached := base("other0.example"); got != "https://npm.example" || !cached {
		t.Errorf("with --url: %q, cached %v", got, cached)
	}
}
