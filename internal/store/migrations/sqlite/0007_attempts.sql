-- Failed sign-in and one-time password attempts, counted per user, path
-- (password or otp) and client: one row per client address (an IPv4
-- address, or the /64 of an IPv6 one) and one row ('*') for every address
-- together. An attempt is reserved (failures + 1) before it is checked, in
-- one statement, so that a burst of parallel attempts cannot all read the
-- same count; the lock state lives in the same row. Replaces lockouts,
-- which counted per user only and read before it wrote.
DROP TABLE lockouts;

CREATE TABLE attempts (
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    path         TEXT    NOT NULL,
    client       TEXT    NOT NULL,
    failures     INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER NOT NULL DEFAULT 0,
    strikes      INTEGER NOT NULL DEFAULT 0,
    last_attempt INTEGER NOT NULL DEFAULT 0,
    last_success INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, path, client)
);
