package testkit

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Serve serves h on a loopback port until t ends and returns its base URL
// (http://127.0.0.1:PORT, no trailing slash).
func Serve(t testing.TB, h http.Handler) string {
	t.Helper()
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return hs.URL
}
