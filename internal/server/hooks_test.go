package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/delivery"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/hook"
	"github.com/gatehouse-registry/gatehouse/internal/keyring"
	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/gatehouse-registry/gatehouse/internal/store/pgtest"
)

// hookReceiver is a webhook receiver on loopback that checks each
// delivery's signature as a receiver should (docs/webhooks.md) and keeps
// the verified ones.
type hookReceiver struct {
	t      testing.TB
	url    string
	secret string

	mu       sync.Mutex
	got      []map[string]any
	requests int
	bad      int
	// answer, when set, decides the status of the n-th request (from 1).
	answer func(n int, r *http.Request) int
}

func newHookReceiver(t testing.TB, secret string) *hookReceiver {
	h := &hookReceiver{t: t, secret: secret}
	srv := httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(srv.Close)
	h.url = srv.URL + "/hook?key=receiver-credential"
	return h
}

// verifySignature is what a receiver does: the HMAC-SHA256 of the raw
// body under the shared secret, in hex after "sha256=", compared in
// constant time.
func verifySignature(secret string, body []byte, header string) bool {
	sum, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(sum)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

func (h *hookReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.requests++
	n := h.requests
	answer := h.answer
	h.mu.Unlock()
	if answer != nil {
		if status := answer(n, r); status != http.StatusOK {
			w.WriteHeader(status)
			_, _ = w.Write([]byte("not now"))
			return
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !verifySignature(h.secret, body, r.Header.Get("X-Npm-Signature")) || r.Header.Get("Content-Type") != "application/json" {
		h.bad++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		h.bad++
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	m["_delivery"] = r.Header.Get("X-Gatehouse-Delivery")
	h.got = append(h.got, m)
	_, _ = w.Write([]byte("thanks"))
}

// wait returns the verified deliveries once cond holds for them, or fails
// after the deadline.
func (h *hookReceiver) wait(what string, d time.Duration, cond func([]map[string]any) bool) []map[string]any {
	h.t.Helper()
	deadline := time.Now().Add(d)
	for {
		h.mu.Lock()
		got := append([]map[string]any(nil), h.got...)
		bad := h.bad
		h.mu.Unlock()
		if bad > 0 {
			h.t.Fatalf("%s: %d deliveries with a bad signature", what, bad)
		}
		if cond(got) {
			return got
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%s: not within %v; got %d deliveries: %v", what, d, len(got), got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (h *hookReceiver) count() (requests, verified int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.requests, len(h.got)
}

func events(got []map[string]any) map[string]int {
	out := map[string]int{}
	for _, m := range got {
		out[m["event"].(string)]++
	}
	return out
}

// loopbackHooks lets hooks reach the test receivers on loopback, and
// retries fast.
func loopbackHooks(c *config.Config) {
	c.HookAllow = []string{"127.0.0.0/8"}
	c.HookRetry = 200 * time.Millisecond
}

// TestHookEveryEvent: a receiver on loopback gets a signed delivery of each
// event kind, in npm hooks' shape; npm hook's API (libnpmhook's requests)
// adds, lists, finds, updates and removes hooks, never shows a secret, and
// hides one account's hooks from another.
func TestHookEveryEvent(t *testing.T) {
	tr := newTestRegistry(t, loopbackHooks)
	alice, bob := tr.user("alice"), tr.user("bob")
	tr.user("carol")
	for _, pub := range []struct{ name, version string }{{"lib", "1.0.0"}, {"@alice/app", "1.0.0"}} {
		if res := tr.do("PUT", "/"+escape(pub.name), alice, publishBody(t, pub.name, pub.version)); res.status != 201 {
			t.Fatalf("publish %s: %d %s", pub.name, res.status, res.body)
		}
	}
	recv := newHookReceiver(t, "shared-secret-of-lib")
	scopeRecv := newHookReceiver(t, "shared-secret-of-the-scope")

	// npm hook add lib URL SECRET; npm hook add @alice URL SECRET.
	res := tr.do("POST", "/-/npm/v1/hooks/hook", alice, map[string]string{"type": "package", "name": "lib",
		"endpoint": recv.url, "secret": "shared-secret-of-lib"})
	if res.status != 201 {
		t.Fatalf("hook add: %d %s", res.status, res.body)
	}
	made := res.json(t)
	id := made["id"].(string)
	if made["secret"] != "********" || made["name"] != "lib" || made["type"] != "package" || made["endpoint"] != recv.url ||
		strings.Contains(string(res.body), "shared-secret") {
		t.Fatalf("hook made: %s", res.body)
	}
	res = tr.do("POST", "/-/npm/v1/hooks/hook", alice, map[string]string{"type": "scope", "name": "@alice",
		"endpoint": scopeRecv.url, "secret": "shared-secret-of-the-scope"})
	if res.status != 201 {
		t.Fatalf("scope hook add: %d %s", res.status, res.body)
	}

	// Every event kind: on lib, and the access change on @alice/app.
	doc := func(name string) map[string]any {
		return tr.do("GET", "/"+escape(name), alice, nil, "Accept", "application/json").json(t)
	}
	steps := []struct {
		name   string
		do     func() response
		status []int
	}{
		{"publish", func() response { return tr.do("PUT", "/lib", alice, publishBody(t, "lib", "1.1.0")) }, []int{201}},
		{"dist-tag", func() response {
			return tr.do("PUT", "/-/package/lib/dist-tags/beta", alice, `"1.0.0"`, "Content-Type", "application/json")
		}, []int{200, 201}},
		{"dist-tag rm", func() response { return tr.do("DELETE", "/-/package/lib/dist-tags/beta", alice, nil) }, []int{200}},
		{"deprecate", func() response {
			pk := doc("lib")
			pk["versions"].(map[string]any)["1.0.0"].(map[string]any)["deprecated"] = "use 1.1.0"
			return tr.do("PUT", "/lib/-rev/"+pk["_rev"].(string), alice, pk)
		}, []int{200, 201}},
		{"owner add", func() response {
			pk := doc("lib")
			return tr.do("PUT", "/lib/-rev/"+pk["_rev"].(string), alice, map[string]any{"_id": "lib", "_rev": pk["_rev"],
				"maintainers": []map[string]string{{"name": "alice"}, {"name": "carol"}}})
		}, []int{200, 201}},
		{"owner rm", func() response {
			pk := doc("lib")
			return tr.do("PUT", "/lib/-rev/"+pk["_rev"].(string), alice, map[string]any{"_id": "lib", "_rev": pk["_rev"],
				"maintainers": []map[string]string{{"name": "alice"}}})
		}, []int{200, 201}},
		{"stage", func() response { return tr.do("POST", "/-/stage/package/lib", alice, publishBody(t, "lib", "2.0.0")) }, []int{200, 201}},
		{"access", func() response {
			return tr.do("POST", "/-/package/@alice%2fapp/access", alice, map[string]string{"access": "public"})
		}, []int{200}},
		{"unpublish", func() response { return tr.do("DELETE", "/lib/-rev/"+doc("lib")["_rev"].(string), alice, nil) }, []int{200}},
	}
	for _, s := range steps {
		res := s.do()
		ok := false
		for _, st := range s.status {
			ok = ok || res.status == st
		}
		if !ok {
			t.Fatalf("%s: %d %s", s.name, res.status, res.body)
		}
	}
	want := map[string]int{"package:publish": 1, "package:dist-tag": 1, "package:dist-tag-rm": 1, "package:deprecated": 1,
		"package:owner": 1, "package:owner-rm": 1, "package:staged": 1, "package:unpublish": 1}
	recv.wait("lib's events", 20*time.Second, func(got []map[string]any) bool { return len(got) >= len(want) })
	time.Sleep(1500 * time.Millisecond) // a pass more: nothing is delivered twice
	got := recv.wait("lib's events", time.Second, func([]map[string]any) bool { return true })
	if ev := events(got); fmt.Sprint(ev) != fmt.Sprint(want) {
		t.Fatalf("lib's hook got %v, want %v", ev, want)
	}
	for _, m := range got {
		owner, _ := m["hookOwner"].(map[string]any)
		actor, _ := m["actor"].(map[string]any)
		if m["name"] != "lib" || m["type"] != "package" || owner["username"] != "alice" || actor["username"] != "alice" ||
			m["hookId"] != id || m["id"] == "" || m["time"].(float64) <= 0 || m["_delivery"] == "" {
			t.Errorf("delivery %v", m)
		}
		if m["event"] == "package:publish" && (m["version"] != "1.1.0" || m["change"].(map[string]any)["version"] != "1.1.0") {
			t.Errorf("publish delivery %v", m)
		}
	}
	// The scope's hook saw its package's access change, and nothing of lib.
	scoped := scopeRecv.wait("the scope's events", 10*time.Second, func(got []map[string]any) bool { return len(got) >= 1 })
	if len(scoped) != 1 || scoped[0]["event"] != "package:access" || scoped[0]["name"] != "@alice/app" {
		t.Fatalf("scope hook got %v", scoped)
	}

	// npm hook ls, with and without a package; ls for another account.
	list := tr.do("GET", "/-/npm/v1/hooks", alice, nil).json(t)
	if list["total"].(float64) != 2 || len(list["objects"].([]any)) != 2 {
		t.Fatalf("hook ls: %v", list)
	}
	first := list["objects"].([]any)[0].(map[string]any)
	if first["id"] != id || first["last_delivery"] == nil || first["response_code"].(float64) != 200 || first["secret"] != "********" {
		t.Fatalf("hook ls' first hook: %v", first)
	}
	if l := tr.do("GET", "/-/npm/v1/hooks?package=%40alice", alice, nil).json(t); l["total"].(float64) != 1 {
		t.Fatalf("hook ls @alice: %v", l)
	}
	if l := tr.do("GET", "/-/npm/v1/hooks", bob, nil).json(t); l["total"].(float64) != 0 {
		t.Fatalf("bob's hook ls: %v", l)
	}
	if l := tr.do("GET", "/-/npm/v1/hooks?all=true", bob, nil); l.status != 404 {
		t.Fatalf("all hooks for bob, not an administrator: %d %s", l.status, l.body)
	}
	// Another account's hook does not exist to bob, whatever he does with it.
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		res := tr.do(m, "/-/npm/v1/hooks/hook/"+id, bob, map[string]string{"endpoint": recv.url, "secret": "x"})
		missing := tr.do(m, "/-/npm/v1/hooks/hook/0123456789abcdef0123456789abcdef", bob, map[string]string{"endpoint": recv.url, "secret": "x"})
		if res.status != 404 || string(res.body) != string(missing.body) {
			t.Errorf("%s alice's hook as bob: %d %s (a missing one: %d %s)", m, res.status, res.body, missing.status, missing.body)
		}
	}
	if res := tr.do("GET", "/-/npm/v1/hooks/hook/"+id+"/deliveries", bob, nil); res.status != 404 {
		t.Errorf("alice's hook's deliveries as bob: %d", res.status)
	}
	if res := tr.do("GET", "/-/npm/v1/hooks", "", nil); res.status != 401 {
		t.Errorf("hook ls without a login: %d", res.status)
	}

	// The deliveries, and a redelivery: the same event again, signed.
	dl := tr.do("GET", "/-/npm/v1/hooks/hook/"+id+"/deliveries", alice, nil).json(t)["objects"].([]any)
	if len(dl) != len(want) {
		t.Fatalf("deliveries: %v", dl)
	}
	last := dl[0].(map[string]any)
	if last["state"] != "delivered" || last["status"].(float64) != 200 || last["response"] != "thanks" || last["attempts"].(float64) != 1 {
		t.Fatalf("last delivery: %v", last)
	}
	res = tr.do("POST", fmt.Sprintf("/-/npm/v1/hooks/hook/%s/deliveries/%.0f/redeliver", id, last["id"]), alice, nil)
	if res.status != 202 {
		t.Fatalf("redeliver: %d %s", res.status, res.body)
	}
	again := recv.wait("the redelivery", 10*time.Second, func(got []map[string]any) bool { return len(got) == len(want)+1 })
	if again[len(want)]["id"] != last["event_id"] && fmt.Sprint(again[len(want)]["id"]) != fmt.Sprintf("%.0f", last["event_id"]) {
		t.Fatalf("redelivered %v, want event %v", again[len(want)], last["event_id"])
	}

	// npm hook update: a new endpoint and secret; npm hook rm.
	newRecv := newHookReceiver(t, "the-new-secret")
	res = tr.do("PUT", "/-/npm/v1/hooks/hook/"+id, alice, map[string]string{"endpoint": newRecv.url, "secret": "the-new-secret"})
	if res.status != 200 || res.json(t)["endpoint"] != newRecv.url || strings.Contains(string(res.body), "the-new-secret") {
		t.Fatalf("hook update: %d %s", res.status, res.body)
	}
	if res := tr.do("GET", "/-/npm/v1/hooks/hook/"+id, alice, nil); res.status != 200 || res.json(t)["endpoint"] != newRecv.url {
		t.Fatalf("hook after the update: %d %s", res.status, res.body)
	}
	if res := tr.do("DELETE", "/-/npm/v1/hooks/hook/"+id, alice, nil); res.status != 200 || res.json(t)["id"] != id {
		t.Fatalf("hook rm: %d %s", res.status, res.body)
	}
	if res := tr.do("GET", "/-/npm/v1/hooks/hook/"+id, alice, nil); res.status != 404 {
		t.Fatalf("hook after rm: %d", res.status)
	}

	// The secret is sealed in the database, not there in the clear.
	var n int
	if err := tr.srv.store.DB().QueryRowContext(t.Context(), `SELECT COUNT(*) FROM hooks`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("hooks left: %d %v", n, err)
	}
	var sealed []byte
	if err := tr.srv.store.DB().QueryRowContext(t.Context(), `SELECT secret FROM hooks`).Scan(&sealed); err != nil ||
		strings.Contains(string(sealed), "shared-secret-of-the-scope") {
		t.Fatalf("a sealed secret: %q %v", sealed, err)
	}
}

// TestHookBadRequests: what a hook is made of is checked, with a clear
// error and nothing made.
func TestHookBadRequests(t *testing.T) {
	tr := newTestRegistry(t, loopbackHooks)
	alice := tr.user("alice")
	bob := tr.user("bob")
	if res := tr.do("PUT", "/lib", alice, publishBody(t, "lib", "1.0.0")); res.status != 201 {
		t.Fatal(res.status)
	}
	tok := tr.mustToken(alice, map[string]any{"password": "password-alice", "name": "ci", "packages_all": true,
		"packages_and_scopes_permission": "read-write"})
	ok := map[string]any{"type": "package", "name": "lib", "endpoint": "http://127.0.0.1:9/", "secret": "s"}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for a, b := range ok {
			m[a] = b
		}
		m[k] = v
		return m
	}
	tests := []struct {
		name   string
		tok    string
		body   any
		status int
	}{
		{"no secret", alice, with("secret", ""), 400},
		{"a secret too long", alice, with("secret", strings.Repeat("s", 513)), 400},
		{"not a URL", alice, with("endpoint", "not a url"), 400},
		{"ftp", alice, with("endpoint", "ftp://127.0.0.1/"), 400},
		{"credentials in the URL", alice, with("endpoint", "http://u:p@127.0.0.1/"), 400},
		{"unknown type", alice, with("type", "team"), 400},
		{"unknown event", alice, with("events", []string{"package:star"}), 400},
		{"a scope without @", alice, with("type", "scope"), 400},
		{"malformed JSON", alice, `{"type":`, 400},
		{"a package alice does not own", bob, ok, 403},
		{"a missing package", alice, with("name", "nothing-here"), 404},
		{"another user's packages", alice, with("type", "owner"), 404},
		{"someone else's scope", alice, map[string]any{"type": "scope", "name": "@bob", "endpoint": "http://127.0.0.1:9/", "secret": "s"}, 404},
		{"the registry, not an administrator", alice, with("type", "registry"), 404},
		{"a granular token", tok, ok, 403},
		{"no login", "", ok, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tr.do("POST", "/-/npm/v1/hooks/hook", tt.tok, tt.body)
			if res.status != tt.status || res.errorText(t) == "" {
				t.Fatalf("%d %s, want %d", res.status, res.body, tt.status)
			}
		})
	}
	if l := tr.do("GET", "/-/npm/v1/hooks", alice, nil).json(t); l["total"].(float64) != 0 {
		t.Fatalf("hooks made by bad requests: %v", l)
	}
	// ~alice is alice's own packages (npm hook add ~alice).
	if res := tr.do("POST", "/-/npm/v1/hooks/hook", alice, with("name", "~alice")); res.status != 201 || res.json(t)["type"] != "owner" {
		t.Fatalf("owner hook: %d %s", res.status, res.body)
	}
}

// TestHookInternalAddresses: without the operator's allow-list, a hook to a
// loopback or metadata address is refused when it is made, and a hook whose
// name resolves to loopback (made when it did not, as DNS rebinding would)
// is refused when it is delivered.
func TestHookInternalAddresses(t *testing.T) {
	tr := newTestRegistry(t, func(c *config.Config) { c.HookRetry = 200 * time.Millisecond })
	alice := tr.user("alice")
	if res := tr.do("PUT", "/lib", alice, publishBody(t, "lib", "1.0.0")); res.status != 201 {
		t.Fatal(res.status)
	}
	recv := newHookReceiver(t, "secret")
	for _, endpoint := range []string{recv.url, strings.Replace(recv.url, "127.0.0.1", "localhost", 1),
		"http://169.254.169.254/latest/meta-data/", "http://[::1]:8080/", "http://10.0.0.1/", "http://[fd00:ec2::254]/"} {
		res := tr.do("POST", "/-/npm/v1/hooks/hook", alice, map[string]string{"type": "package", "name": "lib",
			"endpoint": endpoint, "secret": "secret"})
		if res.status != 400 || !strings.Contains(res.errorText(t), "may not reach") {
			t.Errorf("hook to %s: %d %s", endpoint, res.status, res.body)
		}
	}
	// A hook made when its name resolved to a public address, which now
	// resolves to loopback (the endpoint is changed in the database: the
	// check at creation cannot be made to pass for loopback).
	res := tr.do("POST", "/-/npm/v1/hooks/hook", alice, map[string]string{"type": "package", "name": "lib",
		"endpoint": "http://93.184.215.14/hook", "secret": "secret"})
	if res.status != 201 {
		t.Fatalf("hook to a public address: %d %s", res.status, res.body)
	}
	id := res.json(t)["id"].(string)
	if _, err := tr.srv.store.DB().ExecContext(t.Context(), `UPDATE hooks SET endpoint = ? WHERE id = ?`,
		strings.Replace(recv.url, "127.0.0.1", "localhost", 1), id); err != nil {
		t.Fatal(err)
	}
	if res := tr.do("PUT", "/lib", alice, publishBody(t, "lib", "1.1.0")); res.status != 201 {
		t.Fatal(res.status)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		ds, err := tr.srv.store.Q().DeliveriesOf(t.Context(), id, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 1 && ds[0].Attempts >= 1 {
			if ds[0].State != store.DeliveryPending || ds[0].Status != 0 || !strings.Contains(ds[0].Error, "may not reach") {
				t.Fatalf("delivery to a name that resolves to loopback: %+v", ds[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no attempt: %+v", ds)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if requests, _ := recv.count(); requests != 0 {
		t.Fatalf("the receiver on loopback got %d requests", requests)
	}
}

// TestHookRetryAndRestart: a receiver that fails, then recovers, gets the
// delivery later; a server stopped after a publish commits and before its
// delivery (here: while the delivery hangs) delivers it when it starts
// again.
func TestHookRetryAndRestart(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.MaxBodySize = 1 << 20
	loopbackHooks(&cfg)
	tr := openRegistry(t, cfg, quietLogger())
	alice := tr.user("alice")
	if res := tr.do("PUT", "/lib", alice, publishBody(t, "lib", "1.0.0")); res.status != 201 {
		t.Fatal(res.status)
	}
	recv := newHookReceiver(t, "secret")
	recv.answer = func(n int, _ *http.Request) int {
		if n <= 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}
	res := tr.do("POST", "/-/npm/v1/hooks/hook", alice, map[string]string{"type": "package", "name": "lib", "endpoint": recv.url, "secret": "secret"})
	if res.status != 201 {
		t.Fatal(res.status)
	}
	id := res.json(t)["id"].(string)
	if res := tr.do("PUT", "/lib", alice, publishBody(t, "lib", "1.1.0")); res.status != 201 {
		t.Fatal(res.status)
	}
	recv.wait("the delivery after two failures", 20*time.Second, func(got []map[string]any) bool { return len(got) == 1 })
	// The receiver has it before the attempt is recorded: wait for the record.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		dl := tr.do("GET", "/-/npm/v1/hooks/hook/"+id+"/deliveries", alice, nil).json(t)["objects"].([]any)
		d := dl[0].(map[string]any)
		if len(dl) != 1 || d["attempts"].(float64) > 3 || time.Now().After(deadline) {
			t.Fatalf("deliveries: %v", dl)
		}
		if d["state"] == "delivered" {
			if d["attempts"].(float64) != 3 || d["status"].(float64) != 200 {
				t.Fatalf("delivered after two failures: %v", d)
			}
			break
		}
	}

	// Restart: the receiver hangs on the next delivery until the server is
	// stopped, then answers; the server started again delivers it.
	hang := make(chan struct{})
	recv.answer = func(n int, r *http.Request) int {
		select {
		case <-hang:
			return http.StatusOK
		case <-r.Context().Done():
			return http.StatusServiceUnavailable
		}
	}
	if res := tr.do("PUT", "/lib", alice, publishBody(t, "lib", "1.2.0")); res.status != 201 {
		t.Fatal(res.status)
	}
	deadline := time.Now().Add(10 * time.Second)
	for requests, _ := recv.count(); requests < 4; requests, _ = recv.count() {
		if time.Now().After(deadline) {
			t.Fatal("the delivery of 1.2.0 was not attempted")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := tr.srv.Close(); err != nil {
		t.Fatal(err)
	}
	close(hang)
	if _, verified := recv.count(); verified != 1 {
		t.Fatalf("delivered before the restart: %d", verified)
	}
	again := openRegistry(t, cfg, quietLogger())
	_ = again
	got := recv.wait("the delivery after the restart", 20*time.Second, func(got []map[string]any) bool { return len(got) == 2 })
	if got[1]["version"] != "1.2.0" {
		t.Fatalf("after the restart: %v", got[1])
	}
}

// TestHookOnePerEventOnSeveralNodes: three nodes sharing one PostgreSQL
// database deliver each event once.
func TestHookOnePerEventOnSeveralNodes(t *testing.T) {
	dbURL, _ := pgtest.NewDatabase(t, pgtest.AdminURL(t, "webhooks on several nodes"), "gatehouse_hooks")
	base := config.Default()
	base.DataDir = t.TempDir()
	base.MaxBodySize = 1 << 20
	base.Database = dbURL
	base.Key = strings.Repeat("ab", 32)
	loopbackHooks(&base)
	var nodes []*testRegistry
	for range 3 {
		cfg := base
		cfg.DataDir = t.TempDir()
		nodes = append(nodes, openRegistry(t, cfg, quietLogger()))
	}
	alice := nodes[0].user("alice")
	if res := nodes[0].do("PUT", "/lib", alice, publishBody(t, "lib", "1.0.0")); res.status != 201 {
		t.Fatal(res.status)
	}
	recv := newHookReceiver(t, "secret")
	if res := nodes[1].do("POST", "/-/npm/v1/hooks/hook", alice, map[string]string{"type": "package", "name": "lib",
		"endpoint": recv.url, "secret": "secret"}); res.status != 201 {
		t.Fatal(res.status, string(res.body))
	}
	const versions = 12
	for i := range versions {
		n := nodes[i%3]
		if res := n.do("PUT", "/lib", alice, publishBody(t, "lib", fmt.Sprintf("1.0.%d", i+1))); res.status != 201 {
			t.Fatal(res.status, string(res.body))
		}
	}
	recv.wait("every publish", 30*time.Second, func(got []map[string]any) bool { return len(got) >= versions })
	time.Sleep(3 * time.Second) // every node polls again: nothing more comes
	got := recv.wait("every publish", time.Second, func([]map[string]any) bool { return true })
	seen := map[string]int{}
	for _, m := range got {
		seen[m["version"].(string)]++
	}
	if len(got) != versions || len(seen) != versions {
		t.Fatalf("%d deliveries of %d versions: %v", len(got), len(seen), seen)
	}
}

// TestHookBounds: an account's hooks and the delivery queue are bounded,
// and a hook whose maker lost the right it was made with is told nothing
// more. The hook service here has small bounds; the server's own
// dispatcher is stopped so that this one alone reads the log.
func TestHookBounds(t *testing.T) {
	tr := newTestRegistry(t, loopbackHooks)
	if err := tr.srv.dispatch.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	alice, bob := tr.user("alice"), tr.user("bob")
	if res := tr.do("PUT", "/lib", alice, publishBody(t, "lib", "1.0.0")); res.status != 201 {
		t.Fatal(res.status)
	}
	allow, err := delivery.ParseAllow([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := hook.NewService(tr.srv.store, tr.srv.Registry, keyring.New(make([]byte, 32)),
		delivery.New(delivery.Options{Allow: allow}), hook.Options{MaxHooks: 2, MaxQueue: 3})
	if err != nil {
		t.Fatal(err)
	}
	dispatch := svc.NewDispatcher(hook.DispatchOptions{})
	pa := tr.principal(alice)
	req := hook.Request{Type: "package", Name: "lib", Endpoint: "http://127.0.0.1:9/", Secret: "s"}
	var ids []string
	for range 2 {
		h, err := svc.Create(ctx, pa, req)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, h.ID)
	}
	if _, err := svc.Create(ctx, pa, req); !fault.Is(err, fault.Conflict) {
		t.Fatalf("a third hook with a bound of two: %v", err)
	}

	// Three publishes for two hooks: six deliveries, three queued.
	for _, v := range []string{"1.1.0", "1.2.0", "1.3.0"} {
		if res := tr.do("PUT", "/lib", alice, publishBody(t, "lib", v)); res.status != 201 {
			t.Fatal(res.status)
		}
	}
	if err := dispatch.Feed(ctx); err != nil {
		t.Fatal(err)
	}
	q := tr.srv.store.Q()
	if n, err := q.CountPendingDeliveries(ctx); err != nil || n != 3 {
		t.Fatalf("pending deliveries: %d %v, want the bound, 3", n, err)
	}
	ds, err := q.DeliveriesOf(ctx, ids[0], 10)
	if err != nil || len(ds) == 0 {
		t.Fatalf("deliveries of the first hook: %v %v", ds, err)
	}
	if _, err := svc.Redeliver(ctx, pa, ids[0], ds[0].ID); !fault.Is(err, fault.Conflict) {
		t.Fatalf("a redelivery with the queue full: %v", err)
	}

	// Bob, an owner of lib, watches it; once he is no longer an owner his
	// hook is told nothing more, though it still exists. (A service with
	// room in its queue, emptied.)
	if _, err := tr.srv.store.DB().ExecContext(ctx, `DELETE FROM hook_deliveries`); err != nil {
		t.Fatal(err)
	}
	svc, err = hook.NewService(tr.srv.store, tr.srv.Registry, keyring.New(make([]byte, 32)),
		delivery.New(delivery.Options{Allow: allow}), hook.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dispatch = svc.NewDispatcher(hook.DispatchOptions{})
	pk := tr.do("GET", "/lib", alice, nil, "Accept", "application/json").json(t)
	if res := tr.do("PUT", "/lib/-rev/"+pk["_rev"].(string), alice, map[string]any{"_id": "lib", "_rev": pk["_rev"],
		"maintainers": []map[string]string{{"name": "alice"}, {"name": "bob"}}}); res.status != 200 && res.status != 201 {
		t.Fatal(res.status, string(res.body))
	}
	bobHook, err := svc.Create(ctx, tr.principal(bob), req)
	if err != nil {
		t.Fatal(err)
	}
	pk = tr.do("GET", "/lib", alice, nil, "Accept", "application/json").json(t)
	if res := tr.do("PUT", "/lib/-rev/"+pk["_rev"].(string), alice, map[string]any{"_id": "lib", "_rev": pk["_rev"],
		"maintainers": []map[string]string{{"name": "alice"}}}); res.status != 200 && res.status != 201 {
		t.Fatal(res.status, string(res.body))
	}
	if res := tr.do("PUT", "/lib", alice, publishBody(t, "lib", "1.4.0")); res.status != 201 {
		t.Fatal(res.status)
	}
	if err := dispatch.Feed(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := q.DeliveriesOf(ctx, bobHook.ID, 10)
	if err != nil || len(got) != 0 {
		t.Fatalf("bob, no longer an owner, was told: %+v %v", got, err)
	}
	// Alice's hook was told of bob's arrival and removal, and of the publish.
	got, err = q.DeliveriesOf(ctx, ids[0], 10)
	if err != nil || len(got) != 3 || got[0].Event != "package:publish" || got[1].Event != "package:owner-rm" ||
		got[2].Event != "package:owner" {
		t.Fatalf("alice's hook after bob left: %+v %v", got, err)
	}

	if h, err := svc.Get(ctx, tr.principal(bob), bobHook.ID); err != nil || h.ID != bobHook.ID {
		t.Fatalf("bob's hook: %+v %v", h, err)
	}
}
