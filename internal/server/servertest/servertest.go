// Package servertest starts throwaway gatehouse servers, whole and in
// process, for the tests of other packages (the website's, the benchmark's
// seeding). Only tests import it; the server package's own tests, which
// cannot, open theirs with server.Open.
package servertest

import (
	"context"
	"io"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/server"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

// Config is gatehouse's default configuration on a data folder of its own,
// removed when t ends.
func Config(t testing.TB) config.Config {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	return cfg
}

// Start opens gatehouse on cfg, logging nothing, and serves it on a
// loopback port until t ends. It returns the server and its base URL
// (http://127.0.0.1:PORT, no trailing slash).
func Start(t testing.TB, cfg config.Config) (*server.Server, string) {
	t.Helper()
	srv, err := server.Open(context.Background(), cfg, server.NewLogger(io.Discard, "error", false))
	if err != nil {
		t.Fatalf("open gatehouse: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, testkit.Serve(t, srv.Handler())
}
