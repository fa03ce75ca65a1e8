-- The initial schema. Kept portable to PostgreSQL where it costs nothing: BIGINT for
-- Telegram ids, BOOLEAN with TRUE/FALSE, times as ISO-8601 UTC text written by Python,
-- period keys (2026-W48, 2026-11) computed in Python, partial indexes, ON CONFLICT upserts.
-- (A PostgreSQL migration set would only swap INTEGER PRIMARY KEY for an identity column.)

-- Departments (internal surveys) and products (external surveys).
CREATE TABLE subjects (
    id INTEGER PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('department', 'product')),
    names_json TEXT NOT NULL,
    survey_id TEXT NOT NULL,
    archived BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL
);

-- Everyone who has talked to the bot: their language.
CREATE TABLE users (
    telegram_id BIGINT PRIMARY KEY,
    lang TEXT,
    lang_chosen BOOLEAN NOT NULL DEFAULT FALSE,
    first_seen TEXT NOT NULL
);

-- Internal customers: employees of a department, or contractors and suppliers (none).
CREATE TABLE members (
    telegram_id BIGINT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('employee', 'contractor', 'supplier')),
    department_id INTEGER REFERENCES subjects (id) ON DELETE SET NULL,
    pulse_muted BOOLEAN NOT NULL DEFAULT FALSE,
    registered_at TEXT NOT NULL,
    CHECK (role = 'employee' OR department_id IS NULL)
);
CREATE INDEX members_department ON members (department_id);

-- Members invited to answer in a week (by a pulse or by registering through a link):
-- the denominator of internal response rates.
CREATE TABLE member_invitations (
    week_key TEXT NOT NULL,
    telegram_id BIGINT NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (week_key, telegram_id)
);

-- Who owns which subject.
CREATE TABLE owners (
    telegram_id BIGINT NOT NULL,
    subject_id INTEGER NOT NULL REFERENCES subjects (id) ON DELETE CASCADE,
    since TEXT NOT NULL,
    PRIMARY KEY (telegram_id, subject_id)
);
CREATE INDEX owners_subject ON owners (subject_id);

-- Digest settings per owner; no row means the defaults. timezone NULL: the configured
-- one; lang NULL: the user's language.
CREATE TABLE owner_settings (
    telegram_id BIGINT PRIMARY KEY,
    weekday INTEGER NOT NULL DEFAULT 0 CHECK (weekday BETWEEN 0 AND 6),
    hour INTEGER NOT NULL DEFAULT 9 CHECK (hour BETWEEN 0 AND 23),
    timezone TEXT,
    lang TEXT,
    paused BOOLEAN NOT NULL DEFAULT FALSE,
    detractor_alerts BOOLEAN NOT NULL DEFAULT FALSE,
    active BOOLEAN NOT NULL DEFAULT TRUE
);

-- Invite links. The token is stored only as HMAC-SHA256(secret, token), plus its first
-- 8 characters for lists and revocation by prefix.
CREATE TABLE invites (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('employee', 'partner', 'buyer', 'owner')),
    subject_id INTEGER REFERENCES subjects (id) ON DELETE CASCADE,
    role TEXT CHECK (role IN ('employee', 'contractor', 'supplier')),
    token_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    max_uses INTEGER CHECK (max_uses >= 1),
    uses INTEGER NOT NULL DEFAULT 0,
    expires_at TEXT,
    revoked_at TEXT,
    created_at TEXT NOT NULL,
    created_by BIGINT
);
CREATE INDEX invites_prefix ON invites (prefix);
CREATE INDEX invites_subject ON invites (subject_id);

-- Telegram update ids already processed, recorded in the same transaction as their effect.
CREATE TABLE processed_updates (
    update_id BIGINT PRIMARY KEY,
    processed_at TEXT NOT NULL
);
CREATE INDEX processed_updates_time ON processed_updates (processed_at);

-- One respondent's run through one survey for one subject. respondent_id and chat_id
-- are set only while the session is active.
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
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
CREATE UNIQUE INDEX sessions_one_active ON sessions (respondent_id) WHERE status = 'active';
CREATE INDEX sessions_idle ON sessions (status, updated_at);
CREATE INDEX sessions_started ON sessions (subject_id, week_key);

-- Submitted responses. No Telegram id: a pseudonym (HMAC of the id, computed by the
-- caller) enforces one completed response per subject and period (unique_key).
-- contact_id only for external buyers who consented to be contacted.
CREATE TABLE responses (
    id INTEGER PRIMARY KEY,
    subject_id INTEGER NOT NULL REFERENCES subjects (id),
    survey_id TEXT NOT NULL,
    survey_version INTEGER NOT NULL,
    audience TEXT NOT NULL CHECK (audience IN ('internal', 'external')),
    week_key TEXT NOT NULL,
    unique_key TEXT NOT NULL,
    pseudonym TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('completed', 'partial')),
    role TEXT,
    contact_id BIGINT,
    submitted_at TEXT NOT NULL,
    CHECK (audience = 'external' OR contact_id IS NULL)
);
CREATE UNIQUE INDEX responses_one_per_period
    ON responses (subject_id, pseudonym, unique_key) WHERE status = 'completed';
CREATE INDEX responses_digest ON responses (subject_id, week_key, status);
CREATE INDEX responses_submitted ON responses (subject_id, submitted_at);

-- Answers, one row per value: numbers (scales, yes/no as 1/0) in `number`, free text in
-- `text`, and each chosen choice id in its own row in `choice`.
CREATE TABLE answers (
    id INTEGER PRIMARY KEY,
    response_id INTEGER NOT NULL REFERENCES responses (id) ON DELETE CASCADE,
    question_id TEXT NOT NULL,
    question_type TEXT NOT NULL,
    metric TEXT,
    number REAL,
    text TEXT,
    choice TEXT
);
-- Digest queries reach answers through their responses (filtered by subject and week),
-- never by question alone, which would read a question's whole history.
CREATE INDEX answers_response ON answers (response_id, question_id);

-- Durable outbox for digests, pulses, alerts and reminders. dedup_key makes each
-- (owner, subject, period) digest exist once; parts_sent lets a retry resume.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    dedup_key TEXT NOT NULL UNIQUE,
    chat_id BIGINT NOT NULL,
    payload_json TEXT NOT NULL,
    due_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'retry', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    parts_sent INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at TEXT NOT NULL,
    sent_at TEXT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
