-- Indexes that answer the hot reads on their own (issue 20): a package's
-- row by name, and a version's file by package and version. On a big
-- store a miss of the document cache read the name's index, then the
-- packages row (a table of full packuments, one row a page or more), and
-- for a tarball also the versions index and the version's row (its
-- manifest beside it): four random pages. With these, two. The queries
-- name them (INDEXED BY): without statistics SQLite prefers the unique
-- indexes, which do not cover the columns read.
CREATE INDEX packages_meta ON packages (name, id, scope, access, description, keywords, rev, created_at,
    modified_at);
CREATE INDEX versions_file ON versions (package_id, version, blob_key, size, published_at);
