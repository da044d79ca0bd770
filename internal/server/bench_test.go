package server

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/uplink"
)

// discardWriter is a ResponseWriter that keeps only the status, so the
// benchmarks measure the handler, not a recorder's buffering.
type discardWriter struct {
	h    http.Header
	code int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(code int)        { d.code = code }

// The deadlines are accepted, as net/http's writer accepts them, so that
// pace's calls cost what they cost on a connection (not an error each).
func (d *discardWriter) SetReadDeadline(time.Time) error  { return nil }
func (d *discardWriter) SetWriteDeadline(time.Time) error { return nil }

// BenchmarkPackumentHandler measures the hot reads through the whole handler
// (middleware, granular token, policy, caches, store), without the network:
// the abbreviated packument of a public and of a private package, a tarball,
// and a package that does not exist.
func BenchmarkPackumentHandler(b *testing.B) {
	cases := []struct {
		name, pkg, path, accept string
		want                    int
	}{
		{"public", "bench-lib", "/bench-lib", "application/vnd.npm.install-v1+json", 200},
		{"private", "@alice/bench", "/@alice%2fbench", "application/vnd.npm.install-v1+json", 200},
		{"tarball", "bench-lib", "/bench-lib/-/bench-lib-2.0.0.tgz", "", 200},
		{"notfound", "bench-lib", "/bench-nope", "application/vnd.npm.install-v1+json", 404},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			cfg := config.Default()
			cfg.DataDir = b.TempDir()
			tr := openRegistry(b, cfg, quietLogger())
			srv := tr.srv
			alice := tr.user("alice")
			for _, v := range []string{"1.0.0", "1.1.0", "1.2.0", "2.0.0"} {
				if res := tr.do("PUT", "/"+escape(c.pkg), alice, publishBody(tr.t, c.pkg, v)); res.status != 201 {
					b.Fatalf("publish: %d %s", res.status, res.body)
				}
			}
			tok := tr.mustToken(alice, map[string]any{"password": "password-alice", "name": "bench", "packages_all": true})
			h := srv.Handler()
			req := httptest.NewRequest("GET", c.path, nil)
			req.RemoteAddr = "127.0.0.1:40000"
			if c.accept != "" {
				req.Header.Set("Accept", c.accept)
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			b.ReportAllocs()
			for b.Loop() {
				w := &discardWriter{h: http.Header{}}
				h.ServeHTTP(w, req)
				if w.code != c.want {
					b.Fatalf("status %d, want %d", w.code, c.want)
				}
			}
		})
	}
}

// BenchmarkProxiedHandler compares, on one gatehouse, the hot reads of a
// local package with those of a package of the same shape it proxies from
// another gatehouse, read from its cache (after the first request fetched
// it): issue 16 wants the proxied ones at the local ones' rate, within
// 10%. The handler writes into a discarding ResponseWriter, as in
// BenchmarkPackumentHandler.
func BenchmarkProxiedHandler(b *testing.B) {
	upCfg := config.Default()
	upCfg.DataDir = b.TempDir()
	up := openRegistry(b, upCfg, quietLogger())
	cfg := config.Default()
	cfg.DataDir = b.TempDir()
	cfg.Uplinks = []uplink.Spec{uplink.NewSpec("up", up.url)}
	tr := openRegistry(b, cfg, quietLogger())
	for _, r := range []struct {
		reg  *testRegistry
		name string
	}{{up, "bench-proxied"}, {tr, "bench-local"}} {
		pub := r.reg.user("alice")
		for _, v := range []string{"1.0.0", "1.1.0", "1.2.0", "2.0.0"} {
			if res := r.reg.do("PUT", "/"+r.name, pub, publishBody(b, r.name, v)); res.status != 201 {
				b.Fatalf("publish %s: %d %s", r.name, res.status, res.body)
			}
		}
	}
	tok := tr.mustToken(tr.user("bob"), map[string]any{"password": "password-bob", "name": "bench", "packages_all": true})
	h := tr.srv.Handler()
	for _, kind := range []struct{ name, path, accept string }{
		{"abbreviated", "/%s", "application/vnd.npm.install-v1+json"},
		{"full", "/%s", "application/json"},
		{"tarball", "/%[1]s/-/%[1]s-2.0.0.tgz", ""},
	} {
		for _, pkg := range []string{"local", "proxied"} {
			b.Run(kind.name+"/"+pkg, func(b *testing.B) {
				req := httptest.NewRequest("GET", fmt.Sprintf(kind.path, "bench-"+pkg), nil)
				req.RemoteAddr = "127.0.0.1:40000"
				if kind.accept != "" {
					req.Header.Set("Accept", kind.accept)
				}
				req.Header.Set("Authorization", "Bearer "+tok)
				// The first request fetches the proxied package; the change
				// feed brings its change back within a quarter of a second.
				w := &discardWriter{h: http.Header{}}
				h.ServeHTTP(w, req)
				if w.code != 200 {
					b.Fatalf("status %d", w.code)
				}
				time.Sleep(300 * time.Millisecond)
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					w := &discardWriter{h: http.Header{}}
					h.ServeHTTP(w, req)
					if w.code != 200 {
						b.Fatalf("status %d, want 200", w.code)
					}
				}
			})
		}
	}
}
