-- The abbreviated packument in a table of its own (issue 20), as on
-- SQLite: an abbreviated read reads its own bytes, not the full
-- packument's row beside them.
CREATE TABLE package_abbreviated (
    package_id BIGINT PRIMARY KEY REFERENCES packages(id) ON DELETE CASCADE,
    doc        BYTEA  NOT NULL
);
INSERT INTO package_abbreviated (package_id, doc) SELECT id, abbreviated FROM packages;
ALTER TABLE packages DROP COLUMN abbreviated;
