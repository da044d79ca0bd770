package account

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/gatehouse-registry/gatehouse/internal/throttle"
)

// lockRule is when one attempt counter locks, and for how long.
type lockRule struct {
	// max is how many attempts in a row may fail; the next is refused.
	max int
	// period is how long the lock lasts; with grow, it doubles with each
	// lock in a row (a strike), up to maxPeriod.
	period, maxPeriod time.Duration
	grow              bool
}

// lockFor is how long a lock lasts after strikes earlier locks in a row.
func (r lockRule) lockFor(strikes int) time.Duration {
	d := r.period
	if !r.grow {
		return d
	}
	for range strikes {
		if d >= r.maxPeriod/2 {
			return r.maxPeriod
		}
		d *= 2
	}
	return d
}

// The lockout rules (docs/security-accounts.md explains the numbers). Each
// path of each user has two counters: one per client address, which is what
// spec/tokens.md's "five wrong passwords or OTPs in a row lock that path
// for 5 minutes" describes and what a guesser from one address meets; and
// one for every address together, which bounds a guess spread over many
// addresses. The shared counter's lock spares the addresses the user has
// signed in from (see knownFor), so that a spread guess cannot lock the
// user out of the places they use.
var (
	passwordPerClient = lockRule{max: 5, period: 5 * time.Minute}
	passwordAll       = lockRule{max: 50, period: 15 * time.Minute, maxPeriod: 24 * time.Hour, grow: true}
	otpPerClient      = lockRule{max: 5, period: 5 * time.Minute, maxPeriod: 24 * time.Hour, grow: true}
	otpAll            = lockRule{max: 10, period: 15 * time.Minute, maxPeriod: 24 * time.Hour, grow: true}
)

const (
	// quietAfter is how long a counter without attempts takes to forget
	// its failures and strikes.
	quietAfter = 24 * time.Hour
	// knownFor is how long an address where the user's password (or OTP)
	// was right stays known: the shared counter's lock does not apply to it.
	knownFor = 90 * 24 * time.Hour
)

// rulesFor returns the per-address and all-address rules of path.
func rulesFor(path string) (perClient, all lockRule) {
	if path == pathOTP {
		return otpPerClient, otpAll
	}
	return passwordPerClient, passwordAll
}

func errLocked(until time.Time, now time.Time, what string) *fault.Error {
	secs := int(until.Sub(now).Seconds()) + 1
	return &fault.Error{Kind: fault.Locked, RetryAfter: secs,
		Message: "Too many failed " + what + " attempts; try again in " + strconv.Itoa(secs) + " seconds"}
}

// guarded runs check, a password or OTP check of the user's path, under the
// lockout. The attempt is reserved on both of the path's counters before
// check runs, atomically in the store: however many attempts arrive at once,
// on however many nodes, at most max of them per counter are checked before
// the lock. A failure that reaches max locks the counter; a success resets
// the counters, unless an attempt reserved after it says otherwise.
func (s *Service) guarded(ctx context.Context, userID int64, path string, check func() (bool, error)) (bool, error) {
	q := s.store.Q()
	now := s.opts.Now()
	ms := now.UnixMilli()
	quiet := now.Add(-quietAfter).UnixMilli()
	what := "password"
	if path == pathOTP {
		what = "one-time password"
	}
	client := throttle.Key(auth.ClientIP(ctx))
	perRule, allRule := rulesFor(path)
	per := store.AttemptKey{UserID: userID, Path: path, Client: client}
	all := store.AttemptKey{UserID: userID, Path: path, Client: store.AllClients}

	mine, err := q.ReserveAttempt(ctx, per, ms, quiet)
	if err != nil {
		return false, err
	}
	if mine.LockedUntil > ms {
		return false, errLocked(time.UnixMilli(mine.LockedUntil), now, what)
	}
	if mine.Failures > perRule.max {
		// The attempts allowed are spent, or being checked right now.
		return false, s.lock(ctx, per, perRule, mine, now, what)
	}
	shared, err := q.ReserveAttempt(ctx, all, ms, quiet)
	if err != nil {
		return false, err
	}
	known := mine.LastSuccess > now.Add(-knownFor).UnixMilli()
	if !known {
		if shared.LockedUntil > ms {
			return false, errLocked(time.UnixMilli(shared.LockedUntil), now, what)
		}
		if shared.Failures > allRule.max {
			return false, s.lock(ctx, all, allRule, shared, now, what)
		}
	}

	ok, err := check()
	if err != nil {
		return false, err
	}
	if ok {
		if err := q.AttemptSucceeded(ctx, per, mine.Failures, ms); err != nil {
			return false, err
		}
		return true, q.AttemptSucceeded(ctx, all, shared.Failures, ms)
	}
	if mine.Failures >= perRule.max {
		if err := s.lock(ctx, per, perRule, mine, now, what); !fault.Is(err, fault.Locked) {
			return false, err
		}
	}
	if shared.Failures >= allRule.max && shared.LockedUntil <= ms {
		if err := s.lock(ctx, all, allRule, shared, now, what); !fault.Is(err, fault.Locked) {
			return false, err
		}
	}
	return false, nil
}

// lock locks counter k under rule, unless another attempt has locked it
// already, and returns the refusal (a Locked fault) or the store's error. The
// lock is logged once, by the attempt that set it.
func (s *Service) lock(ctx context.Context, k store.AttemptKey, rule lockRule, a store.Attempts, now time.Time, what string) error {
	d := rule.lockFor(a.Strikes)
	until := now.Add(d)
	set, err := s.store.Q().LockAttempts(ctx, k, now.UnixMilli(), until.UnixMilli())
	if err != nil {
		return err
	}
	if !set {
		// Locked by a parallel attempt: refuse until that lock's end.
		cur, err := s.store.Q().AttemptsOf(ctx, k)
		if err != nil {
			return err
		}
		if cur.LockedUntil > now.UnixMilli() {
			until = time.UnixMilli(cur.LockedUntil)
		}
		return errLocked(until, now, what)
	}
	scope := "address"
	if k.Client == store.AllClients {
		scope = "every address"
	}
	s.log.WarnContext(ctx, "locked after repeated failures", slog.Int64("user_id", k.UserID),
		slog.String("path", k.Path), slog.String("scope", scope), slog.String("client", k.Client),
		slog.Int("strikes", a.Strikes+1), slog.Duration("for", d))
	// A spread of addresses leaves a counter each: forget the quiet ones.
	if err := s.store.Q().PurgeAttempts(ctx, k.UserID, now.UnixMilli(), now.Add(-quietAfter).UnixMilli(),
		now.Add(-knownFor).UnixMilli()); err != nil {
		return err
	}
	return errLocked(until, now, what)
}

// FailedSignIn reports whether err, the answer to a sign-in (or a browser
// confirmation) that did or did not carry a one-time password, is a failed
// guess that the per-address limit counts: a wrong user name, password or
// OTP, or an attempt the lockout refused. Bad input, a closed registration,
// or the OTP asked for after a right password are none.
func FailedSignIn(err error, otpSent bool) bool {
	e, ok := fault.As(err)
	if !ok {
		return false
	}
	switch e.Kind {
	case fault.Locked:
		return true
	case fault.Unauthorized:
		return e.Challenge != "OTP" || otpSent
	}
	return false
}
