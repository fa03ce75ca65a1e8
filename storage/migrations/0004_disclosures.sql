-- Disclosure units (surveys/anonymity.py): the weeks of an internal subject that are
-- shown to its owners together, decided once and kept, so that what one path showed
-- can never be subtracted from what another shows. `weeks` is a JSON list of week keys,
-- `roles` a JSON object role -> completed responses ("" for responses without a role):
-- the counts and thresholds the unit was decided with, and what it lets through.
CREATE TABLE disclosure_units (
    subject_id INTEGER NOT NULL REFERENCES subjects (id) ON DELETE CASCADE,
    unit_key TEXT NOT NULL,
    pooled INTEGER NOT NULL CHECK (pooled IN (0, 1)),
    weeks TEXT NOT NULL,
    completed INTEGER NOT NULL,
    roles TEXT NOT NULL,
    anonymity_min INTEGER NOT NULL,
    comments_min INTEGER NOT NULL,
    scores_shown INTEGER NOT NULL CHECK (scores_shown IN (0, 1)),
    comments_shown INTEGER NOT NULL CHECK (comments_shown IN (0, 1)),
    roles_shown INTEGER NOT NULL CHECK (roles_shown IN (0, 1)),
    decided_at TEXT NOT NULL,
    PRIMARY KEY (subject_id, unit_key)
);
-- One unit per subject and week: the primary key is what keeps units from overlapping.
CREATE TABLE disclosure_weeks (
    subject_id INTEGER NOT NULL,
    week_key TEXT NOT NULL,
    unit_key TEXT NOT NULL,
    PRIMARY KEY (subject_id, week_key),
    FOREIGN KEY (subject_id, unit_key)
        REFERENCES disclosure_units (subject_id, unit_key) ON DELETE CASCADE
);
