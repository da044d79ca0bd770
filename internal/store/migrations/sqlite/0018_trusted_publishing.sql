-- Trusted publishing (npm trust): at most one trust configuration per
-- package, as npm allows; claims and permissions are the JSON npm trust sent,
-- checked and normalised; issuer is the trusted issuer it is bound to.
-- created_by is the owner who made it: exchanged tokens act with their rights.
CREATE TABLE trust_configs (
    id          TEXT    PRIMARY KEY,
    package_id  INTEGER NOT NULL UNIQUE REFERENCES packages(id) ON DELETE CASCADE,
    type        TEXT    NOT NULL,
    issuer      TEXT    NOT NULL,
    claims      TEXT    NOT NULL,
    permissions TEXT    NOT NULL,
    created_by  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL
);

-- The OIDC tokens already exchanged, by a hash of their issuer and jti (or of
-- the whole token), kept until they expire: the same token is never
-- exchanged twice, on any node.
CREATE TABLE oidc_exchanges (
    key        BLOB    PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE INDEX oidc_exchanges_by_expiry ON oidc_exchanges (expires_at);
