-- The addresses each token has been used from, so that a use from a new one
-- is an audit event (token.new_address). At most a few hundred a token;
-- removed with the token.
CREATE TABLE token_addresses (
    token_id   INTEGER NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,
    ip         TEXT    NOT NULL,
    first_seen INTEGER NOT NULL,
    PRIMARY KEY (token_id, ip)
);
