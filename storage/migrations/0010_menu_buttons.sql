-- Which dashboard URL each chat's menu button was last set to, so that start-up sets it
-- only for owners and admins who do not have it yet (or have an older public URL), and
-- gives the default button back to a chat that no longer may open the dashboard.
CREATE TABLE menu_buttons (
    telegram_id INTEGER PRIMARY KEY,
    url TEXT NOT NULL,
    set_at TEXT NOT NULL
);
