-- A version's file by package and version from the index alone (issue 20;
-- SQLite's migration also covers the packages row by name, which here is
-- left to the table: an index entry on PostgreSQL must stay under about
-- 2.7 kB, and a package's description and keywords have no such bound).
CREATE INDEX versions_file ON versions (package_id, version) INCLUDE (blob_key, size, published_at);
