-- Browser confirmations for the npm CLI: web login (POST /-/v1/login) and
-- web OTP (the 401 body {authUrl, doneUrl}). The browser holds the login id,
-- the CLI the done id; both are stored only as SHA-256. The result (a session
-- token or code to hand over once, sealed) is erased when the CLI picks it up. For a
-- web OTP, otp_hash is the one-time code the CLI then sends in npm-otp.
CREATE TABLE web_auth (
    id         INTEGER PRIMARY KEY,
    login_hash BLOB    NOT NULL UNIQUE,
    done_hash  BLOB    NOT NULL UNIQUE,
    kind       TEXT    NOT NULL,
    user_id    INTEGER REFERENCES users(id) ON DELETE CASCADE,
    command    TEXT    NOT NULL DEFAULT '',
    result     BLOB,
    otp_hash   BLOB,
    otp_used   INTEGER NOT NULL DEFAULT 0,
    handed     INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX web_auth_by_user ON web_auth (user_id, otp_hash);
