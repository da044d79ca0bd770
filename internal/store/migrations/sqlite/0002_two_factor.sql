-- Two-factor authentication: the TOTP secret (sealed with a key derived from
-- the server secret), its mode, replay protection, recovery codes (hashed),
-- lockouts after repeated failures, and each package's 2FA setting.

ALTER TABLE users ADD COLUMN tfa_mode TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN tfa_pending INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN tfa_secret BLOB;
ALTER TABLE users ADD COLUMN tfa_last_step INTEGER NOT NULL DEFAULT 0;

CREATE TABLE recovery_codes (
    id      INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    hash    BLOB    NOT NULL,
    used_at INTEGER
);
CREATE INDEX recovery_codes_by_user ON recovery_codes (user_id);

CREATE TABLE lockouts (
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    path         TEXT    NOT NULL,
    failures     INTEGER NOT NULL,
    locked_until INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, path)
);

ALTER TABLE packages ADD COLUMN publish_requires_tfa INTEGER NOT NULL DEFAULT 0;
ALTER TABLE packages ADD COLUMN automation_overrides_tfa INTEGER NOT NULL DEFAULT 1;
