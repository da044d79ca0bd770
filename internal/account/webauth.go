package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"fmt"
	"log/slog"
	"math/big"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/gatehouse-registry/gatehouse/internal/throttle"
)

// webAuthTTL bounds how long a browser confirmation may take.
const webAuthTTL = 10 * time.Minute

// Bounds on the confirmations waiting at once (started and not expired):
// per client address (throttle.Key), and in all. Each is a row written by a
// request that needs no account (a web login), so they are bounded like any
// other input; the per-address rate limit of POST /-/v1/login comes first.
const (
	maxWebAuthPerClient = 20
	maxWebAuthTotal     = 10_000
)

// webOTPDigits is the length of the one-time code a web OTP confirmation
// hands the CLI (npm's own web confirmations use 16 digits too).
const webOTPDigits = 16

// The kinds of browser confirmation.
const (
	WebLogin = "login" // npm login --auth-type=web
	WebOTP   = "otp"   // a 2FA challenge answered in the browser
)

// WebAuthStart holds the two secrets of a new confirmation: the browser's
// (in the login URL) and the CLI's (in the done URL).
type WebAuthStart struct {
	LoginID, DoneID string
}

func randomID() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func idHash(id string) []byte {
	sum := sha256.Sum256([]byte("gatehouse web auth " + id))
	return sum[:]
}

// StartWebAuth begins a browser confirmation: a web login (p nil), or a web
// OTP for p's user confirming command. The client address in ctx is kept, for
// the confirmation page to show.
func (s *Service) StartWebAuth(ctx context.Context, kind string, p *auth.Principal, command string) (WebAuthStart, error) {
	var st WebAuthStart
	var err error
	if st.LoginID, err = randomID(); err != nil {
		return st, err
	}
	if st.DoneID, err = randomID(); err != nil {
		return st, err
	}
	now := s.opts.Now()
	w := store.WebAuth{LoginHash: idHash(st.LoginID), DoneHash: idHash(st.DoneID), Kind: kind, Command: command,
		CreatedAt: now.UnixMilli(), ExpiresAt: now.Add(webAuthTTL).UnixMilli()}
	if ip := auth.ClientIP(ctx); ip.IsValid() {
		w.ClientIP = ip.Unmap().String()
	}
	if kind == WebOTP {
		if !p.Authenticated() {
			return st, auth.ErrAuthRequired()
		}
		w.UserID = sql.NullInt64{Int64: p.UserID, Valid: true}
	}
	w.Client = throttle.Key(auth.ClientIP(ctx))
	err = s.store.InTx(ctx, func(q store.Queries) error {
		if err := q.PurgeWebAuth(ctx, now.Add(-time.Hour).UnixMilli()); err != nil {
			return err
		}
		// Counted and written in one transaction, and write transactions
		// take turns (on PostgreSQL too): parallel starts cannot pass the
		// bound together.
		mine, all, err := q.LiveWebAuth(ctx, w.Client, now.UnixMilli())
		if err != nil {
			return err
		}
		if mine >= maxWebAuthPerClient {
			return &fault.Error{Kind: fault.Locked, RetryAfter: int(webAuthTTL.Seconds()),
				Message: "Too many sign-ins waiting for a browser from your address; finish or let them expire, then try again"}
		}
		if all >= maxWebAuthTotal {
			s.log.WarnContext(ctx, "web logins refused: too many waiting", slog.Int("waiting", all))
			return &fault.Error{Kind: fault.Locked, RetryAfter: 60,
				Message: "Too many sign-ins are waiting for a browser on this registry; try again in a minute"}
		}
		_, err = q.CreateWebAuth(ctx, w)
		return err
	})
	return st, err
}

// WebAuthInfo is what the confirmation page shows.
type WebAuthInfo struct {
	Kind     string
	UserName string // for a web OTP: the user who must confirm
	Command  string
	Finished bool
	// Started is when the CLI started it, StartedFrom the address it started
	// from (invalid when unknown).
	Started     time.Time
	StartedFrom netip.Addr
}

func (s *Service) liveWebAuth(w store.WebAuth, err error) (store.WebAuth, error) {
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			return w, fault.NotFoundf("This sign-in link is unknown or has expired; start again from the terminal.")
		}
		return w, err
	}
	if w.ExpiresAt <= s.opts.Now().UnixMilli() {
		return w, fault.NotFoundf("This sign-in link is unknown or has expired; start again from the terminal.")
	}
	return w, nil
}

// WebAuthInfo describes the confirmation behind a login id.
func (s *Service) WebAuthInfo(ctx context.Context, loginID string) (WebAuthInfo, error) {
	w, err := s.liveWebAuth(s.store.Q().WebAuthByLogin(ctx, idHash(loginID)))
	if err != nil {
		return WebAuthInfo{}, err
	}
	info := WebAuthInfo{Kind: w.Kind, Command: w.Command, Finished: w.Result != nil || w.OTPHash != nil || w.Handed,
		Started: time.UnixMilli(w.CreatedAt)}
	info.StartedFrom, _ = netip.ParseAddr(w.ClientIP)
	if w.UserID.Valid {
		u, err := s.store.Q().UserByID(ctx, w.UserID.Int64)
		if err != nil {
			return WebAuthInfo{}, err
		}
		info.UserName = u.Name
	}
	return info, nil
}

// CompleteWebAuth confirms in the browser with the user's password and, when
// 2FA is on (always, for a web OTP), a one-time password.
func (s *Service) CompleteWebAuth(ctx context.Context, loginID, username, password, otp string) (err error) {
	var target audit.Target
	detail := "npm web login"
	defer func() {
		if strings.TrimSpace(otp) != "" {
			ctx = auth.WithOTP(ctx, otp)
		}
		if reason, ok := audit.RefusalOf(err, strings.TrimSpace(otp) != ""); ok {
			s.audit.Refused(ctx, audit.Event{Action: audit.SignIn, Target: target, Reason: reason, Detail: detail})
		}
	}()
	q := s.store.Q()
	w, err := s.liveWebAuth(q.WebAuthByLogin(ctx, idHash(loginID)))
	if err != nil {
		return err
	}
	if w.Result != nil || w.OTPHash != nil || w.Handed {
		return fault.Conflictf("This request was confirmed already; return to your terminal.")
	}
	var u store.User
	if w.UserID.Valid {
		u, err = q.UserByID(ctx, w.UserID.Int64)
		if err == nil && username != "" && username != u.Name {
			return fault.Forbiddenf("This confirmation belongs to another user")
		}
	} else {
		u, err = q.UserByName(ctx, username)
		if fault.Is(err, fault.NotFound) {
			s.noSuchUser(ctx, password)
			return &fault.Error{Kind: fault.Unauthorized, Message: "Incorrect username or password"}
		}
	}
	if err != nil {
		return err
	}
	target = userTarget(u)
	if w.Kind == WebOTP {
		detail = "npm web one-time password"
	}
	if err := s.checkPassword(ctx, u, password); err != nil {
		if fault.Is(err, fault.Unauthorized) {
			return &fault.Error{Kind: fault.Unauthorized, Message: "Incorrect username or password"}
		}
		return err
	}
	if u.Disabled() {
		return auth.ErrAccountDisabled()
	}
	if err := policy.DecidePasswordSignIn(s.opts.SSOOnly, u.Admin); err != nil {
		return err
	}
	tf, err := q.TwoFactorOf(ctx, u.ID)
	if err != nil {
		return err
	}
	if tf.Enabled() {
		if strings.TrimSpace(otp) == "" {
			return ErrOTPRequired()
		}
		if err := s.verifyOTP(ctx, u.ID, tf, otp); err != nil {
			return err
		}
	} else if w.Kind == WebOTP {
		return fault.Invalidf("Two-factor authentication is not enabled for %s", u.Name)
	}
	return s.finishWebAuth(ctx, w, u)
}

// ContinueWebAuth confirms an npm login in a browser already signed in as p
// ("Continue as NAME"): no password, but the one-time password when p's user
// has 2FA on (the OTP in ctx, as for RequireOTP). Policy decides who may
// (DecideContinueWebLogin); the CLI gets a new session of its own.
func (s *Service) ContinueWebAuth(ctx context.Context, loginID string, p *auth.Principal) error {
	q := s.store.Q()
	w, err := s.liveWebAuth(q.WebAuthByLogin(ctx, idHash(loginID)))
	if err != nil {
		return err
	}
	if w.Result != nil || w.OTPHash != nil || w.Handed {
		return fault.Conflictf("This request was confirmed already; return to your terminal.")
	}
	if w.Kind != WebLogin {
		return fault.Invalidf("This confirmation needs your password")
	}
	startedFrom, _ := netip.ParseAddr(w.ClientIP)
	if err := policy.DecideContinueWebLogin(p, startedFrom); err != nil {
		return err
	}
	if err := s.RequireOTP(ctx, p, policy.OTPLogin, nil); err != nil {
		return err
	}
	u, err := q.UserByID(ctx, p.UserID)
	if err != nil {
		return err
	}
	return s.finishWebAuth(ctx, w, u)
}

// finishWebAuth records the outcome of confirmation w, confirmed by u: a new
// session for a web login, a one-time code for a web OTP, sealed until the
// CLI picks it up.
func (s *Service) finishWebAuth(ctx context.Context, w store.WebAuth, u store.User) error {
	return s.finishWebAuthAs(ctx, w, u, userActor(u), "web login")
}

// finishWebAuthAs is finishWebAuth with the sign-in event's actor and
// detail (a single sign-on names the provider and subject).
func (s *Service) finishWebAuthAs(ctx context.Context, w store.WebAuth, u store.User, actor *auth.Principal, detail string) error {
	aad := []byte("webauth:" + strconv.FormatInt(w.ID, 10))
	// The session (with its sign-in event) and the confirmation commit
	// together: a confirmation raced by another leaves no session behind.
	err := s.store.InTx(ctx, func(q store.Queries) error {
		var secret string
		var otpHash []byte
		var err error
		switch w.Kind {
		case WebLogin:
			if secret, err = s.startSessionAs(ctx, q, u, actor, "web login", detail); err != nil {
				return err
			}
		case WebOTP:
			if secret, err = randomDigits(webOTPDigits); err != nil {
				return err
			}
			otpHash = idHash(secret)
		default:
			return fmt.Errorf("web auth %d: unknown kind %q", w.ID, w.Kind)
		}
		sealed, err := s.sealer.Seal([]byte(secret), aad)
		if err != nil {
			return err
		}
		ok, err := q.FinishWebAuth(ctx, w.ID, u.ID, sealed, otpHash)
		if err != nil {
			return err
		}
		if !ok {
			return fault.Conflictf("This request was confirmed already; return to your terminal.")
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "confirmed in the browser", slog.String("user", u.Name), slog.String("kind", w.Kind))
	return nil
}

// PollWebAuth is the CLI's doneUrl: pending until the browser confirms, then
// the session token (web login) or the one-time code (web OTP), handed over once.
func (s *Service) PollWebAuth(ctx context.Context, doneID string) (secret string, pending bool, err error) {
	q := s.store.Q()
	w, err := s.liveWebAuth(q.WebAuthByDone(ctx, idHash(doneID)))
	if err != nil {
		return "", false, err
	}
	if w.Handed {
		return "", false, fault.NotFoundf("This sign-in was handed over already")
	}
	if w.Result == nil {
		return "", true, nil
	}
	plain, err := s.sealer.Open(w.Result, []byte("webauth:"+strconv.FormatInt(w.ID, 10)))
	if err != nil {
		return "", false, err
	}
	ok, err := q.HandOverWebAuth(ctx, w.ID)
	if err != nil {
		return "", false, err
	}
	if !ok {
		return "", false, fault.NotFoundf("This sign-in was handed over already")
	}
	return string(plain), false, nil
}

// useWebOTP accepts a one-time code issued by a web OTP confirmation, once.
func (s *Service) useWebOTP(ctx context.Context, userID int64, code string) (bool, error) {
	return s.store.Q().UseWebOTP(ctx, userID, idHash(code), s.opts.Now().UnixMilli())
}

func randomDigits(n int) (string, error) {
	var b strings.Builder
	ten := big.NewInt(10)
	for i := 0; i < n; i++ {
		d, err := rand.Int(rand.Reader, ten)
		if err != nil {
			return "", fmt.Errorf("generate code: %w", err)
		}
		b.WriteByte(byte('0' + d.Int64()))
	}
	return b.String(), nil
}

// isWebOTP reports whether code has the shape of a web OTP code.
func isWebOTP(code string) bool {
	if len(code) != webOTPDigits {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}
