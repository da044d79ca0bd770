-- Webhooks (docs/webhooks.md). A hook belongs to the account that made it
-- and watches a package, a scope, an owner's packages, or (an
-- administrator's) the whole registry. Its secret signs deliveries, so it is
-- sealed with a key derived from the server secret, never stored in the clear.
-- after_event is the audit log's last event when the hook was made: it is
-- told of later events only.
CREATE TABLE hooks (
    id               TEXT    PRIMARY KEY,
    user_id          INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    type             TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    endpoint         TEXT    NOT NULL,
    secret           BLOB    NOT NULL,
    events           TEXT    NOT NULL DEFAULT '',
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    last_delivery_at INTEGER NOT NULL DEFAULT 0,
    last_status      INTEGER NOT NULL DEFAULT 0,
    after_event      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX hooks_by_user ON hooks (user_id, created_at);
CREATE INDEX hooks_by_target ON hooks (type, name);

-- The delivery queue, fed from the audit log: the node that advances
-- hook_cursor (in one write transaction) adds one row per matching hook and
-- event, so an event is queued once however many nodes run. A row is
-- claimed with a lease (lease_until); a node that dies mid-delivery leaves
-- it to another once the lease ends (at-least-once). The last attempt's
-- outcome stays on the row: status, duration, a bounded excerpt of the
-- answer, or the error.
CREATE TABLE hook_deliveries (
    id           INTEGER PRIMARY KEY,
    hook_id      TEXT    NOT NULL REFERENCES hooks(id) ON DELETE CASCADE,
    event_id     INTEGER NOT NULL,
    event        TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    next_at      INTEGER NOT NULL,
    lease_until  INTEGER NOT NULL DEFAULT 0,
    lease_owner  TEXT    NOT NULL DEFAULT '',
    status       INTEGER NOT NULL DEFAULT 0,
    duration_ms  INTEGER NOT NULL DEFAULT 0,
    response     TEXT    NOT NULL DEFAULT '',
    error        TEXT    NOT NULL DEFAULT '',
    finished_at  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX hook_deliveries_due ON hook_deliveries (state, next_at);
CREATE INDEX hook_deliveries_by_hook ON hook_deliveries (hook_id, id);

-- How far the audit log has been read for deliveries. It starts at the
-- log's end: events from before hooks existed are not delivered.
CREATE TABLE hook_cursor (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    last_event INTEGER NOT NULL
);
INSERT INTO hook_cursor (id, last_event) SELECT 1, COALESCE(MAX(id), 0) FROM audit_events;
