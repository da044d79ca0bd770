package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// The audit log as the website shows it: a person's own security log, and
// the administrators' audit page (admin.go). Both are pages of events,
// newest first; the audit service decides who reads what.

// eventRow is one event as the tables show it.
type eventRow struct {
	ID    int64
	Time  time.Time
	Count int64 // more than 1: refusals folded together, the last at LastTime
	Last  time.Time
	// Action is the event's name (token.create), Words what it was in words.
	Action, Words string
	Target        string
	Client        string
	Failed        bool
	Reason        string
	// Actor is who did it, "" for the person reading their own log (an
	// administrator acting on them is named; on the audit page every
	// actor is); Credential is what they used (a token's kind and
	// key), "" for none.
	Actor, Credential string
}

// eventRows turns events into rows for the reader whose account id is
// self (0 on the audit page, where every actor is named).
func eventRows(events []audit.Event, self int64) []eventRow {
	rows := make([]eventRow, 0, len(events))
	for _, e := range events {
		row := eventRow{ID: e.ID, Time: e.Time, Count: e.Count, Last: e.LastTime, Action: string(e.Action),
			Words: e.Action.Words(), Target: e.Describe(), Failed: e.Outcome == audit.Failure, Reason: e.Reason,
			Credential: credentialOf(e.Actor)}
		if e.Client.IsValid() {
			row.Client = e.Client.String()
		}
		switch a := e.Actor; {
		case a.TokenKind == string(auth.KindOperator):
			row.Actor = "operator " + a.User + " (command line)"
		case a.User == "" && a.OIDCSubject != "":
			row.Actor = "a CI job"
		case a.User == "":
			row.Actor = "anonymous"
		case self == 0 || a.UserID != self:
			row.Actor = a.User
		}
		rows = append(rows, row)
	}
	return rows
}

// credentialOf names the credential an actor used: its kind and the start
// of its key, as the Access Tokens page shows a token, and a CI job's
// OIDC subject.
func credentialOf(a audit.Actor) string {
	out := ""
	switch kind := auth.Kind(a.TokenKind); {
	case kind == "" || kind == auth.KindOperator:
	case kind == auth.KindSession:
		out = "session " + shortKey(a.TokenKey)
	default:
		out = tokenTypeLabel(a.TokenKind) + " token " + shortKey(a.TokenKey)
	}
	if a.OIDCSubject != "" {
		if out != "" {
			out += ", "
		}
		out += "OIDC " + a.OIDCSubject
	}
	return out
}

// shortKey is the start of a token's key, enough to find it in a list.
func shortKey(k string) string {
	if len(k) > 8 {
		return k[:8]
	}
	return k
}

// eventsView is a page of events with the links to the next and first pages.
type eventsView struct {
	Events []eventRow
	Total  int
	// Next is the address of the next (older) page, "" on the last;
	// First is the address of the first page, "" on it.
	Next, First string
}

// cursorParam reads the "before" query parameter: the id of the last event
// of the page before, 0 for the newest page.
func cursorParam(r *http.Request) (int64, error) {
	v := r.URL.Query().Get("before")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fault.Invalidf("The page address is not valid: go back to the first page.")
	}
	return n, nil
}

// securityLogPage is "Security log" in the account menu: what the signed-in
// person did, and what was done to their account, newest first.
func (s *Site) securityLogPage(w http.ResponseWriter, r *http.Request) {
	p, ok := s.ownSettingsUser(w, r)
	if !ok {
		return
	}
	if s.opts.Audit == nil {
		s.notFound(w, r)
		return
	}
	before, err := cursorParam(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	page, err := s.opts.Audit.AccountLog(r.Context(), p, before, audit.DefaultPerPage)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	base := "/settings/" + p.UserName + "/security"
	v := eventsView{Events: eventRows(page.Events, p.UserID), Total: page.Total}
	if page.Next != 0 {
		v.Next = base + "?before=" + strconv.FormatInt(page.Next, 10)
	}
	if before != 0 {
		v.First = base
	}
	s.render(w, r, http.StatusOK, "security.html", "Security log", v)
}
