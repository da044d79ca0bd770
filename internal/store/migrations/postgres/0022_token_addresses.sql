-- The addresses each token has been used from, so that a use from a new one
-- is an audit event (token.new_address); PostgreSQL twin of
-- migrations/sqlite/0022_token_addresses.sql. At most a few hundred a
-- token; removed with the token.
CREATE TABLE token_addresses (
    token_id   BIGINT  NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,
    ip         TEXT    COLLATE "C" NOT NULL,
    first_seen BIGINT  NOT NULL,
    PRIMARY KEY (token_id, ip)
);
