package web_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/server/servertest"
)

// TestHooksPage: a person adds a webhook on the Webhooks page, sees its
// deliveries (signed, as the receiver checks), redelivers one and removes
// the hook; a bad endpoint is refused with the form kept (not the secret);
// another person neither sees nor changes it.
func TestHooksPage(t *testing.T) {
	cfg := servertest.Config(t)
	cfg.MaxBodySize = 4 << 20
	cfg.HookAllow = []string{"127.0.0.0/8"}
	srv, u := servertest.Start(t, cfg)
	s := &site{t: t, url: u}

	var mu sync.Mutex
	verified, bad := 0, 0
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		m := hmac.New(sha256.New, []byte("page-secret-0123"))
		m.Write(body)
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("X-Npm-Signature") != "sha256="+hex.EncodeToString(m.Sum(nil)) {
			bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		verified++
		_, _ = w.Write([]byte("stored"))
	}))
	t.Cleanup(recv.Close)
	count := func() (int, int) { mu.Lock(); defer mu.Unlock(); return verified, bad }

	tok := s.apiUser("alice")
	s.apiUser("bob")
	s.publish(tok, "lib", "1.0.0", "# lib")
	alice, bob := s.browser(), s.browser()
	alice.signIn("alice", "")
	bob.signIn("bob", "")
	base := "/settings/alice/hooks"

	p := alice.get(base)
	wantIn(t, "empty page", p, 200, "No webhooks yet.", `id="add-hook"`)

	// A metadata address is refused; the form keeps what was typed but the secret.
	p = alice.submit(base, base, url.Values{"type": {"package"}, "name": {"lib"},
		"endpoint": {"http://169.254.169.254/latest/meta-data/"}, "secret": {"page-secret-0123"}})
	wantIn(t, "metadata endpoint", p, 400, "may not reach", `value="lib"`, "169.254.169.254")
	wantNotIn(t, "metadata endpoint", p, "page-secret-0123")

	p = alice.submit(base, base, url.Values{"type": {"package"}, "name": {"lib"}, "endpoint": {recv.URL + "/in"},
		"secret": {"page-secret-0123"}, "events": {"package:publish"}})
	if p.status != http.StatusSeeOther || p.location != base+"?added" {
		t.Fatalf("add: %d %s %s", p.status, p.location, p.body)
	}
	p = alice.get(base + "?added")
	wantIn(t, "page with the hook", p, 200, "Its secret is not shown again", recv.URL+"/in", "package:publish", "Nothing delivered yet.")
	wantNotIn(t, "page with the hook", p, "page-secret-0123")
	id := regexp.MustCompile(`data-id="([0-9a-f]{32})"`).FindStringSubmatch(p.body)[1]

	// A publish is delivered and shown.
	s.publish(tok, "lib", "1.1.0", "# lib")
	deadline := time.Now().Add(15 * time.Second)
	for {
		p = alice.get(base)
		if strings.Contains(p.body, ">delivered<") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no delivery shown:\n%s", p.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	wantIn(t, "delivered", p, 200, "package:publish", "200 in", "stored")
	delivery := regexp.MustCompile(`data-delivery="(\d+)"`).FindStringSubmatch(p.body)[1]

	// Bob sees none of it, and cannot redeliver or remove it.
	wantIn(t, "alice's page as bob", bob.get(base), 404)
	wantIn(t, "the admin page as bob", bob.get("/admin/hooks"), 404)
	wantNotIn(t, "bob's page", bob.get("/settings/bob/hooks"), `value="registry"`)
	redeliver := base + "/" + id + "/deliveries/" + delivery + "/redeliver"
	if p := bob.submit("/settings/bob/hooks", "/settings/bob/hooks/"+id+"/delete", url.Values{}); p.status != 404 {
		t.Fatalf("bob removes alice's hook: %d", p.status)
	}

	// An administrator sees every account's hooks, and may watch the registry.
	promote(t, srv, "bob")
	wantIn(t, "the admin page", bob.get("/admin/hooks"), 200, `data-id="`+id+`"`, recv.URL+"/in", "lib (package)", "1 webhook.")
	wantIn(t, "an administrator's page", bob.get("/settings/bob/hooks"), 200, `value="registry"`)

	p = alice.submit(base, redeliver, url.Values{})
	if p.status != http.StatusSeeOther || p.location != base+"?redelivered" {
		t.Fatalf("redeliver: %d %s %s", p.status, p.location, p.body)
	}
	for v, b := count(); v < 2; v, b = count() {
		if b > 0 || time.Now().After(deadline.Add(15*time.Second)) {
			t.Fatalf("redelivery: %d verified, %d bad", v, b)
		}
		time.Sleep(50 * time.Millisecond)
	}

	p = alice.submit(base, base+"/"+id+"/delete", url.Values{})
	if p.status != http.StatusSeeOther || p.location != base+"?removed" {
		t.Fatalf("remove: %d %s", p.status, p.location)
	}
	wantIn(t, "after removal", alice.get(base), 200, "No webhooks yet.")
}
