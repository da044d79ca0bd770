-- Site administration (docs/admin.md). admin marks a site administrator;
-- disabled_at, when set, refuses the account's every credential and
-- sign-in (nothing is deleted); last_signin_at is the last successful
-- sign-in; tfa_reenroll is set when an administrator reset the account's
-- 2FA, and refuses its writes until it is enabled again; reset_hash (the
-- SHA-256 of a password reset link's secret) and reset_expires_at are a
-- pending password reset. retired_names keeps the names of deleted
-- accounts, which nobody may sign up with again.
ALTER TABLE users ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
ALTER TABLE users ADD COLUMN last_signin_at INTEGER;
ALTER TABLE users ADD COLUMN tfa_reenroll INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN reset_hash BLOB;
ALTER TABLE users ADD COLUMN reset_expires_at INTEGER;
CREATE UNIQUE INDEX users_by_reset_hash ON users (reset_hash);

CREATE TABLE retired_names (
    name       TEXT    NOT NULL PRIMARY KEY,
    retired_at INTEGER NOT NULL
);
