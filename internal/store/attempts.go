package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// AttemptKey names one attempt counter: a user's path ("password" or
// "otp") from one client, or from every client together (AllClients).
type AttemptKey struct {
	UserID int64
	Path   string
	Client string
}

// AllClients is the Client of the counter that every address shares.
const AllClients = "*"

// Attempts is the state of one attempt counter. Times are Unix ms.
type Attempts struct {
	// Failures counts the attempts reserved since the last success, the
	// last lock or the last quiet period, the one just reserved included.
	Failures int
	// LockedUntil is when the lock ends; 0 or past means not locked.
	LockedUntil int64
	// Strikes counts the locks in a row, for lock periods that grow.
	Strikes int
	// LastAttempt and LastSuccess are when an attempt was last reserved
	// and last succeeded (0: never).
	LastAttempt, LastSuccess int64
}

// ReserveAttempt counts one more attempt on k before it is checked, and
// returns the counter as this attempt left it, in one statement: parallel
// attempts each get a count of their own. A locked counter is left as it
// is (the caller refuses the attempt); a lock that has ended, or a counter
// with no attempt since quietSince, starts again at 1; a counter with no
// attempt and no lock since quietSince also forgets its strikes.
func (q Queries) ReserveAttempt(ctx context.Context, k AttemptKey, now, quietSince int64) (Attempts, error) {
	var a Attempts
	err := q.row(ctx, `INSERT INTO attempts (user_id, path, client, failures, last_attempt) VALUES (?, ?, ?, 1, ?)
		ON CONFLICT (user_id, path, client) DO UPDATE SET
			failures = CASE
				WHEN attempts.locked_until > ? THEN attempts.failures
				WHEN attempts.locked_until > 0 OR attempts.last_attempt < ? THEN 1
				ELSE attempts.failures + 1 END,
			strikes = CASE
				WHEN attempts.locked_until < ? AND attempts.last_attempt < ? THEN 0
				ELSE attempts.strikes END,
			locked_until = CASE WHEN attempts.locked_until > ? THEN attempts.locked_until ELSE 0 END,
			last_attempt = CASE WHEN attempts.locked_until > ? THEN attempts.last_attempt ELSE ? END
		RETURNING failures, locked_until, strikes, last_attempt, last_success`,
		k.UserID, k.Path, k.Client, now,
		now, quietSince,
		quietSince, quietSince,
		now,
		now, now).Scan(&a.Failures, &a.LockedUntil, &a.Strikes, &a.LastAttempt, &a.LastSuccess)
	if err != nil {
		return Attempts{}, fmt.Errorf("reserve attempt: %w", q.d.mapError(err))
	}
	return a, nil
}

// LockAttempts locks k until until and counts a strike, unless k is locked
// already at now; it reports whether this call set the lock (so that the
// lock is logged once, however many attempts ask for it together).
func (q Queries) LockAttempts(ctx context.Context, k AttemptKey, now, until int64) (bool, error) {
	res, err := q.exec(ctx, `UPDATE attempts SET locked_until = ?, strikes = strikes + 1
		WHERE user_id = ? AND path = ? AND client = ? AND locked_until <= ?`, until, k.UserID, k.Path, k.Client, now)
	if err != nil {
		return false, fmt.Errorf("lock attempts: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("lock attempts: %w", err)
	}
	return n == 1, nil
}

// AttemptSucceeded records a successful attempt on k at now. It resets the
// failures and strikes only when the counter still holds failures, the
// count this attempt's reservation returned, and is not locked: an attempt
// reserved after this one, still being checked or failed, keeps its count.
func (q Queries) AttemptSucceeded(ctx context.Context, k AttemptKey, failures int, now int64) error {
	_, err := q.exec(ctx, `UPDATE attempts SET last_success = ?,
			strikes = CASE WHEN failures = ? AND locked_until <= ? THEN 0 ELSE strikes END,
			failures = CASE WHEN failures = ? AND locked_until <= ? THEN 0 ELSE failures END
		WHERE user_id = ? AND path = ? AND client = ?`,
		now, failures, now, failures, now, k.UserID, k.Path, k.Client)
	if err != nil {
		return fmt.Errorf("record successful attempt: %w", err)
	}
	return nil
}

// AttemptsOf reads k's counter; none is the zero Attempts.
func (q Queries) AttemptsOf(ctx context.Context, k AttemptKey) (Attempts, error) {
	var a Attempts
	err := q.row(ctx, `SELECT failures, locked_until, strikes, last_attempt, last_success FROM attempts
		WHERE user_id = ? AND path = ? AND client = ?`, k.UserID, k.Path, k.Client).
		Scan(&a.Failures, &a.LockedUntil, &a.Strikes, &a.LastAttempt, &a.LastSuccess)
	if errors.Is(err, sql.ErrNoRows) {
		return Attempts{}, nil
	}
	if err != nil {
		return Attempts{}, fmt.Errorf("read attempts: %w", q.d.mapError(err))
	}
	return a, nil
}

// PurgeAttempts deletes a user's counters that are not locked at now, saw
// no attempt since quietSince and no success since rememberSince: what a
// spread of addresses left behind, once it has gone quiet.
func (q Queries) PurgeAttempts(ctx context.Context, userID, now, quietSince, rememberSince int64) error {
	_, err := q.exec(ctx, `DELETE FROM attempts WHERE user_id = ? AND locked_until <= ? AND last_attempt < ?
		AND last_success < ?`, userID, now, quietSince, rememberSince)
	if err != nil {
		return fmt.Errorf("purge attempts: %w", err)
	}
	return nil
}
