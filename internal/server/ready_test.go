package server

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/store/pgtest"
)

// TestReady checks /-/ready through its states: both parts up, the blob
// folder gone, back again, then the database closed.
func TestReady(t *testing.T) {
	tr := newTestRegistry(t)
	blobDir := filepath.Join(tr.dir, "tarballs")

	type answer struct {
		status          int
		ready           bool
		database, blobs string
	}
	ask := func(step string, want answer) {
		t.Helper()
		res := tr.do("GET", "/-/ready", "", nil)
		got := answer{status: res.status}
		body := res.json(t)
		got.ready, _ = body["ready"].(bool)
		got.database, _ = body["database"].(string)
		got.blobs, _ = body["blobs"].(string)
		if got != want {
			t.Errorf("%s: GET /-/ready = %+v (%s), want %+v", step, got, res.body, want)
		}
		if res.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", step, res.header.Get("Cache-Control"))
		}
		// The answer names the part, never the error: no paths, no driver text.
		for _, leak := range []string{tr.dir, "sql", "no such file", "error"} {
			if strings.Contains(string(res.body), leak) {
				t.Errorf("%s: the answer %s reveals %q", step, res.body, leak)
			}
		}
		if len(body) != 3 {
			t.Errorf("%s: the answer %s has fields beyond ready, database and blobs", step, res.body)
		}
	}

	ask("all up", answer{200, true, "ok", "ok"})
	if res := tr.do("HEAD", "/-/ready", "", nil); res.status != 200 {
		t.Errorf("HEAD /-/ready = %d, want 200", res.status)
	}
	if res := tr.do("POST", "/-/ready", "", nil); res.status != 405 || res.header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /-/ready = %d, Allow %q; want 405, GET, HEAD", res.status, res.header.Get("Allow"))
	}

	if err := os.RemoveAll(blobDir); err != nil {
		t.Fatal(err)
	}
	ask("blob folder removed", answer{503, false, "ok", "failed"})
	if res := tr.do("GET", "/-/ping", "", nil); res.status != 200 {
		t.Errorf("GET /-/ping while not ready = %d, want 200 (the process is alive)", res.status)
	}

	if err := os.MkdirAll(blobDir, 0o750); err != nil {
		t.Fatal(err)
	}
	ask("blob folder back", answer{200, true, "ok", "ok"})

	if err := tr.srv.store.Close(); err != nil {
		t.Fatal(err)
	}
	ask("database closed", answer{503, false, "failed", "ok"})
}

// TestReadyOnPostgres checks /-/ready on a PostgreSQL database, as nodes
// sharing one run it: up, a database that hangs (a lock held elsewhere) is
// not ready within the timeout, and a database that is gone is not ready.
// It needs GATEHOUSE_TEST_POSTGRES (a role that may create databases); on CI
// (CI=true) its absence is a failure.
func TestReadyOnPostgres(t *testing.T) {
	dbURL, drop := pgtest.NewDatabase(t, pgtest.AdminURL(t, "readiness on PostgreSQL"), "gatehouse_ready")
	tr := newTestRegistry(t, func(c *config.Config) { c.Database = dbURL })

	readyAnswer := func() (int, map[string]any, time.Duration) {
		start := time.Now()
		res := tr.do("GET", "/-/ready", "", nil)
		return res.status, res.json(t), time.Since(start)
	}
	if status, body, _ := readyAnswer(); status != 200 || body["database"] != "ok" {
		t.Fatalf("GET /-/ready on PostgreSQL = %d %v, want 200 with the database ok", status, body)
	}

	// Another session holds a lock that blocks the check's query.
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(t.Context(), `LOCK TABLE schema_migrations IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	status, body, took := readyAnswer()
	if status != 503 || (body["database"] != "timeout" && body["database"] != "failed") || body["blobs"] != "ok" {
		t.Errorf("GET /-/ready while the database hangs = %d %v, want 503 with the database timed out", status, body)
	}
	if took < readyTimeout-100*time.Millisecond || took > readyTimeout+2*time.Second {
		t.Errorf("GET /-/ready while the database hangs took %v, want about %v", took, readyTimeout)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if status, body, _ := readyAnswer(); status != 200 {
		t.Errorf("GET /-/ready once the lock is gone = %d %v, want 200", status, body)
	}

	db.Close()
	drop()
	if status, body, _ := readyAnswer(); status != 503 || body["database"] != "failed" {
		t.Errorf("GET /-/ready after the database was dropped = %d %v, want 503 with the database failed", status, body)
	}
}
