-- Uplinks: what gatehouse cached of packages it serves from upstream
-- registries (PostgreSQL twin of migrations/sqlite/0010_uplinks.sql). Nothing
-- here is a local package: a name with a local package, or ever published
-- here, is never fetched from an uplink (docs/uplinks.md).

-- Upstream's packuments as received (full or abbreviated), with the
-- validators to revalidate them: the tarball links are rewritten and the
-- supply-chain gates applied when they are served, so that a rule added
-- later also covers what was cached before it.
CREATE TABLE uplink_documents (
    name          TEXT    COLLATE "C" NOT NULL,
    kind          TEXT    COLLATE "C" NOT NULL, -- 'full' or 'abbreviated'
    uplink        TEXT    COLLATE "C" NOT NULL,
    body          BYTEA   NOT NULL,
    etag          TEXT    COLLATE "C" NOT NULL DEFAULT '',
    last_modified TEXT    COLLATE "C" NOT NULL DEFAULT '',
    fetched_at    BIGINT  NOT NULL, -- last fetched or revalidated upstream
    changed_at    BIGINT  NOT NULL, -- when body last changed
    PRIMARY KEY (name, kind)
);

-- Tarballs fetched from an uplink and verified against its packument's
-- integrity: blob_key is the content address in the blob store, shared with
-- local tarballs of the same bytes.
CREATE TABLE uplink_tarballs (
    name         TEXT    COLLATE "C" NOT NULL,
    version      TEXT    COLLATE "C" NOT NULL,
    uplink       TEXT    COLLATE "C" NOT NULL,
    blob_key     TEXT    COLLATE "C" NOT NULL,
    size         BIGINT  NOT NULL,
    published_at BIGINT  NOT NULL, -- upstream's time of the version; 0 when it gave none
    fetched_at   BIGINT  NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE INDEX uplink_tarballs_by_blob ON uplink_tarballs (blob_key);

-- "uplinks" grows when a cached packument changes, so that every node drops
-- the copy it keeps in memory.
INSERT INTO counters (name, value) VALUES ('uplinks', 0);
