package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// AuditEvent is one row of the audit log. IDs grow in commit order: every
// write transaction takes the store's write lock (see InTx), so a reader
// that follows the log by ID (an export, a webhook sender) never finds a
// lower ID committed after a higher one it has read.
type AuditEvent struct {
	ID int64
	// At is when the event happened (Unix ms); for a row that folds repeated
	// refusals together, the first of them, LastAt the last, Count how many.
	At, LastAt int64
	Count      int64
	Action     string
	Outcome    string
	Reason     string
	// ActorID is the acting user's ID, 0 when none (anonymous, the command line).
	ActorID     int64
	ActorName   string
	TokenKey    string
	TokenKind   string
	OIDCSubject string
	ClientIP    string
	RequestID   string
	// TargetUserID is the ID of the account the event was done to, 0 when none.
	TargetUserID  int64
	TargetUser    string
	TargetPackage string
	TargetVersion string
	TargetOrg     string
	TargetTeam    string
	TargetToken   string
	Detail        string
}

const auditColumns = `id, at, last_at, count, action, outcome, reason, actor_id, actor_name, token_key, token_kind,
	oidc_subject, client_ip, request_id, target_user_id, target_user, target_package, target_version, target_org,
	target_team, target_token, detail`

func scanAuditEvent(row interface{ Scan(...any) error }) (AuditEvent, error) {
	var e AuditEvent
	var actor, target sql.NullInt64
	err := row.Scan(&e.ID, &e.At, &e.LastAt, &e.Count, &e.Action, &e.Outcome, &e.Reason, &actor, &e.ActorName,
		&e.TokenKey, &e.TokenKind, &e.OIDCSubject, &e.ClientIP, &e.RequestID, &target, &e.TargetUser,
		&e.TargetPackage, &e.TargetVersion, &e.TargetOrg, &e.TargetTeam, &e.TargetToken, &e.Detail)
	e.ActorID, e.TargetUserID = actor.Int64, target.Int64
	return e, err
}

// nullID is id as a column value: NULL for 0.
func nullID(id int64) sql.NullInt64 { return sql.NullInt64{Int64: id, Valid: id != 0} }

// InsertAuditEvent appends e to the audit log and returns its ID. Run it in
// the transaction of the change it records, so that both commit or neither.
func (q Queries) InsertAuditEvent(ctx context.Context, e AuditEvent) (int64, error) {
	if e.LastAt < e.At {
		e.LastAt = e.At
	}
	if e.Count < 1 {
		e.Count = 1
	}
	var id int64
	err := q.row(ctx, `INSERT INTO audit_events (at, last_at, count, action, outcome, reason, actor_id, actor_name,
		token_key, token_kind, oidc_subject, client_ip, request_id, target_user_id, target_user, target_package,
		target_version, target_org, target_team, target_token, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		e.At, e.LastAt, e.Count, e.Action, e.Outcome, e.Reason, nullID(e.ActorID), e.ActorName, e.TokenKey,
		e.TokenKind, e.OIDCSubject, e.ClientIP, e.RequestID, nullID(e.TargetUserID), e.TargetUser, e.TargetPackage,
		e.TargetVersion, e.TargetOrg, e.TargetTeam, e.TargetToken, e.Detail).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("insert audit event %s: %w", e.Action, q.d.mapError(err))
	}
	return id, nil
}

// auditChunk is how many events one statement of InsertAuditEvents writes
// (21 parameters each, below either database's limit).
const auditChunk = 256

// InsertAuditEvents appends events to the audit log in their order, a
// statement per auditChunk of them; run it in the transaction of the
// changes they record.
func (q Queries) InsertAuditEvents(ctx context.Context, events []AuditEvent) error {
	for len(events) > 0 {
		chunk := events[:min(len(events), auditChunk)]
		events = events[len(chunk):]
		var b strings.Builder
		args := make([]any, 0, 21*len(chunk))
		b.WriteString(`INSERT INTO audit_events (at, last_at, count, action, outcome, reason, actor_id, actor_name,
		token_key, token_kind, oidc_subject, client_ip, request_id, target_user_id, target_user, target_package,
		target_version, target_org, target_team, target_token, detail) VALUES `)
		for i, e := range chunk {
			if e.LastAt < e.At {
				e.LastAt = e.At
			}
			if e.Count < 1 {
				e.Count = 1
			}
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(`(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
			args = append(args, e.At, e.LastAt, e.Count, e.Action, e.Outcome, e.Reason, nullID(e.ActorID), e.ActorName,
				e.TokenKey, e.TokenKind, e.OIDCSubject, e.ClientIP, e.RequestID, nullID(e.TargetUserID), e.TargetUser,
				e.TargetPackage, e.TargetVersion, e.TargetOrg, e.TargetTeam, e.TargetToken, e.Detail)
		}
		if _, err := q.execBuilt(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("insert %d audit events: %w", len(chunk), err)
		}
	}
	return nil
}

// AuditFilter selects events of the audit log; its zero value selects all.
type AuditFilter struct {
	// Account keeps an account's security log: the events its user did
	// (actor) and those done to it (target user).
	Account int64
	// User keeps the events whose actor or target user has this name,
	// accounts deleted since included.
	User string
	// Action keeps one action ("token.create"), or with a trailing dot
	// every action of an area ("token.").
	Action string
	// Outcome keeps "success" or "failure" events.
	Outcome string
	// Since and Until keep events with Since <= At < Until (Unix ms); 0
	// leaves that end open.
	Since, Until int64
}

// where is the filter's WHERE clause (with a leading " WHERE", or "") and its arguments.
func (f AuditFilter) where(extra ...string) (string, []any) {
	var conds []string
	var args []any
	if f.Account != 0 {
		conds = append(conds, `(actor_id = ? OR target_user_id = ?)`)
		args = append(args, f.Account, f.Account)
	}
	if f.User != "" {
		conds = append(conds, `(actor_name = ? OR target_user = ?)`)
		args = append(args, f.User, f.User)
	}
	if area, ok := strings.CutSuffix(f.Action, "."); ok && area != "" {
		// Every action of the area sorts from "area." to "area/" ('/' follows '.').
		conds = append(conds, `action >= ? AND action < ?`)
		args = append(args, area+".", area+"/")
	} else if f.Action != "" {
		conds = append(conds, `action = ?`)
		args = append(args, f.Action)
	}
	if f.Outcome != "" {
		conds = append(conds, `outcome = ?`)
		args = append(args, f.Outcome)
	}
	if f.Since != 0 {
		conds = append(conds, `at >= ?`)
		args = append(args, f.Since)
	}
	if f.Until != 0 {
		conds = append(conds, `at < ?`)
		args = append(args, f.Until)
	}
	conds = append(conds, extra...)
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// AuditPage is where a page of the audit log starts and which way it goes.
type AuditPage struct {
	// After keeps events with a higher ID, Before those with a lower one; 0
	// leaves that end open.
	After, Before int64
	// NewestFirst lists the highest IDs first; else the lowest first.
	NewestFirst bool
	// Limit is the most events returned.
	Limit int
}

// AuditEvents returns one page of the events f selects.
func (q Queries) AuditEvents(ctx context.Context, f AuditFilter, p AuditPage) ([]AuditEvent, error) {
	var extra []string
	var extraArgs []any
	if p.After != 0 {
		extra = append(extra, `id > ?`)
		extraArgs = append(extraArgs, p.After)
	}
	if p.Before != 0 {
		extra = append(extra, `id < ?`)
		extraArgs = append(extraArgs, p.Before)
	}
	where, args := f.where(extra...)
	args = append(args, extraArgs...)
	order := " ORDER BY id"
	if p.NewestFirst {
		order += " DESC"
	}
	args = append(args, p.Limit)
	return q.auditEvents(ctx, `SELECT `+auditColumns+` FROM audit_events`+where+order+` LIMIT ?`, args...)
}

// auditEvents runs query, which selects auditColumns, and scans its rows.
func (q Queries) auditEvents(ctx context.Context, query string, args ...any) ([]AuditEvent, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	defer rows.Close()
	var out []AuditEvent
	for rows.Next() {
		e, err := scanAuditEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("scan audit event: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return out, nil
}

// CountAuditEvents counts the events f selects.
func (q Queries) CountAuditEvents(ctx context.Context, f AuditFilter) (int, error) {
	where, args := f.where()
	var n int
	if err := q.row(ctx, `SELECT COUNT(*) FROM audit_events`+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count audit events: %w", q.d.mapError(err))
	}
	return n, nil
}

// PurgeAuditEvents deletes up to limit of the oldest events that happened
// before cutoff (Unix ms) and reports how many it deleted; call it again
// while it deletes limit, so that no transaction grows large.
func (q Queries) PurgeAuditEvents(ctx context.Context, cutoff int64, limit int) (int64, error) {
	res, err := q.exec(ctx, `DELETE FROM audit_events WHERE id IN
		(SELECT id FROM audit_events WHERE at < ? ORDER BY at LIMIT ?)`, cutoff, limit)
	if err != nil {
		return 0, fmt.Errorf("purge audit events: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("purge audit events: %w", err)
	}
	return n, nil
}
