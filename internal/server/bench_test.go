package server

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/config"
)

// BenchmarkPackumentHandler measures an authenticated abbreviated packument
// read through the whole handler (middleware, token, policy, store),
// without the network.
func BenchmarkPackumentHandler(b *testing.B) {
	for _, private := range []bool{false, true} {
		name := "public"
		if private {
			name = "private"
		}
		b.Run(name, func(b *testing.B) {
			cfg := config.Default()
			cfg.DataDir = b.TempDir()
			srv, err := Open(context.Background(), cfg, NewLogger(io.Discard, "error", false))
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			tr := &testRegistry{t: b, srv: srv, url: ""}
			hs := httptest.NewServer(srv.Handler())
			defer hs.Close()
			tr.url = hs.URL
			alice := tr.user("alice")
			pkgName, path := "bench-lib", "/bench-lib"
			if private {
				pkgName, path = "@alice/bench", "/@alice%2fbench"
			}
			for _, v := range []string{"1.0.0", "1.1.0", "1.2.0", "2.0.0"} {
				if res := tr.do("PUT", path, alice, publishBody(tr.t, pkgName, v)); res.status != 201 {
					b.Fatalf("publish: %d %s", res.status, res.body)
				}
			}
			tok := tr.mustToken(alice, map[string]any{"password": "pw-alice", "name": "bench", "packages_all": true})
			h := srv.Handler()
			req := httptest.NewRequest("GET", path, nil)
			req.RemoteAddr = "127.0.0.1:40000"
			req.Header.Set("Accept", "application/vnd.npm.install-v1+json")
			req.Header.Set("Authorization", "Bearer "+tok)
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}
