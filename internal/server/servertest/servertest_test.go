package servertest

import (
	"net/http"
	"os"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

// TestStart starts a gatehouse on a fresh data folder: it answers the npm
// API, and keeps its data in the folder Config chose.
func TestStart(t *testing.T) {
	cfg := Config(t)
	srv, url := Start(t, cfg)
	if srv == nil {
		t.Fatal("Start returned no server")
	}
	if res := testkit.Do(t, http.MethodGet, url+"/-/ping", "", nil); res.Status != http.StatusOK {
		t.Fatalf("GET /-/ping: %s", res)
	}
	res := testkit.Do(t, http.MethodPut, url+"/-/user/org.couchdb.user:alice", "", map[string]string{
		"name": "alice", "password": "a password of alice", "email": "alice@example.com"})
	if res.Status != http.StatusCreated {
		t.Fatalf("create a user: %s", res)
	}
	entries, err := os.ReadDir(cfg.DataDir)
	if err != nil || len(entries) == 0 {
		t.Fatalf("the data folder %s holds %d entries (%v)", cfg.DataDir, len(entries), err)
	}
}
