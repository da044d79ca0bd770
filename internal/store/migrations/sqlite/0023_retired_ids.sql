-- retired_names.user_id keeps the id a deleted account had. SQLite gives a
-- new row the highest id in the table plus one, so without it the next
-- account after the deletion of the newest one would take its id, and with
-- it that account's audit events (read by id) as its own security log;
-- CreateUser on SQLite starts past every id kept here. Accounts deleted
-- before this migration have no id on record: the highest user id the
-- audit log names stands in for them.
ALTER TABLE retired_names ADD COLUMN user_id INTEGER NOT NULL DEFAULT 0;
UPDATE retired_names SET user_id = (
    SELECT COALESCE(MAX(m), 0) FROM (
        SELECT MAX(actor_id) AS m FROM audit_events
        UNION ALL SELECT MAX(target_user_id) FROM audit_events
    )
);
