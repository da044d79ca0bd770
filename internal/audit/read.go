package audit

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// Bounds of a page of events.
const (
	DefaultPerPage = 25
	MaxPerPage     = 100
	// MaxExportBatch bounds the events one export request answers.
	MaxExportBatch = 10_000
)

// Filter selects events: store.AuditFilter, as the administrator's forms,
// API and command line give it.
type Filter = store.AuditFilter

// Page is one page of events, newest first, with where the next one starts.
type Page struct {
	Events []Event
	// Total is how many events the filter selects in all.
	Total int
	// Next is the cursor of the next (older) page, 0 when this is the last.
	Next int64
}

// fromRow is the event a stored row holds.
func fromRow(r store.AuditEvent) Event {
	e := Event{ID: r.ID, Time: time.UnixMilli(r.At), LastTime: time.UnixMilli(r.LastAt), Count: r.Count,
		Action: Action(r.Action), Outcome: Outcome(r.Outcome), Reason: r.Reason,
		Actor: Actor{UserID: r.ActorID, User: r.ActorName, TokenKey: r.TokenKey, TokenKind: r.TokenKind,
			OIDCSubject: r.OIDCSubject},
		RequestID: r.RequestID,
		Target: Target{UserID: r.TargetUserID, User: r.TargetUser, Package: r.TargetPackage, Version: r.TargetVersion,
			Org: r.TargetOrg, Team: r.TargetTeam, Token: r.TargetToken},
		Detail: r.Detail}
	if ip, err := netip.ParseAddr(r.ClientIP); err == nil {
		e.Client = ip
	}
	return e
}

// AccountLog is a page of p's own security log: what p's user did and what
// was done to their account, newest first, older than cursor (0 for the
// newest). Refusals noted but not yet written are written first.
func (l *Log) AccountLog(ctx context.Context, p *auth.Principal, cursor int64, perPage int) (Page, error) {
	if err := policy.DecideAccount(p, policy.ReadSecurityLog); err != nil {
		return Page{}, err
	}
	page, err := l.page(ctx, Filter{Account: p.UserID}, cursor, perPage)
	for i := range page.Events {
		page.Events[i] = ownView(page.Events[i], p.UserID)
	}
	return page, err
}

// ownView is e as the account user sees it in their own log: what another
// user did to their account (an administrator's disable, an owner adding
// them) names that user, but not the credential, address or request it
// came from, which are that user's own. A refusal with no actor (a wrong
// password typed for their name) keeps its address: whoever it was, the
// user should see where it came from.
func ownView(e Event, user int64) Event {
	if e.Actor.UserID != 0 && e.Actor.UserID != user {
		e.Actor.TokenKey, e.Actor.TokenKind = "", ""
		e.Client, e.RequestID = netip.Addr{}, ""
	}
	return e
}

// AdminLog is a page of the whole log, as f selects it, for an administrator.
func (l *Log) AdminLog(ctx context.Context, p *auth.Principal, f Filter, cursor int64, perPage int) (Page, error) {
	if err := policy.DecideAdmin(p, policy.AuditRead); err != nil {
		return Page{}, err
	}
	return l.page(ctx, f, cursor, perPage)
}

func (l *Log) page(ctx context.Context, f Filter, cursor int64, perPage int) (Page, error) {
	if perPage < 1 || perPage > MaxPerPage {
		return Page{}, fault.Invalidf("perPage must be an integer from 1 to %d", MaxPerPage)
	}
	if cursor < 0 {
		return Page{}, fault.Invalidf("the cursor must be an event id")
	}
	l.flushLogged(ctx)
	q := l.store.Q()
	rows, err := q.AuditEvents(ctx, f, store.AuditPage{Before: cursor, NewestFirst: true, Limit: perPage + 1})
	if err != nil {
		return Page{}, err
	}
	total, err := q.CountAuditEvents(ctx, f)
	if err != nil {
		return Page{}, err
	}
	var out Page
	out.Total = total
	if len(rows) > perPage {
		rows = rows[:perPage]
		out.Next = rows[perPage-1].ID
	}
	for _, r := range rows {
		out.Events = append(out.Events, fromRow(r))
	}
	return out, nil
}

// Export calls fn with every event f selects whose ID is above after, oldest
// first, up to limit events (none: all), reading them in batches; it
// returns the ID of the last one, to resume from. p must be an
// administrator (or the operator at the command line).
func (l *Log) Export(ctx context.Context, p *auth.Principal, f Filter, after int64, limit int, fn func(Event) error) (int64, error) {
	if err := policy.DecideAdmin(p, policy.AuditRead); err != nil {
		return after, err
	}
	if after < 0 {
		return after, fault.Invalidf("the cursor must be an event id")
	}
	l.flushLogged(ctx)
	sent := 0
	for limit <= 0 || sent < limit {
		batch := 1000
		if limit > 0 {
			batch = min(batch, limit-sent)
		}
		rows, err := l.store.Q().AuditEvents(ctx, f, store.AuditPage{After: after, Limit: batch})
		if err != nil {
			return after, err
		}
		for _, r := range rows {
			if err := fn(fromRow(r)); err != nil {
				return after, err
			}
			after = r.ID
		}
		sent += len(rows)
		if len(rows) < batch {
			break
		}
	}
	return after, nil
}

func (l *Log) flushLogged(ctx context.Context) {
	if err := l.Flush(ctx); err != nil {
		// A read shows what is written; the refusals follow with the next flush.
		l.opts.Log.Warn("audit log: write refusals before a read", slog.Any("error", err))
	}
}

// jsonEvent is an event as the API, the export and docs/audit.md show it.
type jsonEvent struct {
	ID        int64      `json:"id"`
	Time      string     `json:"time"`
	Action    Action     `json:"action"`
	Outcome   Outcome    `json:"outcome"`
	Reason    string     `json:"reason,omitempty"`
	Actor     jsonActor  `json:"actor"`
	Client    string     `json:"client,omitempty"`
	RequestID string     `json:"request_id,omitempty"`
	Target    jsonTarget `json:"target"`
	Detail    string     `json:"detail,omitempty"`
	Count     int64      `json:"count"`
	LastTime  string     `json:"last_time,omitempty"`
}

type jsonActor struct {
	User        string `json:"user,omitempty"`
	UserID      int64  `json:"user_id,omitempty"`
	Token       string `json:"token,omitempty"`
	TokenKind   string `json:"token_kind,omitempty"`
	OIDCSubject string `json:"oidc_subject,omitempty"`
}

type jsonTarget struct {
	User    string `json:"user,omitempty"`
	UserID  int64  `json:"user_id,omitempty"`
	Package string `json:"package,omitempty"`
	Version string `json:"version,omitempty"`
	Org     string `json:"org,omitempty"`
	Team    string `json:"team,omitempty"`
	Token   string `json:"token,omitempty"`
}

// timeFormat writes times in UTC to the millisecond, as they are stored.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// MarshalJSON writes the event in the shape docs/audit.md describes.
func (e Event) MarshalJSON() ([]byte, error) {
	j := jsonEvent{ID: e.ID, Time: e.Time.UTC().Format(timeFormat), Action: e.Action, Outcome: e.Outcome,
		Reason: e.Reason, RequestID: e.RequestID, Detail: e.Detail, Count: max(e.Count, 1),
		Actor: jsonActor{User: e.Actor.User, UserID: e.Actor.UserID, Token: e.Actor.TokenKey,
			TokenKind: e.Actor.TokenKind, OIDCSubject: e.Actor.OIDCSubject},
		Target: jsonTarget{User: e.Target.User, UserID: e.Target.UserID, Package: e.Target.Package,
			Version: e.Target.Version, Org: e.Target.Org, Team: e.Target.Team, Token: e.Target.Token}}
	if e.Client.IsValid() {
		j.Client = e.Client.String()
	}
	if j.Count > 1 {
		j.LastTime = e.LastTime.UTC().Format(timeFormat)
	}
	return json.Marshal(j)
}

// Describe says in a few words what the event was, for the website's lists.
func (e Event) Describe() string {
	var what []string
	t := e.Target
	if t.Package != "" {
		p := t.Package
		if t.Version != "" {
			p += "@" + t.Version
		}
		what = append(what, p)
	}
	if t.Org != "" {
		o := "@" + t.Org
		if t.Team != "" {
			o += ":" + t.Team
		}
		what = append(what, o)
	}
	if t.User != "" {
		what = append(what, "user "+t.User)
	}
	if t.Token != "" {
		what = append(what, "token "+shortKey(t.Token))
	}
	if e.Detail != "" {
		what = append(what, e.Detail)
	}
	return strings.Join(what, ", ")
}

// shortKey is the first 8 characters of a token key, as npm token list shows it.
func shortKey(k string) string {
	if len(k) > 8 {
		return k[:8]
	}
	return k
}

// ParseTime reads a time given to a filter: RFC 3339 ("2026-05-01T12:00:00Z"),
// a date ("2026-05-01", midnight UTC), Unix milliseconds, or a span back from
// now ("24h", "90m", "7d").
func ParseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil && ms >= 0 {
		return time.UnixMilli(ms), nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 && n <= 100*365 {
			return now.AddDate(0, 0, -n), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fault.Invalidf("%q is not a time: give RFC 3339 (2026-05-01T12:00:00Z), a date (2026-05-01), "+
		"Unix milliseconds, or a span back from now (24h, 7d)", truncate(s, 40))
}

// ParseFilter reads a filter from the administrator's query parameters or
// flags: user, action, outcome, since, until.
func ParseFilter(get func(string) string, now time.Time) (Filter, error) {
	f := Filter{User: strings.TrimSpace(get("user")), Action: strings.TrimSpace(get("action")),
		Outcome: strings.TrimSpace(get("outcome"))}
	if len(f.User) > 214 || len(f.Action) > 64 {
		return f, fault.Invalidf("user and action filters are at most 214 and 64 characters")
	}
	switch Outcome(f.Outcome) {
	case "", Success, Failure:
	default:
		return f, fault.Invalidf("outcome must be success or failure")
	}
	for _, b := range []struct {
		name string
		dst  *int64
	}{{"since", &f.Since}, {"until", &f.Until}} {
		v := get(b.name)
		if v == "" {
			continue
		}
		t, err := ParseTime(v, now)
		if err != nil {
			return f, fault.Invalidf("%s: %s", b.name, err.Error())
		}
		*b.dst = t.UnixMilli()
	}
	return f, nil
}
