-- PostgreSQL's 0008 (see ../0008_inbox.sql for what each column means): the same table,
-- update ids and user keys as bigint, moments as timestamptz.
CREATE TABLE inbox (
    update_id     BIGINT PRIMARY KEY,
    user_key      BIGINT,
    body          TEXT,
    received_at   TIMESTAMPTZ NOT NULL,
    claimed_by    TEXT,
    claimed_until TIMESTAMPTZ,
    attempts      INTEGER NOT NULL DEFAULT 0,
    done_at       TIMESTAMPTZ
);
CREATE INDEX inbox_pending ON inbox (user_key, update_id) WHERE done_at IS NULL;
CREATE INDEX inbox_done ON inbox (done_at) WHERE done_at IS NOT NULL;
