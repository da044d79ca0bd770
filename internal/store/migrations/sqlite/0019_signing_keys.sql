-- Registry signatures (docs/signatures.md): the ECDSA P-256 keys that sign
-- every local version's dist.signatures, and the packages whose versions
-- were written before they were signed.

-- keyid is npm's: "SHA256:" and the unpadded base64 of the SHA-256 of the
-- public key's SPKI DER. private_key is the PKCS #8 DER sealed with the
-- server key (never stored in the clear). The key in use is the one without
-- expires_at; an expired key stays listed, so that what it signed before
-- expires_at keeps verifying. last_signed_at is the latest publish time of a
-- version it signed: a rotation never expires a key before it.
CREATE TABLE signing_keys (
    keyid          TEXT    NOT NULL PRIMARY KEY,
    public_key     BLOB    NOT NULL,
    private_key    BLOB    NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER,
    last_signed_at INTEGER NOT NULL DEFAULT 0
);
-- At most one key in use.
CREATE UNIQUE INDEX signing_keys_in_use ON signing_keys ((1)) WHERE expires_at IS NULL;

-- Packages with versions not signed yet: every package that exists when
-- this migration runs. Each node signs them in the background once it
-- starts, one package per transaction, and takes it off this list.
CREATE TABLE signing_backlog (
    package_id INTEGER NOT NULL PRIMARY KEY REFERENCES packages(id) ON DELETE CASCADE
);
INSERT INTO signing_backlog (package_id) SELECT id FROM packages;
