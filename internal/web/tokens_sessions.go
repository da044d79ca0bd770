package web

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
)

// tokenSessionLabel names how a session was started, from its stored label.
func tokenSessionLabel(label string) string {
	switch label {
	case "website":
		return "Website sign-in"
	case "login session":
		return "npm login"
	case "web login":
		return "npm login (in the browser)"
	}
	return label
}

// tokenSessionRow is one login session of the list.
type tokenSessionRow struct {
	Key, Label string
	Current    bool // the session of this browser
	Created    time.Time
	Expires    time.Time
	Used       bool
	LastUsed   time.Time
	LastUsedIP string
}

// tokenSessions lists p's login sessions for the list.
func (s *Site) tokenSessions(ctx context.Context, p *auth.Principal) ([]tokenSessionRow, error) {
	sessions, err := s.accounts.Sessions(ctx, p)
	if err != nil {
		return nil, err
	}
	var rows []tokenSessionRow
	for _, t := range sessions {
		row := tokenSessionRow{Key: t.Key, Label: tokenSessionLabel(t.Name), Current: t.Key == p.TokenKey,
			Created: time.UnixMilli(t.CreatedAt), Expires: time.UnixMilli(t.ExpiresAt.Int64)}
		if t.LastUsedAt.Valid {
			row.Used, row.LastUsed, row.LastUsedIP = true, time.UnixMilli(t.LastUsedAt.Int64), t.LastUsedIP
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// revokeTokenSession ends one of the user's login sessions; ending this browser's
// own signs it out.
func (s *Site) revokeTokenSession(w http.ResponseWriter, r *http.Request) {
	p, ok := s.ownSettingsUser(w, r)
	if !ok {
		return
	}
	rec, err := s.accounts.RevokeSession(r.Context(), p, r.PathValue("key"))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "session revoked", slog.String("user", p.UserName), slog.String("key", rec.Key),
		slog.String("via", "website"))
	if rec.Key == p.TokenKey {
		s.clearSession(w)
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, tokensBase(p.UserName)+"?revoked", http.StatusSeeOther)
}
