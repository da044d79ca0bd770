package account

import (
	"context"
	"crypto/rand"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/keyring"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/gatehouse-registry/gatehouse/internal/throttle"
	"github.com/gatehouse-registry/gatehouse/internal/token"
)

// fixture is an account service on a fresh SQLite store, with its clock
// stopped at now.
type fixture struct {
	svc *Service
	st  *store.Store
	now time.Time
}

// newFixture opens the service with opts (Keyring, Now and SessionTTL filled in).
func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newFixtureOn(t, st, opts)
}

// newFixtureOn opens the service with opts on st, with the clock stopped.
func newFixtureOn(t *testing.T, st *store.Store, opts Options) *fixture {
	t.Helper()
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	if opts.Keyring == nil {
		opts.Keyring = keyring.New(secret)
	}
	opts.Now = func() time.Time { return f.now }
	if opts.SessionTTL == 0 {
		opts.SessionTTL = time.Hour
	}
	var err error
	if f.svc, err = NewService(st, token.NewFormat(""), opts); err != nil {
		t.Fatal(err)
	}
	return f
}

// user creates an account with the password "password of NAME" and returns
// a login session principal for it.
func (f *fixture) user(t *testing.T, name string) *auth.Principal {
	t.Helper()
	u, err := f.svc.CreateUser(t.Context(), policy.AdminRegistration, name, name+"@example.com", "password of "+name)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return &auth.Principal{UserID: u.ID, UserName: u.Name, Kind: auth.KindSession}
}

// wantFault checks that err is a fault of kind k with message msg ("" for any).
func wantFault(t *testing.T, what string, err error, k fault.Kind, msg string) {
	t.Helper()
	e, ok := fault.As(err)
	if !ok || e.Kind != k || (msg != "" && e.Message != msg) {
		t.Fatalf("%s: got %v, want kind %d %q", what, err, k, msg)
	}
}

func TestValidatePassword(t *testing.T) {
	tests := []struct {
		password string
		ok       bool
	}{
		{"", false},
		{"x", false},
		{"123456789", false},
		{"1234567890", true},
		{"correct horse battery staple", true},
		{"ééééééééé", false}, // nine characters, eighteen bytes
		{"éééééééééé", true}, // ten characters
	}
	for _, tt := range tests {
		err := ValidatePassword(tt.password)
		if tt.ok && err != nil {
			t.Errorf("ValidatePassword(%q) = %v, want nil", tt.password, err)
		}
		if !tt.ok {
			wantFault(t, "ValidatePassword("+tt.password+")", err, fault.Invalid, "Use a password of at least 10 characters")
		}
	}
}

// TestPasswordRulesOnEveryPath: each way of setting a password refuses a
// short one, and nothing is written.
func TestPasswordRulesOnEveryPath(t *testing.T) {
	const short, msg = "short", "Use a password of at least 10 characters"
	f := newFixture(t, Options{RegistrationOpen: true})
	ctx := t.Context()
	_, err := f.svc.CreateUser(ctx, policy.AdminRegistration, "ann", "ann@example.com", short)
	wantFault(t, "gatehouse user add", err, fault.Invalid, msg)
	_, err = f.svc.CreateUser(ctx, policy.SelfRegistration, "ann", "ann@example.com", short)
	wantFault(t, "website sign-up", err, fault.Invalid, msg)
	_, err = f.svc.Login(ctx, "ann", "ann@example.com", short)
	wantFault(t, "npm adduser", err, fault.Invalid, msg)
	if _, err := f.st.Q().UserByName(ctx, "ann"); !fault.Is(err, fault.NotFound) {
		t.Fatalf("a refused account was created: %v", err)
	}

	bob := f.user(t, "bob")
	err = f.svc.ChangePassword(ctx, bob, "password of bob", short)
	wantFault(t, "password change", err, fault.Invalid, msg)
	// The rule comes before the current password is checked: a refused
	// change spends no attempt of the password lockout.
	err = f.svc.ChangePassword(ctx, bob, "not the password", short)
	wantFault(t, "password change with a wrong current password", err, fault.Invalid, msg)
	if l, err := f.st.Q().AttemptsOf(ctx, store.AttemptKey{UserID: bob.UserID, Path: pathPassword, Client: throttle.Key(netip.Addr{})}); err != nil || l.Failures != 0 {
		t.Fatalf("lockout after refused changes: %+v %v", l, err)
	}
	if _, err := f.svc.SignIn(ctx, "bob", "password of bob", "test"); err != nil {
		t.Fatalf("the old password stopped working: %v", err)
	}
	if err := f.svc.ChangePassword(ctx, bob, "password of bob", "a new password for bob"); err != nil {
		t.Fatalf("a good new password: %v", err)
	}
	if _, err := f.svc.SignIn(ctx, "bob", "a new password for bob", "test"); err != nil {
		t.Fatalf("the new password: %v", err)
	}
}

// TestRegistration: CreateUser asks policy, so every path that makes
// accounts follows the registration setting.
func TestRegistration(t *testing.T) {
	const closed = "Registration is closed on this registry; ask an administrator for an account"
	tests := []struct {
		name   string
		open   bool
		create func(s *Service, ctx context.Context, name string) error
		want   fault.Kind // -1 for created
	}{
		{"npm adduser, open", true, adduser, -1},
		{"npm adduser, closed", false, adduser, fault.Forbidden},
		{"sign-up, open", true, signUp, -1},
		{"sign-up, closed", false, signUp, fault.Forbidden},
		{"gatehouse user add, open", true, userAdd, -1},
		{"gatehouse user add, closed", false, userAdd, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Options{RegistrationOpen: tt.open})
			err := tt.create(f.svc, t.Context(), "erin")
			_, lookup := f.st.Q().UserByName(t.Context(), "erin")
			if tt.want == -1 {
				if err != nil || lookup != nil {
					t.Fatalf("not created: %v, %v", err, lookup)
				}
				return
			}
			wantFault(t, "create", err, tt.want, closed)
			if !fault.Is(lookup, fault.NotFound) {
				t.Fatalf("created anyway: %v", lookup)
			}
		})
	}
	open, shut := newFixture(t, Options{RegistrationOpen: true}), newFixture(t, Options{})
	if err := open.svc.Registration(); err != nil {
		t.Errorf("Registration() with registration open: %v", err)
	}
	wantFault(t, "Registration() with registration closed", shut.svc.Registration(), fault.Forbidden, closed)
	// Closed registration still lets existing users log in.
	shut.user(t, "dora")
	if res, err := shut.svc.Login(t.Context(), "dora", "", "password of dora"); err != nil || res.Created {
		t.Fatalf("login with registration closed: %+v %v", res, err)
	}
}

func adduser(s *Service, ctx context.Context, name string) error {
	_, err := s.Login(ctx, name, name+"@example.com", "password of "+name)
	return err
}

func signUp(s *Service, ctx context.Context, name string) error {
	_, err := s.CreateUser(ctx, policy.SelfRegistration, name, name+"@example.com", "password of "+name)
	return err
}

func userAdd(s *Service, ctx context.Context, name string) error {
	_, err := s.CreateUser(ctx, policy.AdminRegistration, name, name+"@example.com", "password of "+name)
	return err
}
