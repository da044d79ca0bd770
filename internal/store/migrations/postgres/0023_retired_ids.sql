-- retired_names.user_id keeps the id a deleted account had (the SQLite
-- store starts new accounts past it; PostgreSQL's sequence never gives an
-- id twice, and the column is kept for the same facts on both).
ALTER TABLE retired_names ADD COLUMN user_id BIGINT NOT NULL DEFAULT 0;
