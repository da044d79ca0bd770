-- Provenance attestations: the Sigstore bundle a publish (or an approved
-- stage) carried as <name>-<version>.sigstore, served at
-- GET /-/npm/v1/attestations/<name>@<version>. Its subject was checked
-- against the package, the version and the tarball's SHA-512 when it came.
CREATE TABLE attestations (
    package_id     INTEGER NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    version        TEXT    NOT NULL,
    predicate_type TEXT    NOT NULL,
    bundle         BLOB    NOT NULL,
    PRIMARY KEY (package_id, version)
);
