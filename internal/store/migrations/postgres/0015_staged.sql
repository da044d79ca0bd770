-- Staged versions (npm stage publish): see the SQLite migration of the same
-- number for what each column holds.
CREATE TABLE staged_versions (
    id            TEXT    PRIMARY KEY,
    name          TEXT    NOT NULL,
    scope         TEXT    NOT NULL DEFAULT '',
    version       TEXT    NOT NULL,
    version_core  TEXT    NOT NULL,
    tags          TEXT    NOT NULL,
    access        TEXT    NOT NULL DEFAULT '',
    manifest      BYTEA   NOT NULL,
    blob_key      TEXT    NOT NULL,
    size          BIGINT  NOT NULL,
    shasum        TEXT    NOT NULL,
    integrity     TEXT    NOT NULL,
    file_count    BIGINT  NOT NULL,
    unpacked_size BIGINT  NOT NULL,
    provenance    BYTEA,
    actor_id      BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    actor_type    TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    UNIQUE (name, version_core)
);
CREATE INDEX staged_by_created ON staged_versions (created_at);
CREATE INDEX staged_by_actor ON staged_versions (actor_id);
CREATE INDEX staged_by_blob ON staged_versions (blob_key);
