package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
)

// The Access Tokens pages (the seed's "Creating and viewing access tokens"):
// the list of a user's tokens and sessions, the forms for classic and
// granular tokens, the granular token's review step, and the confirmation
// before a token is deleted. Every rule and message comes from the account
// service, the same as the npm API's.
//
// A new token's string is shown once, in the answer to the form that created
// it: it is never put in a URL, a cookie or any store, so no later page can
// show it again.
//
// A file a page: tokens_list.go (the list, and the answer to a creation),
// tokens_classic.go, tokens_granular.go (the form and its steps),
// tokens_review.go (the review, which creates the token), tokens_delete.go
// and tokens_sessions.go; this one holds the routes and what they share.

// tokensBase is the address of a user's Access Tokens page.
func tokensBase(user string) string { return "/settings/" + url.PathEscape(user) + "/tokens" }

// tokenNeedsOTP reports whether creating or revoking a token needs p's
// one-time password, as policy decides it, so the forms ask for one.
func (s *Site) tokenNeedsOTP(ctx context.Context, p *auth.Principal) (bool, error) {
	need, err := s.accounts.NeedsOTP(ctx, p, policy.OTPTokens)
	if err != nil {
		return false, fmt.Errorf("ask whether %s needs a one-time password for tokens: %w", p.UserName, err)
	}
	return need, nil
}

// tokenFormError splits a service error into the message and status shown
// beside a form, and whether it was an OTP challenge. Internal errors are
// rendered as the error page, and ok is false.
func (s *Site) tokenFormError(w http.ResponseWriter, r *http.Request, err error) (msg string, status int, otp bool, ok bool) {
	msg, status, ok = s.faultForForm(w, r, err)
	e, _ := fault.As(err)
	return msg, status, ok && e.Challenge == "OTP", ok
}

// tokenTypeLabel names a kind of token as the list shows it.
func tokenTypeLabel(kind string) string {
	switch auth.Kind(kind) {
	case auth.KindGranular:
		return "Granular"
	case auth.KindReadOnly:
		return "Classic: Read-only"
	case auth.KindAutomation:
		return "Classic: Automation"
	case auth.KindPublish:
		return "Classic: Publish"
	case auth.KindOIDC:
		return "Trusted publishing (OIDC)"
	}
	return kind
}
