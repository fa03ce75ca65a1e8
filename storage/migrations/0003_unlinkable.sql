-- Internal answers unlinkable to a person, even for whoever holds the database and
-- FEEDBOT_SECRET (issue 10). Until now a response row held its respondent's pseudonym
-- (HMAC of secret, Telegram id, subject and period: anyone with the secret recomputes it
-- for any employee), its exact time and an increasing id, and an ended session row kept
-- its times. After this migration:
--   * "has answered" is a row in answered_markers (the same HMAC, now called a marker),
--     with no link to any response, no time and no insertion order (WITHOUT ROWID: rows
--     sit in marker order). Its primary key keeps one completed response per person,
--     subject and period, across processes.
--   * responses have random ids and no pseudonym, internal ones are stamped with the start
--     of their week (UTC midnight of its Monday), not the moment they were submitted.
--     External ones keep their time (a buyer's response is not anonymous to the owner:
--     consent to contact and alerts refer to it).
--   * answers have no id of their own: (response_id, position) keys them, position being
--     the order within the response (multi-choice ids in the order chosen).
--   * a session row is deleted when it ends: "sessions started in a week" (the digest's
--     completion rate) is a counter in session_counts, with no identity. Session ids are
--     AUTOINCREMENT so an ended session's id is never reused (an old button must not
--     reach a new session).
-- Existing data is moved to that form and scrubbed (ended sessions deleted, ids redrawn,
-- internal times coarsened). Rows are inserted in the order of their new keys so that not
-- even the layout in the file follows the old order.

CREATE TABLE answered_markers (marker TEXT PRIMARY KEY) WITHOUT ROWID;
INSERT OR IGNORE INTO answered_markers (marker)
    SELECT pseudonym FROM responses WHERE status = 'completed' ORDER BY pseudonym;

CREATE TABLE session_counts (
    subject_id INTEGER NOT NULL REFERENCES subjects (id) ON DELETE CASCADE,
    week_key TEXT NOT NULL,
    started INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (subject_id, week_key)
) WITHOUT ROWID;
INSERT INTO session_counts (subject_id, week_key, started)
    SELECT subject_id, week_key, COUNT(*) FROM sessions
    GROUP BY subject_id, week_key ORDER BY subject_id, week_key;

-- Sessions: only the active ones stay.
CREATE TABLE sessions_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    respondent_id BIGINT,
    chat_id BIGINT,
    survey_id TEXT NOT NULL,
    survey_version INTEGER NOT NULL,
    subject_id INTEGER NOT NULL REFERENCES subjects (id) ON DELETE CASCADE,
    audience TEXT NOT NULL CHECK (audience IN ('internal', 'external')),
    role TEXT,
    state_json TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'completed', 'abandoned', 'cancelled')),
    started_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    message_id BIGINT,
    reminded_at TEXT,
    week_key TEXT NOT NULL,
    CHECK (status = 'active' OR (respondent_id IS NULL AND chat_id IS NULL))
);
INSERT INTO sessions_new
    SELECT id, respondent_id, chat_id, survey_id, survey_version, subject_id, audience, role,
           state_json, status, started_at, updated_at, message_id, reminded_at, week_key
    FROM sessions WHERE status = 'active' ORDER BY id;
-- Ids of deleted sessions are not handed out again either.
DELETE FROM sqlite_sequence WHERE name = 'sessions_new';
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'sessions_new', COALESCE(MAX(id), 0) FROM sessions;
DROP TABLE sessions;
ALTER TABLE sessions_new RENAME TO sessions;
CREATE UNIQUE INDEX sessions_one_active ON sessions (respondent_id) WHERE status = 'active';
CREATE INDEX sessions_idle ON sessions (status, updated_at);

-- Responses: new random ids (positive, 62 bits, odd so never 0), kept in a temporary map
-- to carry the answers over.
CREATE TEMP TABLE response_ids (
    old_id INTEGER PRIMARY KEY,
    new_id INTEGER NOT NULL UNIQUE
);
INSERT INTO response_ids (old_id, new_id)
    SELECT id, (random() & 0x3FFFFFFFFFFFFFFF) | 1 FROM responses;

CREATE TABLE responses_new (
    id INTEGER PRIMARY KEY,
    subject_id INTEGER NOT NULL REFERENCES subjects (id),
    survey_id TEXT NOT NULL,
    survey_version INTEGER NOT NULL,
    audience TEXT NOT NULL CHECK (audience IN ('internal', 'external')),
    week_key TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('completed', 'partial')),
    role TEXT,
    contact_id BIGINT,
    submitted_at TEXT NOT NULL,
    CHECK (audience = 'external' OR contact_id IS NULL)
);
INSERT INTO responses_new (id, subject_id, survey_id, survey_version, audience, week_key,
                           status, role, contact_id, submitted_at)
    SELECT m.new_id, r.subject_id, r.survey_id, r.survey_version, r.audience, r.week_key,
           r.status, r.role, r.contact_id,
           CASE WHEN r.audience = 'internal'
                -- Monday of ISO week "YYYY-Www": the Monday of the week holding 4 January,
                -- plus ww - 1 weeks (as surveys.periods.span computes it).
                THEN date(substr(r.week_key, 1, 4) || '-01-04', '-6 days', 'weekday 1',
                          '+' || ((CAST(substr(r.week_key, 7, 2) AS INTEGER) - 1) * 7)
                          || ' days') || 'T00:00:00.000000+00:00'
                ELSE r.submitted_at END
    FROM responses AS r JOIN response_ids AS m ON m.old_id = r.id
    ORDER BY m.new_id;

CREATE TABLE answers_new (
    response_id INTEGER NOT NULL REFERENCES responses_new (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    question_id TEXT NOT NULL,
    question_type TEXT NOT NULL,
    metric TEXT,
    number REAL,
    text TEXT,
    choice TEXT,
    PRIMARY KEY (response_id, position)
) WITHOUT ROWID;
INSERT INTO answers_new (response_id, position, question_id, question_type, metric, number,
                         text, choice)
    SELECT m.new_id, ROW_NUMBER() OVER (PARTITION BY a.response_id ORDER BY a.id) - 1,
           a.question_id, a.question_type, a.metric, a.number, a.text, a.choice
    FROM answers AS a JOIN response_ids AS m ON m.old_id = a.response_id
    ORDER BY m.new_id, a.id;

-- Children first: dropping a parent deletes what still refers to it.
DROP TABLE answers;
DROP TABLE responses;
ALTER TABLE responses_new RENAME TO responses;
ALTER TABLE answers_new RENAME TO answers;
DROP TABLE response_ids;
CREATE INDEX responses_digest ON responses (subject_id, week_key, status);
