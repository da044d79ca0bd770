package policy

import (
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
)

// TestDecideSSOSignIn: a provider's domain and group rules admit exactly
// the people they name, on a verified email only.
func TestDecideSSOSignIn(t *testing.T) {
	domains := SSOAdmission{Provider: "corp", AllowedDomains: []string{"corp.test", "Other.test"}}
	groupsOnly := SSOAdmission{Provider: "corp", AllowedGroups: []string{"eng", "ops"}}
	both := SSOAdmission{Provider: "corp", AllowedDomains: []string{"corp.test"}, AllowedGroups: []string{"eng"}}
	person := func(email string, verified bool, groups ...string) SSOPerson {
		return SSOPerson{Email: email, EmailVerified: verified, Groups: groups}
	}
	tests := []struct {
		name string
		rule SSOAdmission
		who  SSOPerson
		want string
	}{
		{"no rule admits anyone", SSOAdmission{Provider: "corp"}, person("", false), "ok"},
		{"domain", domains, person("a@corp.test", true), "ok"},
		{"domain, other case", domains, person("a@CORP.test", true), "ok"},
		{"second domain", domains, person("a@other.TEST", true), "ok"},
		{"domain unverified", domains, person("a@corp.test", false), "403"},
		{"other domain", domains, person("a@evil.test", true), "403"},
		{"subdomain", domains, person("a@x.corp.test", true), "403"},
		{"suffix", domains, person("a@evilcorp.test", true), "403"},
		{"two ats", domains, person("a@evil.test@corp.test", true), "403"},
		{"no email", domains, person("", true), "403"},
		{"group", groupsOnly, person("", false, "x", "ops"), "ok"},
		{"no group", groupsOnly, person("a@corp.test", true), "403"},
		{"other groups", groupsOnly, person("a@corp.test", true, "design", "ENG"), "403"},
		{"both hold", both, person("a@corp.test", true, "eng"), "ok"},
		{"domain only", both, person("a@corp.test", true, "ops"), "403"},
		{"group only", both, person("a@evil.test", true, "eng"), "403"},
	}
	for _, tt := range tests {
		if got := outcome(DecideSSOSignIn(tt.rule, tt.who)); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
}

// TestDecideSSOAccount: a first sign-in creates an account only when the
// provider's setting says so, and never takes one over by its email or name.
func TestDecideSSOAccount(t *testing.T) {
	tests := []struct {
		name string
		f    SSOFirstSignIn
		want string
	}{
		{"created", SSOFirstSignIn{Provider: "corp", CreateUsers: true, Name: "alice"}, "ok"},
		{"not created", SSOFirstSignIn{Provider: "corp", Name: "alice"}, "403"},
		{"email taken", SSOFirstSignIn{Provider: "corp", CreateUsers: true, Name: "alice", EmailTaken: true}, "403"},
		{"email taken, no creation", SSOFirstSignIn{Provider: "corp", Name: "alice", EmailTaken: true}, "403"},
		{"name taken", SSOFirstSignIn{Provider: "corp", CreateUsers: true, Name: "alice", NameTaken: true}, "403"},
		{"no name", SSOFirstSignIn{Provider: "corp", CreateUsers: true}, "403"},
	}
	for _, tt := range tests {
		if got := outcomeOf(DecideSSOAccount(tt.f)); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
}

// TestPasswordSignIn: SSO-only turns passwords off for everyone but
// administrators.
func TestPasswordSignIn(t *testing.T) {
	tests := []struct {
		ssoOnly, admin bool
		want           string
	}{
		{false, false, "ok"}, {false, true, "ok"}, {true, true, "ok"}, {true, false, "403"},
	}
	for _, tt := range tests {
		err := DecidePasswordSignIn(tt.ssoOnly, tt.admin)
		if got := outcome(err); got != tt.want || PasswordOff(tt.ssoOnly, tt.admin) != (tt.want == "403") {
			t.Errorf("sso-only %v, admin %v: got %s, want %s", tt.ssoOnly, tt.admin, got, tt.want)
		}
	}
}

// TestDecideFreshSignIn: only a login session of the last 15 minutes
// stands in for a password.
func TestDecideFreshSignIn(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	session := &auth.Principal{UserID: 1, UserName: "alice", Kind: auth.KindSession}
	tests := []struct {
		name     string
		p        *auth.Principal
		signedIn time.Time
		want     string
	}{
		{"just now", session, now, "ok"},
		{"14 minutes ago", session, now.Add(-14 * time.Minute), "ok"},
		{"16 minutes ago", session, now.Add(-16 * time.Minute), "403"},
		{"unknown", session, time.Time{}, "403"},
		{"in the future", session, now.Add(time.Hour), "403"},
		{"a publish token", &auth.Principal{UserID: 1, Kind: auth.KindPublish}, now, "403"},
		{"a granular token", &auth.Principal{UserID: 1, Kind: auth.KindGranular}, now, "403"},
		{"signed out", &auth.Principal{}, now, "401"},
	}
	for _, tt := range tests {
		if got := outcome(DecideFreshSignIn(tt.p, tt.signedIn, now)); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
}

// TestSSOMemberships: only the groups a person is in give memberships.
func TestSSOMemberships(t *testing.T) {
	mapping := []SSOGroupGrant{{Group: "eng", Org: "acme"}, {Group: "eng", Org: "acme", Team: "devs"},
		{Group: "ops", Org: "acme", Team: "ops"}, {Group: "ENG", Org: "other"}}
	got := SSOMemberships(mapping, []string{"eng", "design"})
	if len(got) != 2 || got[0] != mapping[0] || got[1] != mapping[1] {
		t.Fatalf("eng and design: %+v", got)
	}
	if got := SSOMemberships(mapping, nil); len(got) != 0 {
		t.Fatalf("no groups: %+v", got)
	}
	if got := SSOMemberships(nil, []string{"eng"}); len(got) != 0 {
		t.Fatalf("no mapping (the default): %+v", got)
	}
}
