package server

import (
	"encoding/json"
	"fmt"
	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
	"github.com/gatehouse-registry/gatehouse/internal/uplink"
)

// serveSearch makes the fake upstream's search answer names, paged by
// from and size as the public registry pages them; failing makes it
// answer 500.
func serveSearch(t *testing.T, f *fakeUpstream, names []string, failing *atomic.Bool) {
	t.Helper()
	f.handle("/-/v1/search", func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "search is down", http.StatusInternalServerError)
			return
		}
		from, _ := strconv.Atoi(r.URL.Query().Get("from"))
		size, _ := strconv.Atoi(r.URL.Query().Get("size"))
		objects := []map[string]any{}
		for i := from; i < len(names) && i < from+size; i++ {
			objects = append(objects, map[string]any{"package": map[string]any{
				"name": names[i], "version": "1.0.0", "description": "upstream " + names[i], "keywords": []string{"demo"},
				"date": "2026-01-02T03:04:05.000Z", "maintainers": []map[string]string{{"username": "someone", "email": "s@example.com"}},
			}})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"objects": objects, "total": len(names), "time": "now"})
	})
}

type searchAnswer struct {
	Objects []struct {
		Package struct {
			Name string `json:"name"`
		} `json:"package"`
	} `json:"objects"`
	Total int `json:"total"`
}

func searchNames(t *testing.T, tr *testRegistry, tok, query string) ([]string, int) {
	t.Helper()
	res := tr.do("GET", "/-/v1/search?"+query, tok, nil)
	if res.status != 200 {
		t.Fatalf("search %s: %d %s", query, res.status, res.body)
	}
	var a searchAnswer
	if err := json.Unmarshal(res.body, &a); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range a.Objects {
		names = append(names, o.Package.Name)
	}
	return names, a.Total
}

// TestUplinkSearch: npm search answers the local packages first, then the
// uplink's, with the total of both and pages spanning the two; the
// uplink's results pass through the shield and the caller's grants; an
// uplink that fails leaves the local results, and a log line.
func TestUplinkSearch(t *testing.T) {
	f := startFake(t)
	var failing atomic.Bool
	upstreamNames := []string{"up-a", "up-b", "up-c", "up-d", "up-e"}
	serveSearch(t, f, upstreamNames, &failing)
	logs := &testkit.SyncBuffer{}
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Uplinks = []uplink.Spec{uplink.NewSpec("up", f.url)}
	proxy := openRegistry(t, cfg, NewLogger(logs, "info", false))
	alice := proxy.user("alice")
	for _, name := range []string{"local-a", "local-b", "local-c"} {
		if res := proxy.do("PUT", "/"+name, alice, publishBody(t, name, "1.0.0")); res.status != 201 {
			t.Fatalf("publish %s: %d %s", name, res.status, res.body)
		}
	}
	all := []string{"local-a", "local-b", "local-c", "up-a", "up-b", "up-c", "up-d", "up-e"}
	tests := []struct{ from, size int }{
		{0, 20}, {0, 2}, {2, 2}, {3, 2}, {4, 3}, {7, 5}, {8, 5}, {1, 6},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("from %d size %d", tt.from, tt.size), func(t *testing.T) {
			names, total := searchNames(t, proxy, "", fmt.Sprintf("text=demo&from=%d&size=%d", tt.from, tt.size))
			var want []string
			if tt.from < len(all) {
				want = all[tt.from:min(tt.from+tt.size, len(all))]
			}
			if strings.Join(names, " ") != strings.Join(want, " ") || total != len(all) {
				t.Errorf("got %v of %d, want %v of %d", names, total, want, len(all))
			}
		})
	}

	// Local names in the uplink's answer (a local package, a local
	// organization's scope) are left out, and the total counts them not.
	if _, err := proxy.srv.Orgs.Create(t.Context(), audit.Operator(), "acme", "alice"); err != nil {
		t.Fatal(err)
	}
	serveSearch(t, f, []string{"up-a", "local-a", "@acme/secret", "up-b"}, &failing)
	names, total := searchNames(t, proxy, "", "text=demo&size=20")
	if got := strings.Join(names, " "); got != "local-a local-b local-c up-a up-b" || total != 5 {
		t.Errorf("with local names upstream: %s of %d", got, total)
	}
	// A token limited to @acme/* finds no proxied package.
	acmeOnly := proxy.mustToken(alice, map[string]any{"password": "password-alice", "name": "acme", "scopes": []string{"@acme"}})
	names, _ = searchNames(t, proxy, acmeOnly, "text=demo&size=20")
	for _, n := range names {
		if strings.HasPrefix(n, "up-") {
			t.Errorf("a token limited to @acme/* found %s", n)
		}
	}

	// The uplink fails: the local results, and the log says why.
	failing.Store(true)
	names, total = searchNames(t, proxy, "", "text=demo&size=20")
	if got := strings.Join(names, " "); got != "local-a local-b local-c" || total != 3 {
		t.Errorf("with the uplink failing: %s of %d", got, total)
	}
	if l := logs.String(); !strings.Contains(l, "uplink failed: the search answers without its results") || !strings.Contains(l, "500") {
		t.Errorf("no log line of the failing search:\n%s", l)
	}
}
