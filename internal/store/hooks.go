package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// Hook is one webhook (docs/webhooks.md).
type Hook struct {
	ID     string
	UserID int64
	// UserName is the name of the account that made it (read, not written).
	UserName string
	// Type is what it watches: "package", "scope", "owner" or "registry".
	Type string
	// Name is the package, the scope with its "@", the owner's user name,
	// or "*" for the registry.
	Name     string
	Endpoint string
	// Secret is the hook's secret sealed with the server key; never the secret.
	Secret []byte
	// Events lists the events delivered, space-separated; "" delivers all.
	Events               string
	CreatedAt, UpdatedAt int64
	LastDeliveryAt       int64
	LastStatus           int
	// AfterEvent is the ID of the audit log's last event when the hook was
	// made (set by CreateHook): it is told of later events only.
	AfterEvent int64
}

// Hook types.
const (
	HookPackage  = "package"
	HookScope    = "scope"
	HookOwner    = "owner"
	HookRegistry = "registry"
)

const hookColumns = `h.id, h.user_id, u.name, h.type, h.name, h.endpoint, h.secret, h.events, h.created_at,
	h.updated_at, h.last_delivery_at, h.last_status, h.after_event`

func scanHook(row interface{ Scan(...any) error }) (Hook, error) {
	var h Hook
	err := row.Scan(&h.ID, &h.UserID, &h.UserName, &h.Type, &h.Name, &h.Endpoint, &h.Secret, &h.Events,
		&h.CreatedAt, &h.UpdatedAt, &h.LastDeliveryAt, &h.LastStatus, &h.AfterEvent)
	return h, err
}

// CreateHook adds h, told of the audit events after the last one now.
func (q Queries) CreateHook(ctx context.Context, h Hook) error {
	_, err := q.exec(ctx, `INSERT INTO hooks (id, user_id, type, name, endpoint, secret, events, created_at, updated_at,
		after_event) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(id), 0) FROM audit_events))`, h.ID, h.UserID, h.Type, h.Name, h.Endpoint, h.Secret, h.Events,
		h.CreatedAt, h.UpdatedAt)
	if err != nil {
		return fmt.Errorf("create hook: %w", err)
	}
	return nil
}

// HookByID returns hook id, NotFound when there is none.
func (q Queries) HookByID(ctx context.Context, id string) (Hook, error) {
	h, err := scanHook(q.row(ctx, `SELECT `+hookColumns+` FROM hooks h JOIN users u ON u.id = h.user_id
		WHERE h.id = ?`, id))
	if err != nil {
		return Hook{}, q.scanErr(err, "Not found")
	}
	return h, nil
}

// HookFilter selects hooks.
type HookFilter struct {
	// UserID keeps the hooks of one account; 0 keeps everyone's.
	UserID int64
	// Name keeps the hooks watching this name (a package, "@scope", an owner).
	Name          string
	Limit, Offset int
}

func (f HookFilter) where() (string, []any) {
	where, args := ` WHERE 1 = 1`, []any{}
	if f.UserID != 0 {
		where += ` AND h.user_id = ?`
		args = append(args, f.UserID)
	}
	if f.Name != "" {
		where += ` AND h.name = ?`
		args = append(args, f.Name)
	}
	return where, args
}

// Hooks returns the hooks f selects, oldest first.
func (q Queries) Hooks(ctx context.Context, f HookFilter) ([]Hook, error) {
	where, args := f.where()
	args = append(args, f.Limit, f.Offset)
	return q.hooks(ctx, `SELECT `+hookColumns+` FROM hooks h JOIN users u ON u.id = h.user_id`+where+
		` ORDER BY h.created_at, h.id LIMIT ? OFFSET ?`, args...)
}

// CountHooks counts the hooks f selects (its Limit and Offset aside).
func (q Queries) CountHooks(ctx context.Context, f HookFilter) (int, error) {
	where, args := f.where()
	var n int
	if err := q.row(ctx, `SELECT COUNT(*) FROM hooks h`+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count hooks: %w", q.d.mapError(err))
	}
	return n, nil
}

// HooksFor returns the hooks that watch package name of scope (without
// "@", "" for none): its own, its scope's, its owners' and the registry's.
func (q Queries) HooksFor(ctx context.Context, name, scope string) ([]Hook, error) {
	scopeName := ""
	if scope != "" {
		scopeName = "@" + scope
	}
	return q.hooks(ctx, `SELECT `+hookColumns+` FROM hooks h JOIN users u ON u.id = h.user_id
		WHERE (h.type = 'package' AND h.name = ?) OR (h.type = 'scope' AND h.name = ?) OR h.type = 'registry'
		OR (h.type = 'owner' AND h.name IN (SELECT ou.name FROM owners o JOIN users ou ON ou.id = o.user_id
			JOIN packages p ON p.id = o.package_id WHERE p.name = ?))
		ORDER BY h.id`, name, scopeName, name)
}

func (q Queries) hooks(ctx context.Context, query string, args ...any) ([]Hook, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list hooks: %w", err)
	}
	defer rows.Close()
	out := []Hook{}
	for rows.Next() {
		h, err := scanHook(rows)
		if err != nil {
			return nil, fmt.Errorf("scan hook: %w", err)
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list hooks: %w", err)
	}
	return out, nil
}

// UpdateHook sets hook id's endpoint, sealed secret and events.
func (q Queries) UpdateHook(ctx context.Context, id, endpoint string, secret []byte, events string, now int64) error {
	res, err := q.exec(ctx, `UPDATE hooks SET endpoint = ?, secret = ?, events = ?, updated_at = ? WHERE id = ?`,
		endpoint, secret, events, now, id)
	return affectedOne(res, err, "update hook", "Not found")
}

// DeleteHook removes hook id and its deliveries.
func (q Queries) DeleteHook(ctx context.Context, id string) error {
	res, err := q.exec(ctx, `DELETE FROM hooks WHERE id = ?`, id)
	return affectedOne(res, err, "delete hook", "Not found")
}

// affectedOne is a write's error, or NotFound (notFound) when it changed no row.
func affectedOne(res sql.Result, err error, what, notFound string) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return fault.NotFoundf("%s", notFound)
	}
	return nil
}

// HookCursor is the ID of the last audit event read for deliveries.
func (q Queries) HookCursor(ctx context.Context) (int64, error) {
	var id int64
	if err := q.row(ctx, `SELECT last_event FROM hook_cursor WHERE id = 1`).Scan(&id); err != nil {
		return 0, fmt.Errorf("read hook cursor: %w", q.d.mapError(err))
	}
	return id, nil
}

// AdvanceHookCursor moves the cursor from `from` to `to`, and reports
// whether it was still at from: run it first in the transaction that
// queues the events in between, so that of several nodes reading the same
// events only one queues them.
func (q Queries) AdvanceHookCursor(ctx context.Context, from, to int64) (bool, error) {
	res, err := q.exec(ctx, `UPDATE hook_cursor SET last_event = ? WHERE id = 1 AND last_event = ?`, to, from)
	if err != nil {
		return false, fmt.Errorf("advance hook cursor: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("advance hook cursor: %w", err)
	}
	return n == 1, nil
}

// AuditEventsAfter returns up to limit events with an ID above after, in ID
// order: what the webhook dispatcher reads (it keeps the successful events
// about packages).
func (q Queries) AuditEventsAfter(ctx context.Context, after int64, limit int) ([]AuditEvent, error) {
	return q.auditEvents(ctx, `SELECT `+auditColumns+` FROM audit_events WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
}

// HookDelivery is one event to deliver to one hook, and how its last
// attempt went.
type HookDelivery struct {
	ID      int64
	HookID  string
	EventID int64
	// Event is npm's event name ("package:publish").
	Event string
	// Payload is the JSON body sent.
	Payload string
	// State is "pending", "delivered" or "failed" (given up).
	State      string
	Attempts   int
	CreatedAt  int64
	NextAt     int64
	LeaseUntil int64
	LeaseOwner string
	// Status is the last answer's HTTP status, 0 when none came.
	Status     int
	DurationMS int64
	// Response is a bounded excerpt of the last answer's body.
	Response string
	// Error says why the last attempt failed, "" when it did not.
	Error      string
	FinishedAt int64
}

// Delivery states.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

const deliveryColumns = `id, hook_id, event_id, event, payload, state, attempts, created_at, next_at, lease_until,
	lease_owner, status, duration_ms, response, error, finished_at`

func scanDelivery(row interface{ Scan(...any) error }) (HookDelivery, error) {
	var d HookDelivery
	err := row.Scan(&d.ID, &d.HookID, &d.EventID, &d.Event, &d.Payload, &d.State, &d.Attempts, &d.CreatedAt,
		&d.NextAt, &d.LeaseUntil, &d.LeaseOwner, &d.Status, &d.DurationMS, &d.Response, &d.Error, &d.FinishedAt)
	return d, err
}

func (q Queries) deliveries(ctx context.Context, query string, args ...any) ([]HookDelivery, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list hook deliveries: %w", err)
	}
	defer rows.Close()
	out := []HookDelivery{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("scan hook delivery: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list hook deliveries: %w", err)
	}
	return out, nil
}

// QueueDelivery adds d (pending, due at d.NextAt) and returns its ID.
func (q Queries) QueueDelivery(ctx context.Context, d HookDelivery) (int64, error) {
	var id int64
	err := q.row(ctx, `INSERT INTO hook_deliveries (hook_id, event_id, event, payload, state, created_at, next_at)
		VALUES (?, ?, ?, ?, 'pending', ?, ?) RETURNING id`, d.HookID, d.EventID, d.Event, d.Payload, d.CreatedAt,
		d.NextAt).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("queue hook delivery: %w", q.d.mapError(err))
	}
	return id, nil
}

// CountPendingDeliveries counts the deliveries not yet done nor given up.
func (q Queries) CountPendingDeliveries(ctx context.Context) (int, error) {
	var n int
	if err := q.row(ctx, `SELECT COUNT(*) FROM hook_deliveries WHERE state = 'pending'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count hook deliveries: %w", q.d.mapError(err))
	}
	return n, nil
}

// ClaimDeliveries leases up to limit pending deliveries due at now whose
// lease (if any) has ended, to owner until leaseUntil, and returns them. It
// is one statement: two nodes never claim the same row while a lease holds.
func (q Queries) ClaimDeliveries(ctx context.Context, owner string, now, leaseUntil int64, limit int) ([]HookDelivery, error) {
	return q.deliveries(ctx, `UPDATE hook_deliveries SET lease_owner = ?, lease_until = ?
		WHERE id IN (SELECT id FROM hook_deliveries WHERE state = 'pending' AND next_at <= ? AND lease_until <= ?
			ORDER BY next_at, id LIMIT ?`+q.d.skipLocked()+`)
		RETURNING `+deliveryColumns, owner, leaseUntil, now, now, limit)
}

// FinishAttempt records the attempt owner made at d (its State, Attempts,
// NextAt, Status, DurationMS, Response, Error, FinishedAt) and ends the
// lease; it reports false, writing nothing, when the lease was lost to
// another node meanwhile. The hook's last delivery is updated with it.
func (q Queries) FinishAttempt(ctx context.Context, owner string, d HookDelivery, now int64) (bool, error) {
	res, err := q.exec(ctx, `UPDATE hook_deliveries SET state = ?, attempts = ?, next_at = ?, lease_until = 0,
		lease_owner = '', status = ?, duration_ms = ?, response = ?, error = ?, finished_at = ?
		WHERE id = ? AND lease_owner = ?`, d.State, d.Attempts, d.NextAt, d.Status, d.DurationMS, d.Response,
		d.Error, d.FinishedAt, d.ID, owner)
	if err != nil {
		return false, fmt.Errorf("finish hook delivery: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	if _, err := q.exec(ctx, `UPDATE hooks SET last_delivery_at = ?, last_status = ? WHERE id = ?`,
		now, d.Status, d.HookID); err != nil {
		return false, fmt.Errorf("finish hook delivery: %w", err)
	}
	return true, nil
}

// DeliveryByID returns delivery id, NotFound when there is none.
func (q Queries) DeliveryByID(ctx context.Context, id int64) (HookDelivery, error) {
	d, err := scanDelivery(q.row(ctx, `SELECT `+deliveryColumns+` FROM hook_deliveries WHERE id = ?`, id))
	if err != nil {
		return HookDelivery{}, q.scanErr(err, "delivery not found")
	}
	return d, nil
}

// DeliveriesOf returns the newest limit deliveries of hook id, newest first.
func (q Queries) DeliveriesOf(ctx context.Context, hookID string, limit int) ([]HookDelivery, error) {
	return q.deliveries(ctx, `SELECT `+deliveryColumns+` FROM hook_deliveries WHERE hook_id = ?
		ORDER BY id DESC LIMIT ?`, hookID, limit)
}

// PurgeDeliveries deletes up to limit finished deliveries (delivered or
// given up) that finished before cutoff, and reports how many.
func (q Queries) PurgeDeliveries(ctx context.Context, cutoff int64, limit int) (int64, error) {
	res, err := q.exec(ctx, `DELETE FROM hook_deliveries WHERE id IN (SELECT id FROM hook_deliveries
		WHERE state <> 'pending' AND finished_at < ? ORDER BY finished_at LIMIT ?)`, cutoff, limit)
	if err != nil {
		return 0, fmt.Errorf("purge hook deliveries: %w", err)
	}
	return res.RowsAffected()
}

// ReleaseLeases ends the leases owner holds, so that another node (or this
// one started again) takes their deliveries at once: a node shutting down
// calls it after its deliveries under way stopped.
func (q Queries) ReleaseLeases(ctx context.Context, owner string) error {
	if _, err := q.exec(ctx, `UPDATE hook_deliveries SET lease_until = 0, lease_owner = ''
		WHERE lease_owner = ? AND state = 'pending'`, owner); err != nil {
		return fmt.Errorf("release hook delivery leases: %w", err)
	}
	return nil
}
