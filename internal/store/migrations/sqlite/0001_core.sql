-- Accounts, credentials and packages: the registry core.
-- Times are Unix milliseconds (INTEGER), the same in every dialect.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    email         TEXT    NOT NULL DEFAULT '',
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- Every credential: login sessions and access tokens. Only the SHA-256 of the
-- token string is kept; masked is its first 8 and last 4 characters.
CREATE TABLE tokens (
    id           INTEGER PRIMARY KEY,
    key          TEXT    NOT NULL UNIQUE,
    hash         BLOB    NOT NULL UNIQUE,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL,
    name         TEXT    NOT NULL DEFAULT '',
    description  TEXT    NOT NULL DEFAULT '',
    masked       TEXT    NOT NULL,
    cidr         TEXT    NOT NULL DEFAULT '[]',
    grants       TEXT    NOT NULL DEFAULT '{}',
    bypass_2fa   INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER,
    last_used_at INTEGER,
    last_used_ip TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX tokens_by_user ON tokens (user_id, created_at);

-- A package row carries its prebuilt packuments, rebuilt in the same
-- transaction as every change, so reads never assemble them.
CREATE TABLE packages (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    scope       TEXT    NOT NULL DEFAULT '',
    access      TEXT    NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    keywords    TEXT    NOT NULL DEFAULT '',
    rev         INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    modified_at INTEGER NOT NULL,
    packument   BLOB    NOT NULL,
    abbreviated BLOB    NOT NULL
);
CREATE INDEX packages_by_scope ON packages (scope);

CREATE TABLE versions (
    package_id   INTEGER NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    version      TEXT    NOT NULL,
    manifest     BLOB    NOT NULL,
    blob_key     TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    published_at INTEGER NOT NULL,
    PRIMARY KEY (package_id, version)
);
CREATE INDEX versions_by_blob ON versions (blob_key);

CREATE TABLE dist_tags (
    package_id INTEGER NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    tag        TEXT    NOT NULL,
    version    TEXT    NOT NULL,
    PRIMARY KEY (package_id, tag)
);

CREATE TABLE owners (
    package_id INTEGER NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (package_id, user_id)
);
CREATE INDEX owners_by_user ON owners (user_id);

-- Every name@version ever published, kept after unpublish so that a version
-- can never be published twice with different contents.
CREATE TABLE published_versions (
    name    TEXT NOT NULL,
    version TEXT NOT NULL,
    PRIMARY KEY (name, version)
);

-- Counters that other processes watch: "revocations" grows with every token
-- revocation, so every node drops its cached tokens when it changes.
CREATE TABLE counters (
    name  TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO counters (name, value) VALUES ('revocations', 0);
