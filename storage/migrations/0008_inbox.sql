-- The inbox of webhook mode: every update Telegram posts is stored here (raw JSON) and
-- committed before the webhook answers 200, so an instance that dies after answering
-- loses nothing. update_id is the key: a redelivery is a no-op.
--   user_key      the user (else the chat) the update is serialized on; NULL: neither,
--                 such updates need no order
--   body          the raw update; set to NULL once done (it may hold a respondent's
--                 typed answer, which must not outlive its processing)
--   claimed_by    the worker that took it ("host:pid:random"); claimed_until: when that
--                 claim lapses (ISO-8601 UTC text, like outbox leases), so an update
--                 claimed by a worker that died is taken again by another
--   attempts      how many times it was claimed (a poison update is given up on)
--   done_at       when its handler finished; NULL while pending. The update's effects
--                 are made exactly once by processed_updates, written in the same
--                 transaction as them; done_at releases the user's next update.
CREATE TABLE inbox (
    update_id     INTEGER PRIMARY KEY,
    user_key      INTEGER,
    body          TEXT,
    received_at   TEXT NOT NULL,
    claimed_by    TEXT,
    claimed_until TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    done_at       TEXT
);
-- Pending updates by user, oldest first: the claim takes the head of each user's queue.
CREATE INDEX inbox_pending ON inbox (user_key, update_id) WHERE done_at IS NULL;
-- Done rows are pruned after Telegram's redelivery window.
CREATE INDEX inbox_done ON inbox (done_at) WHERE done_at IS NOT NULL;
