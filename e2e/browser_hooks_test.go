package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

// TestBrowserHooks follows the website's Webhooks page in Chromium: opened
// from the account menu, a hook added with the form (its secret not shown
// again), a publish delivered signed and shown with its answer, then
// redelivered with the button.
func TestBrowserHooks(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "--hook-allow", "127.0.0.0/8")
	b := newBrowser(t)
	base := strings.TrimSuffix(srv.URL(), "/")
	password := "browser password for wren"
	b.signUp(base, "wren", password)
	var login struct{ Token string }
	decodeJSON(t, srv.couchLogin(t, "wren", password).Body, &login)
	publish := func(v string) {
		t.Helper()
		tgz := testkit.PackageTarball(t, `{"name":"wren-lib","version":"`+v+`"}`)
		if r := srv.do(t, http.MethodPut, "wren-lib", login.Token, testkit.PublishBody(nil, "wren-lib", v, tgz)); r.Status != http.StatusCreated {
			t.Fatalf("publish %s: %s", v, r)
		}
	}
	publish("1.0.0")
	sink := newHookSink(t, "a secret typed in the browser")

	b.run("open Webhooks from the account menu and add a hook",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(`details.menu summary`, chromedp.ByQuery),
		chromedp.Click(`details.menu summary`, chromedp.ByQuery),
		chromedp.Click(`//details[contains(@class,"menu")]//a[normalize-space()="Webhooks"]`, chromedp.BySearch),
		chromedp.WaitVisible(`#add-hook`, chromedp.ByQuery),
		chromedp.SendKeys(`#hook-name`, "wren-lib", chromedp.ByQuery),
		chromedp.SendKeys(`#hook-endpoint`, sink.url, chromedp.ByQuery),
		chromedp.SendKeys(`#hook-secret`, "a secret typed in the browser", chromedp.ByQuery),
		chromedp.Click(`#add-hook button[type="submit"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`.notice.ok`, chromedp.ByQuery),
	)
	if page := b.html(); !strings.Contains(page, sink.url) || strings.Contains(page, "a secret typed in the browser") {
		t.Fatalf("the page after adding the hook:\n%s", page)
	}

	publish("1.1.0")
	sink.waitFor(t, "the publish", 1)
	deadline := time.Now().Add(20 * time.Second)
	for {
		b.run("reload", chromedp.Navigate(base+"/settings/wren/hooks"), chromedp.WaitVisible(`#add-hook`, chromedp.ByQuery))
		if strings.Contains(b.html(), ">delivered<") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no delivery shown:\n%s", b.html())
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.screenshot("webhooks")
	b.run("redeliver",
		chromedp.Click(`table.deliveries form button`, chromedp.ByQuery),
		chromedp.WaitVisible(`.notice.ok`, chromedp.ByQuery),
	)
	if msg := b.text(".notice.ok"); !strings.Contains(msg, "queued for delivery again") {
		t.Errorf("after Redeliver: %q", msg)
	}
	got := sink.waitFor(t, "the redelivery", 2)
	if got[1]["id"] != got[0]["id"] || got[1]["version"] != "1.1.0" {
		t.Fatalf("redelivered %v, want the event of %v", got[1], got[0])
	}
}
