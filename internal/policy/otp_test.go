package policy

import (
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
)

func TestNeedsOTP(t *testing.T) {
	session := &auth.Principal{UserID: 1, Kind: auth.KindSession}
	publish := &auth.Principal{UserID: 1, Kind: auth.KindPublish}
	automation := &auth.Principal{UserID: 1, Kind: auth.KindAutomation}
	granular := &auth.Principal{UserID: 1, Kind: auth.KindGranular, Grants: &auth.Grants{PackagesAll: true, PackagePerm: auth.ReadWrite}}
	bypass := &auth.Principal{UserID: 1, Kind: auth.KindGranular, Bypass2FA: true, Grants: &auth.Grants{PackagesAll: true, PackagePerm: auth.ReadWrite}}
	oidc := &auth.Principal{UserID: 1, Kind: auth.KindOIDC, Trust: &auth.Trust{Package: "lib", Permissions: []string{auth.PermCreatePackage}}}

	none := OTPFacts{}
	authOnly := OTPFacts{UserMode: "auth-only"}
	writes := OTPFacts{UserMode: "auth-and-writes"}
	withPkg := func(f OTPFacts, requires, overrides bool) OTPFacts {
		f.Publish, f.PackageRequiresTFA, f.AutomationOverridesTFA = true, requires, overrides
		return f
	}
	required := func(f OTPFacts) OTPFacts { f.RegistryRequires2FA = true; return f }

	tests := []struct {
		name string
		p    *auth.Principal
		op   OTPOp
		f    OTPFacts
		want string // "otp", "no", "403"
	}{
		{"no 2FA: login", session, OTPLogin, none, "no"},
		{"no 2FA: publish", publish, OTPPackageWrite, none, "no"},
		{"auth-only: login", session, OTPLogin, authOnly, "otp"},
		{"auth-only: token create", session, OTPTokens, authOnly, "otp"},
		{"auth-only: profile", session, OTPProfile, authOnly, "otp"},
		{"auth-only: publish", publish, OTPPackageWrite, authOnly, "no"},
		{"auth-only: owners", session, OTPGovernance, authOnly, "no"},
		{"auth-and-writes: publish with a publish token", publish, OTPPackageWrite, writes, "otp"},
		{"auth-and-writes: publish with a session", session, OTPPackageWrite, writes, "otp"},
		{"auth-and-writes: owners", session, OTPGovernance, writes, "otp"},
		{"auth-and-writes: automation publishes", automation, OTPPackageWrite, writes, "no"},
		{"auth-and-writes: granular without bypass publishes", granular, OTPPackageWrite, writes, "otp"},
		{"auth-and-writes: bypass token publishes", bypass, OTPPackageWrite, writes, "no"},
		{"auth-and-writes: bypass token governance", bypass, OTPGovernance, writes, "otp"},
		{"mfa=publish refuses automation without 2FA", automation, OTPPackageWrite, withPkg(none, true, false), "403"},
		{"mfa=publish asks automation for an OTP", automation, OTPPackageWrite, withPkg(writes, true, false), "otp"},
		{"mfa=publish asks bypass tokens for an OTP", bypass, OTPPackageWrite, withPkg(authOnly, true, false), "otp"},
		{"mfa=publish asks even auth-only users", publish, OTPPackageWrite, withPkg(authOnly, true, false), "otp"},
		{"mfa=automation lets automation through", automation, OTPPackageWrite, withPkg(writes, true, true), "no"},
		{"mfa=automation lets bypass through without user 2FA", bypass, OTPPackageWrite, withPkg(none, true, true), "no"},
		{"mfa=automation asks a session", session, OTPPackageWrite, withPkg(authOnly, true, true), "otp"},
		{"mfa=automation refuses a session without 2FA", session, OTPPackageWrite, withPkg(none, true, true), "403"},
		{"mfa=none leaves it to the user's mode", publish, OTPPackageWrite, withPkg(authOnly, false, true), "no"},
		{"require_2fa refuses publish", publish, OTPPackageWrite, required(none), "403"},
		{"require_2fa refuses token creation", session, OTPTokens, required(none), "403"},
		{"require_2fa allows login", session, OTPLogin, required(none), "no"},
		{"require_2fa allows enabling 2FA", session, OTPProfile, required(none), "no"},
		{"require_2fa with 2FA on", publish, OTPPackageWrite, required(writes), "otp"},
		{"trust: refused without 2FA", session, OTPTrust, none, "403"},
		{"trust: auth-only asks", session, OTPTrust, authOnly, "otp"},
		{"trust: auth-and-writes asks", session, OTPTrust, writes, "otp"},
		{"trust: automation is asked too", automation, OTPTrust, writes, "otp"},
		{"trust: bypass tokens are asked too", bypass, OTPTrust, authOnly, "otp"},
		{"oidc publishes under auth-and-writes", oidc, OTPPackageWrite, writes, "no"},
		{"oidc publishes where mfa=publish disallows tokens", oidc, OTPPackageWrite, withPkg(writes, true, false), "no"},
		{"oidc publishes without user 2FA", oidc, OTPPackageWrite, withPkg(none, true, false), "no"},
		{"require_2fa refuses oidc when the user dropped 2FA", oidc, OTPPackageWrite, required(none), "403"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			need, err := NeedsOTP(tt.p, tt.op, tt.f)
			got := "no"
			switch {
			case err != nil && outcome(err) == "403":
				got = "403"
			case err != nil:
				t.Fatalf("unexpected error %v", err)
			case need:
				got = "otp"
			}
			if got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}
