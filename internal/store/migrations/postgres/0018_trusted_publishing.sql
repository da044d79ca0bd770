-- Trusted publishing (PostgreSQL twin of migrations/sqlite/0018_trusted_publishing.sql).
CREATE TABLE trust_configs (
    id          TEXT    COLLATE "C" PRIMARY KEY,
    package_id  BIGINT  NOT NULL UNIQUE REFERENCES packages(id) ON DELETE CASCADE,
    type        TEXT    COLLATE "C" NOT NULL,
    issuer      TEXT    COLLATE "C" NOT NULL,
    claims      TEXT    COLLATE "C" NOT NULL,
    permissions TEXT    COLLATE "C" NOT NULL,
    created_by  BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  BIGINT  NOT NULL
);

CREATE TABLE oidc_exchanges (
    key        BYTEA   PRIMARY KEY,
    expires_at BIGINT  NOT NULL
);
CREATE INDEX oidc_exchanges_by_expiry ON oidc_exchanges (expires_at);
