-- Scheduled jobs claimed once per period across instances: the instance whose INSERT of
-- (job, period) goes in runs the job for that period; every other instance finds the
-- row and skips it (storage.schedule.claim_run).
--   job          the job's fixed name ("reminders", "stale-sessions")
--   period       which period of the job's interval ("2026-11-30T13:40Z/600s" and the like)
--   claimed_by   the instance that ran it ("host:pid:random"), for the operator
--   claimed_at   when (ISO-8601 UTC text); rows older than two days are pruned hourly
CREATE TABLE schedule_runs (
    job        TEXT NOT NULL,
    period     TEXT NOT NULL,
    claimed_by TEXT NOT NULL,
    claimed_at TEXT NOT NULL,
    PRIMARY KEY (job, period)
);
CREATE INDEX schedule_runs_claimed_at ON schedule_runs (claimed_at);
