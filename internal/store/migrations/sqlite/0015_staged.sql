-- Staged versions (npm stage publish): a version uploaded and checked like a
-- publish, waiting for a person's approval. Nothing here is visible to
-- installs; approval publishes it through the normal publish path and
-- deletes the row in the same transaction. A staged version holds its
-- version number: (name, version_core) is unique here, and a publish of it
-- is refused while it is staged (docs/publishing.md). The package may not
-- exist yet: name is not a reference to packages.
CREATE TABLE staged_versions (
    id            TEXT    PRIMARY KEY, -- a UUID
    name          TEXT    NOT NULL,
    scope         TEXT    NOT NULL DEFAULT '',
    version       TEXT    NOT NULL,
    version_core  TEXT    NOT NULL, -- version without build metadata
    tags          TEXT    NOT NULL, -- JSON object: dist-tag -> version
    access        TEXT    NOT NULL DEFAULT '',
    manifest      BLOB    NOT NULL, -- the version's document as sent (JSON)
    blob_key      TEXT    NOT NULL, -- the tarball's content address
    size          INTEGER NOT NULL,
    shasum        TEXT    NOT NULL,
    integrity     TEXT    NOT NULL,
    file_count    INTEGER NOT NULL,
    unpacked_size INTEGER NOT NULL,
    provenance    BLOB,             -- the Sigstore bundle sent with it, or NULL
    actor_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    actor_type    TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    UNIQUE (name, version_core)
);
CREATE INDEX staged_by_created ON staged_versions (created_at);
CREATE INDEX staged_by_actor ON staged_versions (actor_id);
CREATE INDEX staged_by_blob ON staged_versions (blob_key);
