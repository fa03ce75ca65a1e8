-- Leases on outbox items. A sender claims an item (claimed_by: the process, e.g.
-- "host:pid:random"; claimed_until: when the claim lapses, ISO-8601 UTC text) before
-- sending it, and the claim is released when the item is marked sent, retried or
-- failed. So the bot and `feedbot digest send`, sharing the database, never send the
-- same item at once, and an item claimed by a process that died is taken again once
-- its lease runs out. Two statements: SQLite adds one column per ALTER TABLE.
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE outbox ADD COLUMN claimed_until TEXT;
