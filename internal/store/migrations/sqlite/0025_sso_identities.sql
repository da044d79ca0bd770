-- Single sign-on (docs/sso.md). sso_identities links an account to an
-- OpenID Connect provider's subject: the issuer and its sub claim, never an
-- email. provider is the operator's name for the provider when the link was
-- made; email is what the provider said at that time (shown, never used to
-- link). An account may have several links; a subject links one account.
CREATE TABLE sso_identities (
    id             INTEGER PRIMARY KEY,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issuer         TEXT    NOT NULL,
    subject        TEXT    NOT NULL,
    provider       TEXT    NOT NULL,
    email          TEXT    NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    last_signin_at INTEGER NOT NULL,
    UNIQUE (issuer, subject)
);
CREATE INDEX sso_identities_by_user ON sso_identities (user_id);

-- A first sign-in through a provider looks up whether its email already
-- belongs to an account, to refuse rather than take that account over.
CREATE INDEX users_by_email ON users (lower(email));
