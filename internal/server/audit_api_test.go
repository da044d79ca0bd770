package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/admin"
	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
)

// auditLine is what the tests read of an event in the API's JSON.
type auditLine struct {
	ID     int64  `json:"id"`
	Action string `json:"action"`
	Actor  struct {
		User      string `json:"user"`
		UserID    int64  `json:"user_id"`
		Token     string `json:"token"`
		TokenKind string `json:"token_kind"`
	} `json:"actor"`
	Client    string `json:"client"`
	RequestID string `json:"request_id"`
	Target    struct {
		User    string `json:"user"`
		Package string `json:"package"`
	} `json:"target"`
}

func (e auditLine) concerns(user string) bool { return e.Actor.User == user || e.Target.User == user }

// TestAuditAPI: GET /-/npm/v1/user/events pages the caller's own events,
// newest first, with a next URL to the end; GET /-/admin/audit streams the
// whole log as JSON lines to an administrator, filtered, resumable from
// the last id read. Attackers (another user, a non-administrator, a
// read-only token, an anonymous client) get nothing of anyone else's, and
// the admin path is the same 404 as a path that does not exist.
func TestAuditAPI(t *testing.T) {
	tr := newTestRegistry(t)
	alice, bob, carol := tr.user("alice"), tr.user("bob"), tr.user("carol")
	ctx := t.Context()
	if err := tr.srv.Admin.SetAdmin(ctx, audit.Operator(), admin.Confirm{}, "alice", true); err != nil {
		t.Fatal(err)
	}
	// The promotion drops cached credentials: alice's session now carries the flag.
	bobRead := tr.mustToken(bob, map[string]any{"password": "password-bob", "readonly": true})
	bobGranular := tr.mustToken(bob, map[string]any{"password": "password-bob", "name": "ci", "packages_all": true,
		"packages_and_scopes_permission": "read-write"})
	carolRead := tr.mustToken(carol, map[string]any{"password": "password-carol", "readonly": true})
	aliceRead := tr.mustToken(alice, map[string]any{"password": "password-alice", "readonly": true})
	aliceCollector := tr.mustToken(alice, map[string]any{"password": "password-alice", "readonly": true, "cidr_whitelist": []string{"127.0.0.1/32"}})
	aliceGranular := tr.mustToken(alice, map[string]any{"password": "password-alice", "name": "ci", "packages_all": true,
		"packages_and_scopes_permission": "read-write"})
	for i := range 3 {
		v := fmt.Sprintf("1.0.%d", i)
		if res := tr.do("PUT", "/bobs-lib", bob, publishBody(t, "bobs-lib", v)); res.status != http.StatusCreated {
			t.Fatalf("publish %s: %d %s", v, res.status, res.body)
		}
	}
	if res := tr.do("PUT", "/carols-lib", carol, publishBody(t, "carols-lib", "1.0.0")); res.status != http.StatusCreated {
		t.Fatalf("carol publishes: %d %s", res.status, res.body)
	}
	// An administrator's change to bob's account, from alice's session.
	aliceP := tr.principal(alice)
	for _, off := range []bool{true, false} {
		if err := tr.srv.Admin.SetDisabled(ctx, aliceP, admin.Confirm{Password: "password-alice"}, "bob", off); err != nil {
			t.Fatal(err)
		}
	}
	// A wrong password for bob, from nobody.
	if res := tr.do("PUT", "/-/user/org.couchdb.user:bob", "", map[string]string{"name": "bob", "password": "wrong"}); res.status != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d %s", res.status, res.body)
	}

	// What the log holds of bob, read directly.
	var bobsEvents []int64
	bobUser, err := tr.srv.store.Q().UserByName(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.srv.Audit.Export(ctx, audit.Operator(), audit.Filter{Account: bobUser.ID}, 0, 0, func(e audit.Event) error {
		bobsEvents = append(bobsEvents, e.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Reverse(bobsEvents) // newest first, as the pages
	if len(bobsEvents) < 8 {
		t.Fatalf("bob has only %d events: %v", len(bobsEvents), bobsEvents)
	}

	t.Run("own events, paged to the end", func(t *testing.T) {
		var got []auditLine
		next := "/-/npm/v1/user/events?perPage=3"
		pages := 0
		for next != "" {
			res := tr.do("GET", next, bob, nil)
			if res.status != http.StatusOK {
				t.Fatalf("%s: %d %s", next, res.status, res.body)
			}
			var page struct {
				Objects []auditLine       `json:"objects"`
				Total   int               `json:"total"`
				URLs    map[string]string `json:"urls"`
			}
			if err := json.Unmarshal(res.body, &page); err != nil {
				t.Fatal(err)
			}
			if page.Total != len(bobsEvents) || len(page.Objects) > 3 || len(page.Objects) == 0 {
				t.Fatalf("%s: total %d (want %d), %d objects", next, page.Total, len(bobsEvents), len(page.Objects))
			}
			got = append(got, page.Objects...)
			next = page.URLs["next"]
			if pages++; pages > len(bobsEvents) {
				t.Fatal("the pages do not end")
			}
		}
		var ids []int64
		for _, e := range got {
			ids = append(ids, e.ID)
			if !e.concerns("bob") {
				t.Errorf("bob's log holds an event of others: %+v", e)
			}
			if e.Actor.User == "alice" && (e.Actor.Token != "" || e.Client != "") {
				t.Errorf("bob sees the administrator's credential or address: %+v", e)
			}
		}
		if !slices.Equal(ids, bobsEvents) {
			t.Errorf("pages gave %v, want %v", ids, bobsEvents)
		}
		var sawDisable, sawRefusal bool
		for _, e := range got {
			sawDisable = sawDisable || (e.Action == string(audit.AdminDisable) && e.Actor.User == "alice")
			sawRefusal = sawRefusal || (e.Action == string(audit.SignIn) && e.Actor.User == "" && e.Client == "127.0.0.1")
		}
		if !sawDisable || !sawRefusal {
			t.Errorf("bob's log misses the administrator's disable (%v) or the wrong password with its address (%v)", sawDisable, sawRefusal)
		}
	})

	t.Run("own events: bad input", func(t *testing.T) {
		for _, q := range []string{"perPage=0", "perPage=101", "perPage=x", "cursor=-1", "cursor=x"} {
			if res := tr.do("GET", "/-/npm/v1/user/events?"+q, bob, nil); res.status != http.StatusBadRequest {
				t.Errorf("%s: %d %s, want 400", q, res.status, res.body)
			}
		}
	})

	t.Run("own events: attackers", func(t *testing.T) {
		tests := []struct {
			name, tok string
			status    int
		}{
			{"anonymous", "", http.StatusUnauthorized},
			{"bob's read-only token", bobRead, http.StatusForbidden},
			{"bob's granular token", bobGranular, http.StatusForbidden},
			{"an administrator's read-only token", aliceRead, http.StatusForbidden},
		}
		for _, tt := range tests {
			res := tr.do("GET", "/-/npm/v1/user/events", tt.tok, nil)
			if res.status != tt.status || bytes.Contains(res.body, []byte("objects")) {
				t.Errorf("%s: %d %s, want %d and no events", tt.name, res.status, res.body, tt.status)
			}
		}
		// Carol sees her own only, whatever she asks for.
		for _, q := range []string{"", "?user=bob", "?cursor=" + fmt.Sprint(bobsEvents[0]+1)} {
			res := tr.do("GET", "/-/npm/v1/user/events"+q, carol, nil)
			var page struct {
				Objects []auditLine `json:"objects"`
			}
			if err := json.Unmarshal(res.body, &page); res.status != http.StatusOK || err != nil || len(page.Objects) == 0 {
				t.Fatalf("carol %q: %d %s", q, res.status, res.body)
			}
			for _, e := range page.Objects {
				if !e.concerns("carol") || e.concerns("bob") {
					t.Errorf("carol %q sees %+v", q, e)
				}
			}
		}
	})

	exportAll := func(t *testing.T, tok, query string) []auditLine {
		t.Helper()
		res := tr.do("GET", "/-/admin/audit"+query, tok, nil)
		if res.status != http.StatusOK || res.header.Get("Content-Type") != "application/x-ndjson" {
			t.Fatalf("%s: %d %s %s", query, res.status, res.header.Get("Content-Type"), res.body)
		}
		var out []auditLine
		for _, line := range strings.Split(strings.TrimSuffix(string(res.body), "\n"), "\n") {
			if line == "" {
				continue
			}
			var e auditLine
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			out = append(out, e)
		}
		return out
	}

	t.Run("admin export: filters and a resumable cursor", func(t *testing.T) {
		all := exportAll(t, alice, "")
		count, err := tr.srv.store.Q().CountAuditEvents(ctx, audit.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != count {
			t.Fatalf("the export has %d events, the log %d", len(all), count)
		}
		for i := 1; i < len(all); i++ {
			if all[i].ID <= all[i-1].ID {
				t.Fatalf("not oldest first at %d: %d after %d", i, all[i].ID, all[i-1].ID)
			}
		}
		// Resumed three lines at a time, it is the same export.
		var resumed []auditLine
		cursor := int64(0)
		for range len(all) + 1 {
			part := exportAll(t, alice, fmt.Sprintf("?limit=3&cursor=%d", cursor))
			resumed = append(resumed, part...)
			if len(part) < 3 {
				break
			}
			cursor = part[len(part)-1].ID
		}
		if len(resumed) != len(all) {
			t.Fatalf("resumed export has %d events, want %d", len(resumed), len(all))
		}
		for i := range all {
			if resumed[i].ID != all[i].ID {
				t.Fatalf("resumed export differs at %d", i)
			}
		}
		// Filters.
		for _, f := range []struct {
			query string
			keep  func(auditLine) bool
		}{
			{"?user=bob", func(e auditLine) bool { return e.concerns("bob") }},
			{"?action=package.publish", func(e auditLine) bool { return e.Action == "package.publish" }},
			{"?action=admin.", func(e auditLine) bool { return strings.HasPrefix(e.Action, "admin.") }},
			{"?user=carol&action=package.publish", func(e auditLine) bool {
				return e.concerns("carol") && e.Action == "package.publish"
			}},
			{"?since=1h", func(auditLine) bool { return true }},
			{"?since=" + url.QueryEscape("2999-01-01T00:00:00Z"), func(auditLine) bool { return false }},
		} {
			got := exportAll(t, alice, f.query)
			var want []int64
			for _, e := range all {
				if f.keep(e) {
					want = append(want, e.ID)
				}
			}
			var ids []int64
			for _, e := range got {
				ids = append(ids, e.ID)
			}
			if !slices.Equal(ids, want) {
				t.Errorf("%s: got %v, want %v", f.query, ids, want)
			}
		}
		// Events of requests carry the request's id, as the access log does.
		for _, e := range exportAll(t, alice, "?action=package.publish") {
			if len(e.RequestID) != 16 {
				t.Errorf("publish event %d has request id %q", e.ID, e.RequestID)
			}
		}
		// An administrator's read-only token limited to the collector's
		// address is the log collector's credential; a plain read-only
		// token, the kind CI installs with, is refused and told why.
		if got := exportAll(t, aliceCollector, "?action=package.publish"); len(got) != 4 {
			t.Errorf("the address-bound read-only token of an administrator read %d publishes, want 4", len(got))
		}
		if res := tr.do("GET", "/-/admin/audit", aliceRead, nil); res.status != http.StatusForbidden || !bytes.Contains(res.body, []byte("--cidr")) {
			t.Errorf("alice's read-only token without address ranges: %d %s, want 403 naming --cidr", res.status, res.body)
		}
		for _, q := range []string{"?limit=0", "?limit=10001", "?cursor=-5", "?since=yesterday", "?outcome=maybe"} {
			if res := tr.do("GET", "/-/admin/audit"+q, alice, nil); res.status != http.StatusBadRequest {
				t.Errorf("%s: %d %s, want 400", q, res.status, res.body)
			}
		}
	})

	t.Run("admin export: to anyone else the path does not exist", func(t *testing.T) {
		missing := tr.do("GET", "/-/admin/nothing-here", carol, nil)
		if missing.status != http.StatusNotFound {
			t.Fatalf("a missing path: %d %s", missing.status, missing.body)
		}
		for _, tt := range []struct{ name, tok string }{
			{"anonymous", ""}, {"carol's session", carol}, {"bob's session", bob}, {"bob's read-only token", bobRead},
			{"carol's read-only token", carolRead}, {"bob's granular token", bobGranular},
		} {
			// Bad parameters too: they are not even read for those who may not.
			for _, q := range []string{"", "?user=bob", "?cursor=1&limit=5", "?limit=0", "?cursor=-5", "?since=yesterday"} {
				res := tr.do("GET", "/-/admin/audit"+q, tt.tok, nil)
				if res.status != missing.status || !bytes.Equal(res.body, missing.body) ||
					res.header.Get("Content-Type") != missing.header.Get("Content-Type") {
					t.Errorf("%s %q: %d %s, want the missing path's %d %s", tt.name, q, res.status, res.body, missing.status, missing.body)
				}
			}
		}
		// An administrator with a token made for machines is told to sign in.
		if res := tr.do("GET", "/-/admin/audit", aliceGranular, nil); res.status != http.StatusForbidden || bytes.Contains(res.body, []byte("action")) {
			t.Errorf("alice's granular token: %d %s, want 403", res.status, res.body)
		}
	})
}

// principal is who token tok is, as a request from 127.0.0.1 would be.
func (tr *testRegistry) principal(tok string) *auth.Principal {
	tr.t.Helper()
	p, err := tr.srv.authn.Bearer(tr.t.Context(), tok, netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		tr.t.Fatal(err)
	}
	return p
}
