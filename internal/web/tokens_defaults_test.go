package web_test

import (
	"net/http"
	"testing"
)

// TestGranularFormDefaults: the granular form as first shown, given only a
// name, makes a working token: read-only on all packages, for 30 days. It
// installs its user's private package and publishes nothing.
func TestGranularFormDefaults(t *testing.T) {
	s := newTokSite(t)
	const granular = "/settings/vera/tokens/new/granular"
	vera := s.browser()
	vera.signUp("vera")
	s.publish(s.apiLogin("vera"), "@vera/private", "1.0.0", "# private")

	form := vera.get(granular)
	wantIn(t, "granular form", form, http.StatusOK, `<option value="read-only" selected>Read-only</option>`,
		`value="all" checked`, `<option value="30" selected>30 days</option>`)

	// Untouched but for the name, as a browser sends it, "Generate Token".
	f := formFields(t, form.body, granular)
	f.Set("name", "ci installs")
	f.Set("step", "review")
	review := vera.post(granular, f)
	wantIn(t, "review", review, http.StatusOK, "Review the new token", "<dd>ci installs</dd>",
		"<dd>Read-only on all packages</dd>", "<dd>No access</dd>")
	f = formFields(t, review.body, granular)
	f.Set("password", tokPassword("vera"))
	f.Set("step", "create")
	created := vera.post(granular, f)
	wantIn(t, "created", created, http.StatusCreated, `data-copy="#new-token"`, "ci installs")
	tok := wholeTokenRE.FindString(created.body)
	if tok == "" {
		t.Fatalf("no token on the page: %s", created.body)
	}

	if status, b := s.api("GET", "/@vera%2fprivate", tok, nil); status != http.StatusOK {
		t.Fatalf("the default token reads vera's private package: %d %s", status, b)
	}
	if status, b := s.api("GET", "/@vera%2fprivate", "", nil); status != http.StatusNotFound {
		t.Fatalf("without a token the private package is hidden: %d %s", status, b)
	}
	// It cannot write: a new version is refused, and so is a dist-tag.
	if status, b := s.tryPublish(tok, "@vera/private", "1.0.1", "", nil); status != http.StatusForbidden {
		t.Fatalf("the default token published: %d %s", status, b)
	}
	if status, b := s.api("PUT", "/-/package/@vera%2fprivate/dist-tags/beta", tok, "1.0.0"); status != http.StatusForbidden {
		t.Fatalf("the default token moved a dist-tag: %d %s", status, b)
	}
}
