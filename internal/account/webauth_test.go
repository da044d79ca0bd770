package account

import (
	"encoding/base32"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/token"
	"github.com/gatehouse-registry/gatehouse/internal/totp"
)

// TestContinueWebAuth: a browser signed in as alice confirms an npm login
// started from its own address without the password ("Continue as alice"),
// with an OTP once she has 2FA; the CLI gets a new session for her, once.
// A login started elsewhere, a web OTP, a token and a second confirmation
// are refused.
func TestContinueWebAuth(t *testing.T) {
	f := newFixture(t, Options{})
	here, there := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.9")
	alice := f.user(t, "alice")
	alice.ClientIP = here
	ctx := t.Context()
	start := func(from netip.Addr) WebAuthStart {
		t.Helper()
		st, err := f.svc.StartWebAuth(auth.WithClientIP(ctx, from), WebLogin, nil, "login")
		if err != nil {
			t.Fatal(err)
		}
		return st
	}

	st := start(here)
	info, err := f.svc.WebAuthInfo(ctx, st.LoginID)
	if err != nil || info.StartedFrom != here || !info.Started.Equal(f.now.Truncate(time.Millisecond)) || info.Finished {
		t.Fatalf("WebAuthInfo = %+v, %v; want started at %s from %s", info, err, f.now, here)
	}
	if err := f.svc.ContinueWebAuth(ctx, st.LoginID, alice); err != nil {
		t.Fatalf("continue as alice: %v", err)
	}
	secret, pending, err := f.svc.PollWebAuth(ctx, st.DoneID)
	if err != nil || pending {
		t.Fatalf("poll after continuing: pending %v, %v", pending, err)
	}
	h := token.Hash(secret)
	tok, err := f.st.Q().TokenByHash(ctx, h[:])
	if err != nil || tok.UserID != alice.UserID || tok.Kind != string(auth.KindSession) || tok.RevokedAt.Valid {
		t.Fatalf("the CLI's token: %+v, %v; want a live session of alice's", tok, err)
	}
	wantFault(t, "continue twice", f.svc.ContinueWebAuth(ctx, st.LoginID, alice), fault.Conflict, "")

	other := start(there)
	wantFault(t, "continue a login started elsewhere", f.svc.ContinueWebAuth(ctx, other.LoginID, alice), fault.Forbidden, "")
	publishToken := &auth.Principal{UserID: alice.UserID, UserName: "alice", Kind: auth.KindPublish, ClientIP: here}
	st = start(here)
	wantFault(t, "continue with a publish token", f.svc.ContinueWebAuth(ctx, st.LoginID, publishToken), fault.Forbidden, "")
	wantFault(t, "continue signed out", f.svc.ContinueWebAuth(ctx, st.LoginID, &auth.Principal{ClientIP: here}), fault.Unauthorized, "")
	if _, pending, _ := f.svc.PollWebAuth(ctx, st.DoneID); !pending {
		t.Fatal("a refused continue finished the login")
	}

	// With 2FA on, an OTP is needed, and a wrong one does not do.
	res, err := f.svc.SetTFAMode(ctx, alice, "password of alice", "auth-only")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(res.OTPAuthURL)
	if err != nil {
		t.Fatal(err)
	}
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(u.Query().Get("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.ConfirmTFA(ctx, alice, totp.Code(key, totp.Step(f.now))); err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(time.Minute)
	err = f.svc.ContinueWebAuth(ctx, st.LoginID, alice)
	if e, ok := fault.As(err); !ok || e.Challenge != "OTP" {
		t.Fatalf("continue without an OTP: %v, want the OTP challenge", err)
	}
	err = f.svc.ContinueWebAuth(auth.WithOTP(ctx, "000000"), st.LoginID, alice)
	if e, ok := fault.As(err); !ok || e.Challenge != "OTP" {
		t.Fatalf("continue with a wrong OTP: %v, want the OTP challenge", err)
	}
	if err := f.svc.ContinueWebAuth(auth.WithOTP(ctx, totp.Code(key, totp.Step(f.now))), st.LoginID, alice); err != nil {
		t.Fatalf("continue with the OTP: %v", err)
	}
	if _, pending, err := f.svc.PollWebAuth(ctx, st.DoneID); err != nil || pending {
		t.Fatalf("poll after continuing with the OTP: pending %v, %v", pending, err)
	}

	// A web OTP confirms one command with the password; continuing is for logins.
	otp, err := f.svc.StartWebAuth(auth.WithClientIP(ctx, here), WebOTP, alice, "publish")
	if err != nil {
		t.Fatal(err)
	}
	wantFault(t, "continue a web OTP", f.svc.ContinueWebAuth(ctx, otp.LoginID, alice), fault.Invalid, "")
}
