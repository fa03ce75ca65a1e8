-- PostgreSQL's 0012 (see ../0012_pending_thanks.sql): the same table, the update id as
-- bigint and the moment as timestamptz.
CREATE TABLE pending_thanks (
    update_id      BIGINT PRIMARY KEY,
    subject_id     BIGINT NOT NULL,
    survey_id      TEXT NOT NULL,
    survey_version INTEGER NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX pending_thanks_created_at ON pending_thanks (created_at);
