-- Uplinks: what gatehouse cached of packages it serves from upstream
-- registries. Nothing here is a local package: a name with a local package,
-- or ever published here, is never fetched from an uplink (docs/uplinks.md).

-- Upstream's packuments as received (full or abbreviated), with the
-- validators to revalidate them: the tarball links are rewritten and the
-- supply-chain gates applied when they are served, so that a rule added
-- later also covers what was cached before it.
CREATE TABLE uplink_documents (
    name          TEXT    NOT NULL,
    kind          TEXT    NOT NULL, -- 'full' or 'abbreviated'
    uplink        TEXT    NOT NULL,
    body          BLOB    NOT NULL,
    etag          TEXT    NOT NULL DEFAULT '',
    last_modified TEXT    NOT NULL DEFAULT '',
    fetched_at    INTEGER NOT NULL, -- last fetched or revalidated upstream
    changed_at    INTEGER NOT NULL, -- when body last changed
    PRIMARY KEY (name, kind)
);

-- Tarballs fetched from an uplink and verified against its packument's
-- integrity: blob_key is the content address in the blob store, shared with
-- local tarballs of the same bytes.
CREATE TABLE uplink_tarballs (
    name         TEXT    NOT NULL,
    version      TEXT    NOT NULL,
    uplink       TEXT    NOT NULL,
    blob_key     TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    published_at INTEGER NOT NULL, -- upstream's time of the version; 0 when it gave none
    fetched_at   INTEGER NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE INDEX uplink_tarballs_by_blob ON uplink_tarballs (blob_key);

-- "uplinks" grows when a cached packument changes, so that every node drops
-- the copy it keeps in memory.
INSERT INTO counters (name, value) VALUES ('uplinks', 0);
