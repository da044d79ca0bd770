// Package fault gives errors a kind (not found, invalid, forbidden, ...) so that
// domain code can say what went wrong without knowing about HTTP. Each kind
// carries the HTTP status the transports answer it with and the label metrics
// count it under; this package holds that one mapping.
package fault

import (
	"errors"
	"fmt"
)

// Kind classifies an error for the client.
type Kind int

// The kinds of error a client can be told about.
const (
	Internal        Kind = iota // a bug or an unavailable dependency; details stay in the log
	Invalid                     // the request is malformed or breaks a rule (400)
	Unauthorized                // no usable credentials, or a challenge to answer (401)
	Forbidden                   // authenticated, but not allowed (403)
	NotFound                    // no such thing, or not visible to this caller (404)
	Conflict                    // clashes with the current state (409)
	TooLarge                    // the body is over the size limit (413)
	Locked                      // too many failures; try again later (429)
	Upstream                    // an upstream registry failed or answered nonsense (502)
	UpstreamTimeout             // an upstream registry did not answer in time (504)
)

// Status is the HTTP status a kind of error is answered with: 500 for
// Internal. (Plain numbers: domain packages, which use this one, never
// import net/http.)
func (k Kind) Status() int {
	status, _ := k.describe()
	return status
}

// Label names the kind in metrics and logs, from a fixed set: invalid,
// unauthorized, forbidden, not_found, conflict, too_large, locked, upstream,
// upstream_timeout, and error for Internal (a failure of gatehouse itself).
func (k Kind) Label() string {
	_, label := k.describe()
	return label
}

// describe is the one mapping of kinds to statuses and labels.
func (k Kind) describe() (status int, label string) {
	switch k {
	case Invalid:
		return 400, "invalid"
	case Unauthorized:
		return 401, "unauthorized"
	case Forbidden:
		return 403, "forbidden"
	case NotFound:
		return 404, "not_found"
	case Conflict:
		return 409, "conflict"
	case TooLarge:
		return 413, "too_large"
	case Locked:
		return 429, "locked"
	case Upstream:
		return 502, "upstream"
	case UpstreamTimeout:
		return 504, "upstream_timeout"
	}
	return 500, "error"
}

// Error is an error with a kind and a message that is safe to show to the client.
type Error struct {
	Kind Kind
	// Message is shown to the client as is; it never holds a secret.
	Message string
	// Challenge, for Unauthorized, is the WWW-Authenticate value to send.
	Challenge string
	// RetryAfter, for Locked, is the number of seconds to wait.
	RetryAfter int
	// Err is the underlying cause, for the log only.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an error of kind k with a client-safe message.
func New(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an error of kind k with a client-safe message and a cause for the log.
func Wrap(k Kind, err error, message string) *Error {
	return &Error{Kind: k, Message: message, Err: err}
}

// KindOf returns the kind of err, Internal when it carries none.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// As returns the *Error inside err, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Is reports whether err is of kind k.
func Is(err error, k Kind) bool { return KindOf(err) == k }

// Shorthands for the common kinds.

// NotFoundf returns a NotFound error.
func NotFoundf(format string, args ...any) *Error { return New(NotFound, format, args...) }

// Invalidf returns an Invalid error.
func Invalidf(format string, args ...any) *Error { return New(Invalid, format, args...) }

// Forbiddenf returns a Forbidden error.
func Forbiddenf(format string, args ...any) *Error { return New(Forbidden, format, args...) }

// Conflictf returns a Conflict error.
func Conflictf(format string, args ...any) *Error { return New(Conflict, format, args...) }
