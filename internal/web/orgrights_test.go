package web_test

import (
	"encoding/base32"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/testkit"
	"github.com/gatehouse-registry/gatehouse/internal/totp"
)

// enable2FA turns on two-factor authentication in mode for the user of
// token tok, through the API as npm profile enable-2fa does.
func (s *site) enable2FA(tok, name, mode string) {
	s.t.Helper()
	s.enable2FASecret(tok, name, mode)
}

// enable2FASecret is enable2FA, returning the TOTP secret (its code for
// the step before the current one is used up).
func (s *site) enable2FASecret(tok, name, mode string) []byte {
	s.t.Helper()
	status, b := s.api("POST", "/-/npm/v1/user", tok, map[string]any{"tfa": map[string]string{"password": "password-" + name, "mode": mode}})
	var out struct{ TFA string }
	if status != http.StatusOK || json.Unmarshal(b, &out) != nil {
		s.t.Fatalf("enable 2FA for %s: %d %s", name, status, b)
	}
	link, err := url.Parse(out.TFA)
	if err != nil {
		s.t.Fatal(err)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(link.Query().Get("secret"))
	if err != nil {
		s.t.Fatal(err)
	}
	testkit.WaitOutStepEnd(totp.Period, 5*time.Second)
	code := totp.Code(secret, totp.Step(time.Now())-1)
	if status, b := s.api("POST", "/-/npm/v1/user", tok, map[string]any{"tfa": []string{code}}); status != http.StatusOK {
		s.t.Fatalf("confirm 2FA for %s: %d %s", name, status, b)
	}
	return secret
}

// TestOrganizationPageOffers: the organization pages offer what policy
// allows (managing members, the owner role) and ask for a one-time password
// where policy says a change needs one.
func TestOrganizationPageOffers(t *testing.T) {
	s := newSite(t)
	toks := map[string]string{}
	browsers := map[string]*browser{}
	for _, name := range []string{"alice", "bob", "carol"} {
		toks[name] = s.apiUser(name)
		browsers[name] = s.browser()
		if p := browsers[name].signIn(name, ""); p.status != http.StatusSeeOther {
			t.Fatalf("%s signs in: %d", name, p.status)
		}
	}
	alice, bob, carol := browsers["alice"], browsers["bob"], browsers["carol"]
	const org = "/org/acme"
	if p := alice.submit("/settings/alice/orgs", "/settings/alice/orgs", url.Values{"name": {"acme"}}); p.status != http.StatusSeeOther {
		t.Fatalf("create acme: %d %s", p.status, p.body)
	}
	for user, role := range map[string]string{"bob": "developer", "carol": "admin"} {
		if p := alice.submit(org, org+"/members", url.Values{"username": {user}, "role": {role}}); p.status != http.StatusSeeOther {
			t.Fatalf("add %s: %d %s", user, p.status, p.body)
		}
	}
	// alice asks for OTPs on sign-in and profile changes only, carol on
	// writes too (organization changes among them).
	s.enable2FA(toks["alice"], "alice", "auth-only")
	s.enable2FA(toks["carol"], "carol", "auth-and-writes")

	const (
		memberForm = `<label for="member-username">Username</label>`
		ownerOpt   = `<option value="owner"`
		memberOTP  = `<label for="member-otp">One-time password</label>`
		createOTP  = `<label for="org-otp">One-time password</label>`
	)
	p := alice.get(org)
	wantIn(t, "the owner's page", p, http.StatusOK, memberForm, ownerOpt)
	wantNotIn(t, "the owner's page (auth-only)", p, memberOTP)
	p = carol.get(org)
	wantIn(t, "the admin's page", p, http.StatusOK, memberForm, memberOTP)
	wantNotIn(t, "the admin's page", p, ownerOpt)
	p = bob.get(org)
	wantIn(t, "the developer's page", p, http.StatusOK, "You are a developer")
	wantNotIn(t, "the developer's page", p, memberForm, ownerOpt)

	wantNotIn(t, "alice's organizations (auth-only)", alice.get("/settings/alice/orgs"), createOTP)
	wantIn(t, "carol's organizations (auth-and-writes)", carol.get("/settings/carol/orgs"), http.StatusOK, createOTP)
	// The page's answer is the service's: carol's change without the OTP is
	// refused with the challenge's message.
	wantIn(t, "carol adds a member without the OTP", carol.submit(org, org+"/members",
		url.Values{"username": {"bob"}, "role": {"admin"}}), http.StatusUnauthorized, "This operation requires a one-time password.")
}
