-- PostgreSQL's 0011 (see ../0011_schedule_runs.sql): the same table, the moment as
-- timestamptz.
CREATE TABLE schedule_runs (
    job        TEXT NOT NULL,
    period     TEXT NOT NULL,
    claimed_by TEXT NOT NULL,
    claimed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (job, period)
);
CREATE INDEX schedule_runs_claimed_at ON schedule_runs (claimed_at);
