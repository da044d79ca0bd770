package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/gatehouse-registry/gatehouse/internal/testkit"
)

// TestBrowserStaged follows the website's Staged page: two versions staged
// over the API appear under the account menu's Staged; a wrong password
// approves nothing; the right one publishes the version, which the package
// page then shows with a link to its remaining staged version; Reject
// removes that one.
func TestBrowserStaged(t *testing.T) {
	t.Parallel()
	srv, b, base, password := startSignedUpInBrowser(t, "sara")
	res := srv.couchLogin(t, "sara", password)
	var login struct{ Token string }
	decodeJSON(t, res.Body, &login)
	const pkg = "@sara/web"
	ids := map[string]string{}
	for _, v := range []string{"1.0.0", "1.1.0"} {
		tgz := testkit.PackageTarball(t, fmt.Sprintf(`{"name":%q,"version":%q}`, pkg, v))
		r := srv.do(t, http.MethodPost, "-/stage/package/@sara%2fweb", login.Token, testkit.PublishBody(nil, pkg, v, tgz))
		var doc struct{ StageID string }
		decodeJSON(t, r.Body, &doc)
		if r.Status != http.StatusCreated || doc.StageID == "" {
			t.Fatalf("stage %s: %s", v, r)
		}
		ids[v] = doc.StageID
	}
	row := func(v string) string { return `tr[data-id="` + ids[v] + `"]` }

	b.run("open Staged from the account menu",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(`details.menu summary`, chromedp.ByQuery),
		chromedp.Click(`details.menu summary`, chromedp.ByQuery),
		chromedp.Click(`//details[contains(@class,"menu")]//a[normalize-space()="Staged"]`, chromedp.BySearch),
		chromedp.WaitVisible(`#staged-list`, chromedp.ByQuery),
	)
	list := b.text("#staged-list")
	for _, want := range []string{pkg, "1.0.0", "1.1.0", ids["1.0.0"], "sara (user)"} {
		if !strings.Contains(list, want) {
			t.Errorf("the Staged page lacks %q:\n%s", want, list)
		}
	}
	b.screenshot("staged")

	b.run("approve with a wrong password",
		chromedp.SendKeys(row("1.0.0")+` input[name="password"]`, "not my password", chromedp.ByQuery),
		chromedp.Click(row("1.0.0")+` form.approve button`, chromedp.ByQuery),
		chromedp.WaitVisible(`.notice.error`, chromedp.ByQuery),
	)
	if msg := b.text(".notice.error"); !strings.Contains(msg, "Incorrect password") {
		t.Errorf("a wrong password: %q", msg)
	}
	if r := srv.do(t, http.MethodGet, "@sara%2fweb", login.Token, nil); r.Status != http.StatusNotFound {
		t.Fatalf("a wrong password published the package: %s", r)
	}

	b.run("approve 1.0.0",
		chromedp.WaitVisible(row("1.0.0"), chromedp.ByQuery),
		chromedp.SendKeys(row("1.0.0")+` input[name="password"]`, password, chromedp.ByQuery),
		chromedp.Click(row("1.0.0")+` form.approve button`, chromedp.ByQuery),
		chromedp.WaitVisible(`//p[contains(., "approved and published")]`, chromedp.BySearch),
	)
	if strings.Contains(b.text("#staged-list"), "1.0.0") {
		t.Errorf("the approved version is still listed:\n%s", b.text("#staged-list"))
	}
	if r := srv.do(t, http.MethodGet, "@sara%2fweb/1.0.0", login.Token, nil); r.Status != http.StatusOK {
		t.Fatalf("the approved version is not published: %s", r)
	}

	b.run("the package page links to its staged versions",
		chromedp.Navigate(base+"/package/"+pkg),
		chromedp.WaitVisible(`#staged-link a`, chromedp.ByQuery),
		chromedp.Click(`#staged-link a`, chromedp.ByQuery),
		chromedp.WaitVisible(`//h1[normalize-space()="Staged versions of `+pkg+`"]`, chromedp.BySearch),
		chromedp.WaitVisible(row("1.1.0"), chromedp.ByQuery),
	)
	b.run("reject 1.1.0",
		chromedp.Click(row("1.1.0")+` form.reject button`, chromedp.ByQuery),
		chromedp.WaitVisible(`#staged-empty`, chromedp.ByQuery),
	)
	if r := srv.do(t, http.MethodGet, "-/stage/"+ids["1.1.0"], login.Token, nil); r.Status != http.StatusNotFound {
		t.Errorf("the rejected version is still staged: %s", r)
	}
}
