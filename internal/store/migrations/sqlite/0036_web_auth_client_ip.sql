-- The address the npm CLI started a browser confirmation from, shown on
-- the confirmation page so that a person can tell a login they did not
-- start (a link someone sent them) from their own.
ALTER TABLE web_auth ADD COLUMN client_ip TEXT NOT NULL DEFAULT '';
