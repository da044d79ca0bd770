package account

import (
	"context"
	"encoding/base32"
	"fmt"
	"net/netip"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/keyring"
	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/gatehouse-registry/gatehouse/internal/store/pgtest"
	"github.com/gatehouse-registry/gatehouse/internal/token"
	"github.com/gatehouse-registry/gatehouse/internal/totp"
)

// nodes opens two handles on one new database, as two gatehouse nodes
// sharing it would.
type nodes func(t *testing.T) (*store.Store, *store.Store)

// onEveryStore runs fn on SQLite and on PostgreSQL (which, on CI, must be
// there).
func onEveryStore(t *testing.T, fn func(t *testing.T, open nodes)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, func(t *testing.T) (*store.Store, *store.Store) {
			path := filepath.Join(t.TempDir(), "gatehouse.db")
			return openStore(t, func() (*store.Store, error) { return store.OpenSQLite(t.Context(), path) }),
				openStore(t, func() (*store.Store, error) { return store.OpenSQLite(t.Context(), path) })
		})
	})
	t.Run("postgres", func(t *testing.T) {
		admin := pgtest.AdminURL(t, "the lockout on PostgreSQL")
		fn(t, func(t *testing.T) (*store.Store, *store.Store) {
			u, _ := pgtest.NewDatabase(t, admin, "gatehouse_lockout")
			return openStore(t, func() (*store.Store, error) { return store.OpenPostgres(t.Context(), u) }),
				openStore(t, func() (*store.Store, error) { return store.OpenPostgres(t.Context(), u) })
		})
	})
}

func openStore(t *testing.T, open func() (*store.Store, error)) *store.Store {
	t.Helper()
	st, err := open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// twoNodes is two account services on one database, with one key.
func twoNodes(t *testing.T, open nodes) (*fixture, *fixture) {
	t.Helper()
	a, b := open(t)
	keys := keyring.New(make([]byte, 32))
	return newFixtureOn(t, a, Options{Keyring: keys}), newFixtureOn(t, b, Options{Keyring: keys})
}

// from is ctx as a request from addr carries it.
func from(ctx context.Context, addr string) context.Context {
	return auth.WithClientIP(ctx, netip.MustParseAddr(addr))
}

// countChecks replaces the password check of f's service with one that
// counts how often a hash is computed.
func countChecks(f *fixture) *atomic.Int64 {
	var n atomic.Int64
	f.svc.passwordMatches = func(encoded, password string) (bool, error) {
		n.Add(1)
		return CheckPassword(encoded, password)
	}
	return &n
}

// TestSecurityLockoutCounterIsAtomic: a burst of 200 parallel wrong
// attempts, split over two nodes sharing the database, gets at most 5
// checks per path; the rest are refused unchecked, and afterwards the right
// password or OTP is refused too, because the path is locked. (Before,
// every attempt of the burst read the same count: 156 of 200 were checked
// and the account ended unlocked.)
func TestSecurityLockoutCounterIsAtomic(t *testing.T) {
	onEveryStore(t, func(t *testing.T, open nodes) {
		for _, path := range []string{pathPassword, pathOTP} {
			t.Run(path, func(t *testing.T) {
				n1, n2 := twoNodes(t, open)
				alice := n1.user(t, "alice")
				ctx := from(t.Context(), "203.0.113.7")
				var checks, refused atomic.Int64
				var wg sync.WaitGroup
				errs := make(chan error, 200)
				for i := range 200 {
					svc := n1.svc
					if i%2 == 1 {
						svc = n2.svc
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						ok, err := svc.guarded(ctx, alice.UserID, path, func() (bool, error) {
							checks.Add(1)
							return false, nil
						})
						switch {
						case fault.Is(err, fault.Locked):
							refused.Add(1)
						case err != nil || ok:
							errs <- fmt.Errorf("attempt: %v %v", ok, err)
						}
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Fatal(err)
				}
				if checks.Load() > 5 || refused.Load() != 200-checks.Load() {
					t.Fatalf("200 parallel wrong attempts: %d checked, %d refused as locked; want at most 5 checked",
						checks.Load(), refused.Load())
				}
				_, err := n2.svc.guarded(ctx, alice.UserID, path, func() (bool, error) {
					t.Error("a locked path checked an attempt")
					return true, nil
				})
				e, _ := fault.As(err)
				if e == nil || e.Kind != fault.Locked || e.RetryAfter < 1 || e.RetryAfter > 301 {
					t.Fatalf("the right answer after the burst: %v, want the lock with Retry-After", err)
				}
			})
		}
		t.Run("real one-time passwords", func(t *testing.T) {
			n1, n2 := twoNodes(t, open)
			alice := n1.user(t, "alice")
			secret := enable2FA(t, n1, alice)
			wrong := wrongCode(secret, n1.now)
			var answered atomic.Int64
			var wg sync.WaitGroup
			for i := range 200 {
				svc := n1.svc
				if i%2 == 1 {
					svc = n2.svc
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx := auth.WithOTP(from(t.Context(), "203.0.113.7"), wrong)
					err := svc.ChangePassword(ctx, alice, "password of alice", "a new password for alice")
					if !fault.Is(err, fault.Locked) {
						answered.Add(1)
					}
				}()
			}
			wg.Wait()
			if answered.Load() > 5 {
				t.Fatalf("%d of 200 parallel wrong OTPs were answered other than locked, want at most 5", answered.Load())
			}
			ctx := auth.WithOTP(from(t.Context(), "203.0.113.7"), totp.Code(secret, totp.Step(n1.now)))
			err := n2.svc.ChangePassword(ctx, alice, "password of alice", "a new password for alice")
			wantFault(t, "the right OTP after the burst", err, fault.Locked, "")
		})
	})
}

// enable2FA turns two-factor authentication on for p (auth-only) and
// returns its secret.
func enable2FA(t *testing.T, f *fixture, p *auth.Principal) []byte {
	t.Helper()
	ctx := from(t.Context(), "192.0.2.1")
	res, err := f.svc.SetTFAMode(ctx, p, "password of "+p.UserName, "auth-only")
	if err != nil {
		t.Fatal(err)
	}
	secret := secretOf(t, res.OTPAuthURL)
	if _, err := f.svc.ConfirmTFA(ctx, p, totp.Code(secret, totp.Step(f.now)-1)); err != nil {
		t.Fatal(err)
	}
	return secret
}

// wrongCode is a six-digit code that is not secret's at now, nor a step
// either side.
func wrongCode(secret []byte, now time.Time) string {
	step := totp.Step(now)
	for d := 0; ; d++ {
		c := fmt.Sprintf("%06d", d)
		if c != totp.Code(secret, step-1) && c != totp.Code(secret, step) && c != totp.Code(secret, step+1) {
			return c
		}
	}
}

// TestSecurityLockoutOnlyLocksTheGuesser: five wrong passwords from one
// address lock that address out of the user's password path, not the user:
// from another address the right password still signs in. (Before, anyone
// could lock any user out of npm login, the website, token creation and
// 2FA changes, five wrong passwords every five minutes.)
func TestSecurityLockoutOnlyLocksTheGuesser(t *testing.T) {
	onEveryStore(t, func(t *testing.T, open nodes) {
		f, _ := twoNodes(t, open)
		f.user(t, "alice")
		attacker := from(t.Context(), "198.51.100.9")
		for i := range 5 {
			_, err := f.svc.SignIn(attacker, "alice", "guess number "+fmt.Sprint(i), "test")
			wantFault(t, "a wrong password", err, fault.Unauthorized, "Incorrect username or password")
		}
		_, err := f.svc.SignIn(attacker, "alice", "password of alice", "test")
		wantFault(t, "the guesser, with the right password", err, fault.Locked, "")
		if e, _ := fault.As(err); e.RetryAfter != 301 {
			t.Fatalf("Retry-After %d, want 301 (five minutes)", e.RetryAfter)
		}
		if _, err := f.svc.SignIn(from(t.Context(), "192.0.2.10"), "alice", "password of alice", "test"); err != nil {
			t.Fatalf("alice from her own address: %v", err)
		}
		// An IPv6 guesser is one /64: the next address of the network is the same guesser.
		v6 := from(t.Context(), "2001:db8:1:2::1")
		for range 5 {
			_, _ = f.svc.SignIn(v6, "alice", "wrong", "test")
		}
		_, err = f.svc.SignIn(from(t.Context(), "2001:db8:1:2:ffff::9"), "alice", "password of alice", "test")
		wantFault(t, "another address of the guesser's /64", err, fault.Locked, "")
		if _, err := f.svc.SignIn(from(t.Context(), "2001:db8:1:3::1"), "alice", "password of alice", "test"); err != nil {
			t.Fatalf("another /64: %v", err)
		}
	})
}

// TestSecuritySpreadGuessIsBoundedPerUser: a guess spread over many
// addresses, each below its own limit, gets at most 50 password checks for
// one user; then addresses the user never signed in from are refused, while
// the address where the user signed in before still signs in.
func TestSecuritySpreadGuessIsBoundedPerUser(t *testing.T) {
	onEveryStore(t, func(t *testing.T, open nodes) {
		f, _ := twoNodes(t, open)
		f.user(t, "alice")
		home := from(t.Context(), "192.0.2.10")
		if _, err := f.svc.SignIn(home, "alice", "password of alice", "test"); err != nil {
			t.Fatal(err)
		}
		checks := countChecks(f)
		refused := 0
		for a := range 40 {
			ctx := from(t.Context(), fmt.Sprintf("10.0.%d.1", a))
			for range 4 {
				_, err := f.svc.SignIn(ctx, "alice", "a guess", "test")
				if fault.Is(err, fault.Locked) {
					refused++
				}
			}
		}
		if checks.Load() > int64(passwordAll.max) || refused != 160-int(checks.Load()) {
			t.Fatalf("160 guesses from 40 addresses: %d checked, %d refused; want at most %d checked",
				checks.Load(), refused, passwordAll.max)
		}
		_, err := f.svc.SignIn(from(t.Context(), "10.1.0.1"), "alice", "password of alice", "test")
		wantFault(t, "a new address during the spread guess's lock", err, fault.Locked, "")
		if _, err := f.svc.SignIn(home, "alice", "password of alice", "test"); err != nil {
			t.Fatalf("alice from the address she signed in from before: %v", err)
		}
	})
}

// TestSecurityOTPLockPeriodsGrow: on the one-time password path each lock
// in a row lasts twice the one before (5, 10, 20 minutes...), up to a day,
// so that guessing six digits gets slower and slower; the password path
// keeps its five minutes. A right answer starts again.
func TestSecurityOTPLockPeriodsGrow(t *testing.T) {
	f := newFixture(t, Options{})
	alice := f.user(t, "alice")
	ctx := from(t.Context(), "203.0.113.7")
	fail := func() (bool, error) { return false, nil }
	lockAfterFive := func(path string) int {
		t.Helper()
		for i := range 5 {
			if _, err := f.svc.guarded(ctx, alice.UserID, path, fail); err != nil {
				t.Fatalf("attempt %d: %v", i+1, err)
			}
		}
		_, err := f.svc.guarded(ctx, alice.UserID, path, fail)
		e, ok := fault.As(err)
		if !ok || e.Kind != fault.Locked {
			t.Fatalf("sixth attempt: %v", err)
		}
		f.now = f.now.Add(time.Duration(e.RetryAfter) * time.Second)
		return e.RetryAfter
	}
	// The address has seen a right answer, so the counter every address
	// shares (which a guess from here would soon lock too) spares it.
	if _, err := f.svc.guarded(ctx, alice.UserID, pathOTP, func() (bool, error) { return true, nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.guarded(ctx, alice.UserID, pathPassword, func() (bool, error) { return true, nil }); err != nil {
		t.Fatal(err)
	}
	var got []int
	for range 4 {
		got = append(got, lockAfterFive(pathOTP))
	}
	if fmt.Sprint(got) != "[301 601 1201 2401]" {
		t.Fatalf("OTP lock periods %v, want doubling from five minutes", got)
	}
	for range 20 {
		lockAfterFive(pathOTP)
	}
	if got := lockAfterFive(pathOTP); got != 24*3600+1 {
		t.Fatalf("OTP lock period after many locks: %ds, want a day at most", got)
	}
	if _, err := f.svc.guarded(ctx, alice.UserID, pathOTP, func() (bool, error) { return true, nil }); err != nil {
		t.Fatal(err)
	}
	if got := lockAfterFive(pathOTP); got != 301 {
		t.Fatalf("after a right answer the lock period is %ds, want five minutes again", got)
	}
	for range 3 {
		if got := lockAfterFive(pathPassword); got != 301 {
			t.Fatalf("password lock period %ds, want five minutes every time", got)
		}
	}
}

// TestSecurityUnknownUserCostsAPasswordHash: a sign-in for a user that does
// not exist computes a password hash, as a wrong password for one that
// does, so that timing does not tell which user names exist (before, it
// answered in a few milliseconds instead of hundreds). Counted, not timed:
// BenchmarkSignIn shows the times (docs/security-accounts.md).
func TestSecurityUnknownUserCostsAPasswordHash(t *testing.T) {
	f := newFixture(t, Options{})
	f.user(t, "alice")
	checks := countChecks(f)
	ctx := from(t.Context(), "192.0.2.1")
	for _, name := range []string{"alice", "nobody"} {
		before := checks.Load()
		_, err := f.svc.SignIn(ctx, name, "a wrong password", "test")
		wantFault(t, "sign in as "+name, err, fault.Unauthorized, "Incorrect username or password")
		if checks.Load()-before != 1 {
			t.Fatalf("sign in as %s computed %d hashes, want 1", name, checks.Load()-before)
		}
	}
	start, err := f.svc.StartWebAuth(ctx, WebLogin, nil, "login")
	if err != nil {
		t.Fatal(err)
	}
	before := checks.Load()
	err = f.svc.CompleteWebAuth(ctx, start.LoginID, "nobody", "a wrong password", "")
	wantFault(t, "confirm a web login as nobody", err, fault.Unauthorized, "Incorrect username or password")
	if checks.Load()-before != 1 {
		t.Fatalf("web login as nobody computed %d hashes, want 1", checks.Load()-before)
	}
	// The dummy hash costs what a real one does: same algorithm and parameters.
	p, _, _, err := decodePHC(f.svc.dummyHash())
	if err != nil || p != (argonParams{memory: argonMemory, time: argonTime, threads: argonThreads}) {
		t.Fatalf("dummy hash parameters %+v %v", p, err)
	}
}

// BenchmarkSignIn times a failed sign-in for a user that exists and for one
// that does not: the two should cost the same (docs/security-accounts.md).
func BenchmarkSignIn(b *testing.B) {
	st, err := store.OpenSQLite(b.Context(), filepath.Join(b.TempDir(), "gatehouse.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	svc, err := NewService(st, token.NewFormat(""), Options{Keyring: keyring.New(make([]byte, 32)), SessionTTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := svc.store.Q().CreateUser(b.Context(), store.User{Name: "alice", PasswordHash: mustHash(b)}); err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"alice", "nobody"} {
		b.Run("wrong password/"+map[string]string{"alice": "user exists", "nobody": "no such user"}[name], func(b *testing.B) {
			ctx := from(b.Context(), "10.0.0.1")
			for b.Loop() {
				if _, err := svc.SignIn(ctx, name, "a wrong password", "bench"); !fault.Is(err, fault.Unauthorized) {
					b.Fatal(err)
				}
				// Forget the failures, so that the lockout never answers
				// instead (the same statement for both users).
				if _, err := st.DB().ExecContext(ctx, `DELETE FROM attempts`); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func mustHash(b *testing.B) string {
	h, err := HashPassword("password of alice")
	if err != nil {
		b.Fatal(err)
	}
	return h
}

// secretOf reads the secret of an otpauth:// URL.
func secretOf(t *testing.T, otpauth string) []byte {
	t.Helper()
	u, err := url.Parse(otpauth)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(u.Query().Get("secret"))
	if err != nil {
		t.Fatalf("secret of %s: %v", otpauth, err)
	}
	return secret
}
