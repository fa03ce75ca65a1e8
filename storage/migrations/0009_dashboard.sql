-- The dashboard's logins: server-side sessions behind a cookie, and one-time login links.
-- Only keyed hashes of the cookie values and link tokens are stored, so a copy of the
-- database opens no dashboard.
CREATE TABLE dashboard_sessions (
    token_hash TEXT PRIMARY KEY,
    telegram_id INTEGER NOT NULL,
    lang TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at);

CREATE TABLE dashboard_links (
    token_hash TEXT PRIMARY KEY,
    telegram_id INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT
);
CREATE INDEX dashboard_links_expiry ON dashboard_links (expires_at);
