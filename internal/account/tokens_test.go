package account

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

func ptr[T any](v T) *T { return &v }

// granular is a valid granular request, changed by edit.
func granular(edit func(r *TokenRequest)) TokenRequest {
	r := TokenRequest{Name: ptr("ci"), PackagesAll: true, GranularFieldGiven: true}
	if edit != nil {
		edit(&r)
	}
	return r
}

// TestTokenRequestRules checks the create body's rules and their exact
// messages (spec/tokens.md sections 1 and 3).
func TestTokenRequestRules(t *testing.T) {
	f := newFixture(t, Options{})
	alice := f.user(t, "alice")
	many := func(n int, prefix string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%s%d", prefix, i)
		}
		return out
	}
	tests := []struct {
		name string
		req  TokenRequest
		kind fault.Kind
		msg  string
	}{
		{"nothing at all", TokenRequest{}, fault.Invalid, "Token name is required"},
		{"no name", granular(func(r *TokenRequest) { r.Name = nil }), fault.Invalid, "Token name is required"},
		{"blank name", granular(func(r *TokenRequest) { r.Name = ptr("  ") }), fault.Invalid, "Token name is required"},
		{"name too long", granular(func(r *TokenRequest) { r.Name = ptr(strings.Repeat("n", 129)) }), fault.Invalid,
			"Token name must be at most 128 characters"},
		{"description too long", granular(func(r *TokenRequest) { r.Description = ptr(strings.Repeat("d", 1025)) }), fault.Invalid,
			"Token description must be at most 1024 characters"},
		{"bad package permission", granular(func(r *TokenRequest) { r.PackagePerm = ptr("admin") }), fault.Invalid,
			"Invalid packages_and_scopes_permission. Must be one of: no-access, read-only, read-write, read-write-stage-only"},
		{"bad organization permission", granular(func(r *TokenRequest) { r.Orgs, r.OrgPerm = []string{"acme"}, ptr("owner") }), fault.Invalid,
			"Invalid orgs_permission. Must be one of: no-access, read-only, read-write"},
		{"stage-only is no organization permission", granular(func(r *TokenRequest) {
			r.Orgs, r.OrgPerm = []string{"acme"}, ptr(string(auth.ReadWriteStageOnly))
		}), fault.Invalid, "Invalid orgs_permission. Must be one of: no-access, read-only, read-write"},
		{"nothing selected", granular(func(r *TokenRequest) { r.PackagesAll = false }), fault.Invalid,
			"Please select at least one: package, scope or organization."},
		{"package permission without packages", granular(func(r *TokenRequest) {
			r.PackagesAll, r.PackagePerm, r.Orgs = false, ptr("read-only"), []string{"acme"}
		}), fault.Invalid, "You must select at least one package or scope if granting package/scopes permissions to this token."},
		{"organization permission without organizations", granular(func(r *TokenRequest) { r.OrgPerm = ptr("read-write") }), fault.Invalid,
			"You must select at least one organization if granting organization permissions to this token."},
		{"packages with no access only", granular(func(r *TokenRequest) { r.PackagePerm = ptr("no-access") }), fault.Invalid,
			"You must have at least one package / scope or organization added to this token."},
		{"51 packages and scopes", granular(func(r *TokenRequest) {
			r.PackagesAll, r.Packages, r.Scopes = false, many(26, "pkg-"), many(25, "scope")
		}), fault.Invalid, "A token can select at most 50 packages and scopes"},
		{"51 organizations", granular(func(r *TokenRequest) { r.Orgs = many(51, "org") }), fault.Invalid,
			"A token can select at most 50 organizations"},
		{"bad package name", granular(func(r *TokenRequest) { r.PackagesAll, r.Packages = false, []string{"Bad Name"} }), fault.Invalid,
			"Invalid package name: Bad Name"},
		{"bad scope", granular(func(r *TokenRequest) { r.PackagesAll, r.Scopes = false, []string{"@Caps"} }), fault.Invalid,
			"Invalid scope: Caps"},
		{"bad organization", granular(func(r *TokenRequest) { r.Orgs = []string{"no way"} }), fault.Invalid,
			"Invalid organization: no way"},
		{"bad CIDR", granular(func(r *TokenRequest) { r.CIDR = []string{"10.0.0.0/8", "nonsense"} }), fault.Invalid,
			"CIDR whitelist contains invalid CIDR entry: nonsense"},
		{"51 CIDRs", granular(func(r *TokenRequest) { r.CIDR = many(51, "10.0.0.") }), fault.Invalid,
			"CIDR whitelist can hold at most 50 entries"},
		{"legacy token with a bad CIDR", TokenRequest{ReadOnly: ptr(true), CIDR: []string{"::1/129"}}, fault.Invalid,
			"CIDR whitelist contains invalid CIDR entry: ::1/129"},
		{"legacy token name too long", TokenRequest{ReadOnly: ptr(true), Name: ptr(strings.Repeat("n", 129))}, fault.Invalid,
			"Token name must be at most 128 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Password = "password of alice"
			_, err := f.svc.CreateToken(t.Context(), alice, tt.req)
			wantFault(t, "CreateToken", err, tt.kind, tt.msg)
			wantFault(t, "CheckTokenRequest", f.svc.CheckTokenRequest(tt.req), tt.kind, tt.msg)
		})
	}
	if n, err := f.st.Q().CountLiveTokens(t.Context(), alice.UserID, f.now.UnixMilli()); err != nil || n != 0 {
		t.Fatalf("refused requests stored %d tokens (%v)", n, err)
	}
}

// TestTokenRequestNormalised shows what a valid request turns into: the
// default permissions, trimmed and de-duplicated selections, masked CIDRs.
func TestTokenRequestNormalised(t *testing.T) {
	f := newFixture(t, Options{})
	alice := f.user(t, "alice")
	created, err := f.svc.CreateToken(t.Context(), alice, TokenRequest{Password: "password of alice", GranularFieldGiven: true,
		Name: ptr("  deploy  "), Description: ptr(" ships it "),
		Packages: []string{" lib ", "lib", "*", ""}, Scopes: []string{"@acme/", "acme"}, Orgs: []string{"@acme"},
		CIDR: []string{"10.1.2.3/8", "2001:db8::1/32"}})
	if err != nil {
		t.Fatal(err)
	}
	info, err := Decode(created.Record)
	if err != nil {
		t.Fatal(err)
	}
	g := info.Grants
	if created.Record.Name != "deploy" || created.Record.Description != "ships it" ||
		!g.PackagesAll || strings.Join(g.Packages, ",") != "lib" || strings.Join(g.Scopes, ",") != "acme" ||
		g.PackagePerm != auth.ReadOnly || strings.Join(g.Orgs, ",") != "acme" || g.OrgPerm != auth.ReadOnly ||
		strings.Join(info.CIDR, ",") != "10.0.0.0/8,2001:db8::/32" || created.Record.Kind != string(auth.KindGranular) {
		t.Fatalf("stored %+v with grants %+v and CIDR %v", created.Record, g, info.CIDR)
	}
	if !f.svc.format.Valid(created.Token) || created.Record.Masked != created.Token[:8]+"..."+created.Token[len(created.Token)-4:] {
		t.Fatalf("token %q masked as %q", created.Token, created.Record.Masked)
	}
}

// TestTokenExpiry covers the defaults and limits of spec/tokens.md section 4.
func TestTokenExpiry(t *testing.T) {
	f := newFixture(t, Options{})
	day := 24 * time.Hour
	at := func(d time.Duration) *time.Time { v := f.now.Add(d); return &v }
	tests := []struct {
		name string
		req  TokenRequest
		want time.Duration // from now; 0 for never
		msg  string        // the refusal, if any
	}{
		{"read-only granular: 30 days", granular(nil), 30 * day, ""},
		{"read-write granular: 7 days", granular(func(r *TokenRequest) { r.PackagePerm = ptr("read-write") }), 7 * day, ""},
		{"stage-only granular writes: 7 days", granular(func(r *TokenRequest) { r.PackagePerm = ptr("read-write-stage-only") }), 7 * day, ""},
		{"organization read-write writes: 7 days", granular(func(r *TokenRequest) {
			r.PackagesAll, r.Orgs, r.OrgPerm = false, []string{"acme"}, ptr("read-write")
		}), 7 * day, ""},
		{"bypass-2FA counts as writing: 7 days", granular(func(r *TokenRequest) { r.Bypass2FA = true }), 7 * day, ""},
		{"expires in days", granular(func(r *TokenRequest) { r.ExpiresDays = ptr(12) }), 12 * day, ""},
		{"read-only may live long", granular(func(r *TokenRequest) { r.ExpiresDays = ptr(365) }), 365 * day, ""},
		{"read-write at the limit", granular(func(r *TokenRequest) { r.PackagePerm, r.ExpiresDays = ptr("read-write"), ptr(90) }), 90 * day, ""},
		{"read-write past the limit", granular(func(r *TokenRequest) { r.PackagePerm, r.ExpiresDays = ptr("read-write"), ptr(91) }), 0,
			"Read-write tokens cannot have expiration longer than 90 days"},
		{"bypass past the limit", granular(func(r *TokenRequest) { r.Bypass2FA, r.ExpiresAt = true, at(120*day) }), 0,
			"Read-write tokens cannot have expiration longer than 90 days"},
		{"zero days", granular(func(r *TokenRequest) { r.ExpiresDays = ptr(0) }), 0, "Expiration must be at least 1 day in the future"},
		{"a date too soon", granular(func(r *TokenRequest) { r.ExpiresAt = at(23 * time.Hour) }), 0,
			"Expiration must be at least 1 day in the future"},
		{"a date a day away", granular(func(r *TokenRequest) { r.ExpiresAt = at(day) }), day, ""},
		{"a date too far", granular(func(r *TokenRequest) { r.ExpiresAt = at(101 * 365 * day) }), 0, "Expiration is too far in the future"},
		{"days too far", granular(func(r *TokenRequest) { r.ExpiresDays = ptr(100*365 + 1) }), 0, "Expiration is too far in the future"},
		{"days and a date", granular(func(r *TokenRequest) { r.ExpiresDays, r.ExpiresAt = ptr(3), at(3*day) }), 0,
			"Give either expires (days) or expiry (a date), not both"},
		{"legacy tokens never expire", TokenRequest{Automation: ptr(true)}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := f.svc.planToken(tt.req)
			if tt.msg != "" {
				wantFault(t, "planToken", err, fault.Invalid, tt.msg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			exp := rec.ExpiresAt
			switch {
			case tt.want == 0 && exp.Valid:
				t.Fatalf("expires at %v, want never", time.UnixMilli(exp.Int64))
			case tt.want != 0 && (!exp.Valid || exp.Int64 != f.now.Add(tt.want).UnixMilli()):
				t.Fatalf("expires at %v (set %v), want %v", time.UnixMilli(exp.Int64).UTC(), exp.Valid, f.now.Add(tt.want))
			}
		})
	}
}

// TestTokenPolicySettings covers the server's settings: the write-token
// limit, legacy tokens off, legacy tokens that expire, tokens per user.
func TestTokenPolicySettings(t *testing.T) {
	pol := DefaultTokenPolicy()
	pol.MaxWriteTokenDays, pol.LegacyMaxDays, pol.MaxTokensPerUser = 30, 10, 3
	f := newFixture(t, Options{Tokens: pol})
	alice := f.user(t, "alice")
	_, err := f.svc.PreviewToken(granular(func(r *TokenRequest) { r.PackagePerm, r.ExpiresDays = ptr("read-write"), ptr(31) }))
	wantFault(t, "31 days with a 30-day limit", err, fault.Invalid, "Read-write tokens cannot have expiration longer than 30 days")
	rec, err := f.svc.planToken(TokenRequest{ReadOnly: ptr(true)})
	if err != nil || !rec.ExpiresAt.Valid || rec.ExpiresAt.Int64 != f.now.AddDate(0, 0, 10).UnixMilli() {
		t.Fatalf("legacy token with legacy_max_days 10: %+v %v", rec.ExpiresAt, err)
	}
	if rec.Kind != string(auth.KindReadOnly) {
		t.Fatalf("kind %q, want read-only", rec.Kind)
	}
	for i := range 3 {
		if _, err := f.svc.CreateToken(t.Context(), alice, TokenRequest{Password: "password of alice", ReadOnly: ptr(i%2 == 0)}); err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
	}
	_, err = f.svc.CreateToken(t.Context(), alice, TokenRequest{Password: "password of alice", ReadOnly: ptr(true)})
	wantFault(t, "a fourth token", err, fault.Invalid, "You have reached the maximum number of tokens")

	pol.LegacyTokens = false
	off := newFixture(t, Options{Tokens: pol})
	bob := off.user(t, "bob")
	for _, req := range []TokenRequest{{ReadOnly: ptr(true)}, {ReadOnly: ptr(false)}, {Automation: ptr(true)}} {
		req.Password = "password of bob"
		_, err := off.svc.CreateToken(t.Context(), bob, req)
		wantFault(t, "legacy token when disabled", err, fault.Forbidden,
			"Legacy tokens are disabled on this registry; create a granular access token.")
	}
	if _, err := off.svc.CreateToken(t.Context(), bob, granular(func(r *TokenRequest) { r.Password = "password of bob" })); err != nil {
		t.Fatalf("granular token with legacy tokens disabled: %v", err)
	}
}

// TestCreateTokenChecks: who may create tokens, and the password.
func TestCreateTokenChecks(t *testing.T) {
	f := newFixture(t, Options{})
	alice := f.user(t, "alice")
	req := granular(nil)
	_, err := f.svc.CreateToken(t.Context(), alice, req)
	wantFault(t, "no password", err, fault.Invalid, "Password is required to create a token")
	req.Password = "not the password"
	_, err = f.svc.CreateToken(t.Context(), alice, req)
	wantFault(t, "wrong password", err, fault.Unauthorized, "Incorrect password")
	req.Password = "password of alice"
	for _, k := range []auth.Kind{auth.KindGranular, auth.KindAutomation, auth.KindReadOnly} {
		p := *alice
		p.Kind, p.Grants = k, &auth.Grants{PackagesAll: true, PackagePerm: auth.ReadWrite}
		_, err := f.svc.CreateToken(t.Context(), &p, req)
		wantFault(t, string(k)+" creating a token", err, fault.Forbidden, "")
	}
	_, err = f.svc.CreateToken(t.Context(), &auth.Principal{}, req)
	wantFault(t, "anonymous", err, fault.Unauthorized, "Authentication required")
	publish := *alice
	publish.Kind = auth.KindPublish
	for _, p := range []*auth.Principal{alice, &publish} {
		if _, err := f.svc.CreateToken(t.Context(), p, req); err != nil {
			t.Fatalf("%s creating a token: %v", p.Kind, err)
		}
	}
}
