-- PostgreSQL's 0009 (see ../0009_dashboard.sql): the same tables, moments as timestamptz
-- and Telegram ids as bigint.
CREATE TABLE dashboard_sessions (
    token_hash TEXT PRIMARY KEY,
    telegram_id BIGINT NOT NULL,
    lang TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at);

CREATE TABLE dashboard_links (
    token_hash TEXT PRIMARY KEY,
    telegram_id BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ
);
CREATE INDEX dashboard_links_expiry ON dashboard_links (expires_at);
