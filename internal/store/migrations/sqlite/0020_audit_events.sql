-- The audit log: one row per security-relevant event (docs/audit.md). A
-- change's event is written in the transaction of the change, so an event
-- exists exactly when its change committed; refusals (a wrong password) are
-- written in batches, folded together when they repeat (count, last_at).
-- Rows name users, tokens and packages by value and hold no foreign keys:
-- the log outlives what it names. Nothing secret is ever written here.
CREATE TABLE audit_events (
    id             INTEGER PRIMARY KEY,
    at             INTEGER NOT NULL,
    last_at        INTEGER NOT NULL,
    count          INTEGER NOT NULL DEFAULT 1,
    action         TEXT    NOT NULL,
    outcome        TEXT    NOT NULL,
    reason         TEXT    NOT NULL DEFAULT '',
    actor_id       INTEGER,
    actor_name     TEXT    NOT NULL DEFAULT '',
    token_key      TEXT    NOT NULL DEFAULT '',
    token_kind     TEXT    NOT NULL DEFAULT '',
    oidc_subject   TEXT    NOT NULL DEFAULT '',
    client_ip      TEXT    NOT NULL DEFAULT '',
    request_id     TEXT    NOT NULL DEFAULT '',
    target_user_id INTEGER,
    target_user    TEXT    NOT NULL DEFAULT '',
    target_package TEXT    NOT NULL DEFAULT '',
    target_version TEXT    NOT NULL DEFAULT '',
    target_org     TEXT    NOT NULL DEFAULT '',
    target_team    TEXT    NOT NULL DEFAULT '',
    target_token   TEXT    NOT NULL DEFAULT '',
    detail         TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_by_at ON audit_events (at);
CREATE INDEX audit_events_by_actor ON audit_events (actor_id, id);
CREATE INDEX audit_events_by_target_user ON audit_events (target_user_id, id);
CREATE INDEX audit_events_by_action ON audit_events (action, id);
