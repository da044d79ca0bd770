-- Provenance attestations: see the SQLite migration of the same number.
CREATE TABLE attestations (
    package_id     BIGINT  NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    version        TEXT    NOT NULL,
    predicate_type TEXT    NOT NULL,
    bundle         BYTEA   NOT NULL,
    PRIMARY KEY (package_id, version)
);
