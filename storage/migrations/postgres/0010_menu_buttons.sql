-- PostgreSQL's 0010 (see ../0010_menu_buttons.sql): the same table, the Telegram id as
-- bigint and the moment as timestamptz.
CREATE TABLE menu_buttons (
    telegram_id BIGINT PRIMARY KEY,
    url TEXT NOT NULL,
    set_at TIMESTAMPTZ NOT NULL
);
