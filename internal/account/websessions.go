package account

import (
	"context"
	"fmt"

	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// This file holds what the website's Access Tokens pages need beyond the
// token API: a dry run of token creation, one token by key, and the user's
// login sessions.

// TokenPolicy returns the server's access-token policy.
func (s *Service) TokenPolicy() TokenPolicy { return s.tokens }

// PreviewToken runs the same checks as CreateToken on req, without the
// password, the one-time password or storing anything, and returns the token
// that would be created (no key, hash or string yet). Errors carry the API's
// messages.
func (s *Service) PreviewToken(req TokenRequest) (TokenInfo, error) {
	rec, err := s.planToken(req)
	if err != nil {
		return TokenInfo{}, err
	}
	return Decode(rec)
}

// CheckTokenRequest reports whether CreateToken would accept req, apart from
// the password, the one-time password and the number of tokens the user has.
func (s *Service) CheckTokenRequest(req TokenRequest) error {
	_, err := s.PreviewToken(req)
	return err
}

// TokenByKey returns one of p's user's unrevoked access tokens (not a
// session) by its whole key.
func (s *Service) TokenByKey(ctx context.Context, p *auth.Principal, key string) (TokenInfo, error) {
	if err := MayManageTokens(p); err != nil {
		return TokenInfo{}, err
	}
	rec, err := s.ownByKey(ctx, p.UserID, key)
	if err != nil {
		return TokenInfo{}, err
	}
	if auth.Kind(rec.Kind) == auth.KindSession {
		return TokenInfo{}, fault.NotFoundf("token not found")
	}
	return Decode(rec)
}

// Sessions lists p's user's live login sessions (npm login and the
// website), newest first.
func (s *Service) Sessions(ctx context.Context, p *auth.Principal) ([]store.Token, error) {
	if err := MayManageTokens(p); err != nil {
		return nil, err
	}
	s.flushLastUse(ctx)
	list, err := s.store.Q().ListSessions(ctx, p.UserID, s.opts.Now().UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("list sessions of user %d: %w", p.UserID, err)
	}
	return list, nil
}

// RevokeSession ends one of p's user's login sessions, named by its whole
// key. Like signing out, it asks for no one-time password: it only takes
// power away.
func (s *Service) RevokeSession(ctx context.Context, p *auth.Principal, key string) (store.Token, error) {
	if err := MayManageTokens(p); err != nil {
		return store.Token{}, err
	}
	rec, err := s.ownByKey(ctx, p.UserID, key)
	if err != nil {
		return store.Token{}, err
	}
	if auth.Kind(rec.Kind) != auth.KindSession {
		return store.Token{}, fault.NotFoundf("session not found")
	}
	err = s.store.InTx(ctx, func(q store.Queries) error {
		if err := q.RevokeToken(ctx, rec.ID, p.UserID); err != nil {
			return err
		}
		return s.record(ctx, q, p, audit.TokenRevoke, audit.Target{Token: rec.Key}, "session")
	})
	if err != nil {
		return store.Token{}, fmt.Errorf("revoke session %s: %w", rec.Key, err)
	}
	s.opts.OnRevoke(rec.Hash)
	return rec, nil
}

// ownByKey finds the user's unrevoked token or session whose key is exactly key.
func (s *Service) ownByKey(ctx context.Context, userID int64, key string) (store.Token, error) {
	notFound := fault.NotFoundf("token not found")
	// A whole key is a UUID; anything shorter could match several tokens.
	if len(key) != 36 {
		return store.Token{}, notFound
	}
	rec, err := s.store.Q().TokenByKeyPrefix(ctx, userID, key)
	if fault.Is(err, fault.NotFound) || fault.Is(err, fault.Conflict) {
		return store.Token{}, notFound
	}
	if err != nil {
		return store.Token{}, fmt.Errorf("find token %s: %w", key, err)
	}
	if rec.Key != key || rec.UserID != userID || rec.RevokedAt.Valid {
		return store.Token{}, notFound
	}
	return rec, nil
}

// flushLastUse writes the token uses waiting in memory before a list shows
// last uses. A failure only makes the list a second behind, so it is logged,
// not returned.
func (s *Service) flushLastUse(ctx context.Context) {
	if err := s.opts.FlushLastUse(ctx); err != nil {
		s.log.Warn("record token last use before listing", "error", err)
	}
}
