-- The abbreviated packument in a table of its own (issue 20): in the
-- packages row it sat after the full packument, both on overflow pages, so
-- reading it walked the full one's pages first. Here an abbreviated read
-- finds its row by the package's id and reads its own bytes only.
CREATE TABLE package_abbreviated (
    package_id INTEGER PRIMARY KEY REFERENCES packages(id) ON DELETE CASCADE,
    doc        BLOB    NOT NULL
);
INSERT INTO package_abbreviated (package_id, doc) SELECT id, abbreviated FROM packages;
ALTER TABLE packages DROP COLUMN abbreviated;
