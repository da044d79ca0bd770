-- "users" grows with every change to a user's account that a node may hold
-- in memory (the email in a cached token's principal).
INSERT INTO counters (name, value) VALUES ('users', 0);

-- Settings every node must agree on. "server_key_check" is a fingerprint
-- derived from the server key (never the key itself): a node started with a
-- different key refuses to start instead of failing to open TOTP secrets.
CREATE TABLE settings (
    name  TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);
