-- The client address (as internal/throttle keys it) that started each
-- browser confirmation, so that the confirmations waiting can be bounded
-- per address as well as in all; and an index to count and purge them by
-- expiry.
ALTER TABLE web_auth ADD COLUMN client TEXT NOT NULL DEFAULT '';
CREATE INDEX web_auth_by_client ON web_auth (client, expires_at);
CREATE INDEX web_auth_by_expiry ON web_auth (expires_at);
