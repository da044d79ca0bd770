package web

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/account"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
)

// tokenListPageSize is how many tokens one page of the list shows.
const tokenListPageSize = 50

// tokenRow is one token of the list, or the token the delete page is about.
type tokenRow struct {
	Key, Name, Description string
	Type                   string
	Masked                 string // first 8 and last 4 characters
	Summary                string // what it may do
	CIDR                   []string
	Created                time.Time
	HasExpiry, Expired     bool
	Expires                time.Time
	Used                   bool
	LastUsed               time.Time
	LastUsedIP             string
}

// tokenRowOf describes a stored token for the list and the delete page.
func tokenRowOf(info account.TokenInfo, now time.Time) tokenRow {
	rec := info.Record
	row := tokenRow{Key: rec.Key, Name: rec.Name, Description: rec.Description, Type: tokenTypeLabel(rec.Kind),
		Masked: rec.Masked, Summary: info.Summary(), CIDR: info.CIDR, Created: time.UnixMilli(rec.CreatedAt),
		Expired: info.Expired(now)}
	if rec.ExpiresAt.Valid {
		row.HasExpiry, row.Expires = true, time.UnixMilli(rec.ExpiresAt.Int64)
	}
	if rec.LastUsedAt.Valid {
		row.Used, row.LastUsed, row.LastUsedIP = true, time.UnixMilli(rec.LastUsedAt.Int64), rec.LastUsedIP
	}
	return row
}

// tokenCreated is the token just created, shown once at the top of the list.
type tokenCreated struct {
	Token, Name, Type string
}

// tokenListView is the Access Tokens page.
type tokenListView struct {
	Base     string
	New      *tokenCreated
	Notice   string
	Tokens   []tokenRow
	Total    int
	Page     int // from 1
	Prev     int // the previous page, 0 when none
	Next     int // the next page, 0 when none
	Sessions []tokenSessionRow
	Legacy   bool // classic tokens may be created
}

// tokenNotices are the notices a redirect to the list may ask for.
var tokenNotices = map[string]string{
	"deleted": "The token was deleted.",
	"revoked": "The session was revoked.",
}

// tokenList reads one page (from 1) of p's tokens and all their sessions.
func (s *Site) tokenList(ctx context.Context, p *auth.Principal, page int) (tokenListView, error) {
	v := tokenListView{Base: tokensBase(p.UserName), Page: page, Legacy: s.accounts.TokenPolicy().LegacyTokens}
	res, err := s.accounts.ListTokens(ctx, p, page-1, tokenListPageSize)
	if err != nil {
		return v, fmt.Errorf("list the tokens of %s: %w", p.UserName, err)
	}
	now := s.now()
	for _, t := range res.Tokens {
		v.Tokens = append(v.Tokens, tokenRowOf(t, now))
	}
	v.Total = res.Total
	if page > 1 {
		v.Prev = page - 1
	}
	if page*tokenListPageSize < res.Total {
		v.Next = page + 1
	}
	v.Sessions, err = s.tokenSessions(ctx, p)
	return v, err
}

// renderTokenList shows the list; created, when not nil, is the token just
// made, whose string this one answer carries.
func (s *Site) renderTokenList(w http.ResponseWriter, r *http.Request, p *auth.Principal, status int, created *tokenCreated) {
	v, err := s.tokenList(r.Context(), p, 1)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v.New = created
	s.render(w, r, status, "tokens.html", "Access Tokens", v)
}

// tokensPage is the Access Tokens page: the tokens, a page at a time, and
// the sessions. It never shows a whole token.
func (s *Site) tokensPage(w http.ResponseWriter, r *http.Request) {
	p, ok := s.ownSettingsUser(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	page, err := strconv.Atoi(q.Get("page"))
	if err != nil || page < 1 || page > 1000 {
		page = 1
	}
	v, err := s.tokenList(r.Context(), p, page)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	for key, msg := range tokenNotices {
		if q.Has(key) {
			v.Notice = msg
		}
	}
	s.render(w, r, http.StatusOK, "tokens.html", "Access Tokens", v)
}

// createToken creates the token req asks for, once per form: a form sent a
// second time gets the list with a notice, and nothing is created again. A
// refusal goes to refused, with its message, its status and whether it
// asked for a one-time password; an internal error gets the error page. A
// success gets the list with the new token at the top.
//
// The caller puts the form's password in req, and the one-time password is
// taken from the form with 2FA on, even though the person is signed in: a
// token outlives the session, so making one confirms it is really them (the
// safer behaviour, as npm's CLI asks).
func (s *Site) createToken(w http.ResponseWriter, r *http.Request, p *auth.Principal, req account.TokenRequest,
	refused func(msg string, status int, otp bool)) {
	once := r.PostForm.Get("once")
	if !s.firstUse(once) {
		s.tokenResubmitted(w, r, p)
		return
	}
	created, err := s.accounts.CreateToken(ctxWithFormOTP(r, "otp"), p, req)
	if err != nil {
		s.release(once)
		if msg, status, otp, ok := s.tokenFormError(w, r, err); ok {
			refused(msg, status, otp)
		}
		return
	}
	s.tokenCreatedPage(w, r, p, created)
}

// tokenCreatedPage answers a successful creation: the list, with the new
// token at the top, this once.
func (s *Site) tokenCreatedPage(w http.ResponseWriter, r *http.Request, p *auth.Principal, created account.CreatedToken) {
	rec := created.Record
	s.log.InfoContext(r.Context(), "token created", slog.String("user", p.UserName), slog.String("key", rec.Key),
		slog.String("type", rec.Kind), slog.String("via", "website"))
	s.renderTokenList(w, r, p, http.StatusCreated, &tokenCreated{Token: created.Token, Name: rec.Name,
		Type: tokenTypeLabel(rec.Kind)})
}

// tokenResubmitted answers a token form sent a second time (a reload after
// the token was created): nothing is created again; the list says why.
func (s *Site) tokenResubmitted(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	view, err := s.tokenList(r.Context(), p, 0)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	view.Notice = "This form was already submitted, so no second token was created. Generate a new token to get another."
	s.render(w, r, http.StatusConflict, "tokens.html", "Access Tokens", view)
}
