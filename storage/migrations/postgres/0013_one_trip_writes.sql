-- PostgreSQL's 0013 (see ../0013_one_trip_writes.sql): the writes made on every update,
-- each as one function called in one statement outside any transaction (autocommit:
-- the statement is the transaction). Without them each is BEGIN, two to four
-- statements and COMMIT, a round trip each, and under load the trips, not the
-- statements, are most of the cost (bench/burst). Each statement of a plpgsql function
-- takes a fresh snapshot (READ COMMITTED), so a lock taken first is honoured by the
-- reads after it, as in a transaction of separate statements.

-- storage.inbox.accept: hold the user's queue lock (storage.locks; class and key given by
-- the caller, NULL for an update of no user), store the update (a redelivery is a
-- no-op), and when it was stored and `p_claim`, claim it for `p_worker` if it heads its
-- user's queue: the condition is storage.inbox._CLAIMABLE, kept the same there.
-- Returns whether it was stored, and the claim's attempts (NULL: not claimed).
CREATE FUNCTION inbox_accept(
    p_update_id BIGINT,
    p_user_key BIGINT,
    p_body TEXT,
    p_now TIMESTAMPTZ,
    p_lock_class INTEGER,
    p_lock_key INTEGER,
    p_claim BOOLEAN,
    p_worker TEXT,
    p_until TIMESTAMPTZ,
    OUT was_stored BOOLEAN,
    OUT claim_attempts INTEGER
) LANGUAGE plpgsql AS $$
BEGIN
    IF p_user_key IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(p_lock_class, p_lock_key);
    END IF;
    INSERT INTO inbox (update_id, user_key, body, received_at)
    VALUES (p_update_id, p_user_key, p_body, p_now)
    ON CONFLICT (update_id) DO NOTHING;
    was_stored := FOUND;
    IF was_stored AND p_claim THEN
        UPDATE inbox AS i
        SET claimed_by = p_worker, claimed_until = p_until, attempts = i.attempts + 1
        WHERE i.update_id = p_update_id
            AND i.done_at IS NULL
            AND (i.claimed_until IS NULL OR i.claimed_until < p_now)
            AND (i.user_key IS NULL OR NOT EXISTS (
                SELECT 1 FROM inbox AS e WHERE e.user_key = i.user_key AND e.done_at IS NULL
                    AND (e.update_id < i.update_id
                        OR (e.update_id > i.update_id AND e.claimed_until >= p_now))))
        RETURNING i.attempts INTO claim_attempts;
    END IF;
END
$$;

-- storage.sessions.save_answer: record the update as processed (storage.updates
-- .mark_processed; 'duplicate' when it already was, changing nothing) and save the
-- session's new state (storage.sessions.save_state). 'saved', or, when the session is
-- not active, its status ('gone' once deleted) with the update's mark taken back, as
-- the rollback of a transaction doing both would.
CREATE FUNCTION session_answer(
    p_update_id BIGINT,
    p_now TIMESTAMPTZ,
    p_session_id BIGINT,
    p_state_json TEXT,
    p_prompt_pending BOOLEAN
) RETURNS TEXT LANGUAGE plpgsql AS $$
DECLARE
    ended TEXT;
BEGIN
    IF p_update_id IS NOT NULL THEN
        INSERT INTO processed_updates (update_id, processed_at) VALUES (p_update_id, p_now)
        ON CONFLICT (update_id) DO NOTHING;
        IF NOT FOUND THEN
            RETURN 'duplicate';
        END IF;
    END IF;
    UPDATE sessions
    SET state_json = p_state_json, updated_at = p_now, prompt_pending = p_prompt_pending
    WHERE id = p_session_id AND status = 'active';
    IF FOUND THEN
        RETURN 'saved';
    END IF;
    IF p_update_id IS NOT NULL THEN
        DELETE FROM processed_updates WHERE update_id = p_update_id;
    END IF;
    SELECT status INTO ended FROM sessions WHERE id = p_session_id;
    RETURN coalesce(ended, 'gone');
END
$$;

-- storage.locks.lock_key in SQL: a bigint folded into the signed 32-bit second key of an
-- advisory lock (the same value as the Python function, which a test checks).
CREATE FUNCTION inbox_lock_key(p_key BIGINT) RETURNS INTEGER
LANGUAGE sql IMMUTABLE AS $$
    SELECT (CASE WHEN f >= 2147483648 THEN f - 4294967296 ELSE f END)::INTEGER
    FROM (SELECT (p_key # (p_key >> 32)) & 4294967295 AS f) AS folded
$$;

-- storage.inbox.claim: the claim round of a worker, its steps as in the transaction it
-- replaces (see there why): up to `p_limit` candidates in update-id order, the queue
-- lock of each of their users tried (users another instance is deciding right now are
-- skipped), then those of users held claimed with a fresh snapshot, FOR UPDATE SKIP
-- LOCKED, the condition of storage.inbox._CLAIMABLE (kept the same there) checked
-- again. One round trip instead of five.
CREATE FUNCTION inbox_claim(
    p_worker TEXT,
    p_now TIMESTAMPTZ,
    p_until TIMESTAMPTZ,
    p_limit INTEGER,
    p_lock_class INTEGER
) RETURNS TABLE (claimed_id BIGINT, claimed_body TEXT, claimed_attempts INTEGER)
LANGUAGE plpgsql AS $$
DECLARE
    ids BIGINT[];
    users BIGINT[];
    held BIGINT[];
    chosen BIGINT[];
BEGIN
    SELECT array_agg(c.update_id ORDER BY c.update_id), array_agg(c.user_key ORDER BY c.update_id)
    INTO ids, users
    FROM (
        SELECT i.update_id, i.user_key FROM inbox AS i
        WHERE i.done_at IS NULL
            AND (i.claimed_until IS NULL OR i.claimed_until < p_now)
            AND (i.user_key IS NULL OR NOT EXISTS (
                SELECT 1 FROM inbox AS e WHERE e.user_key = i.user_key AND e.done_at IS NULL
                    AND (e.update_id < i.update_id
                        OR (e.update_id > i.update_id AND e.claimed_until >= p_now))))
        ORDER BY i.update_id LIMIT p_limit
    ) AS c;
    IF ids IS NULL THEN
        RETURN;
    END IF;
    SELECT array_agg(u.k) INTO held
    FROM (SELECT DISTINCT k FROM unnest(users) AS k WHERE k IS NOT NULL ORDER BY k) AS u
    WHERE pg_try_advisory_xact_lock(p_lock_class, inbox_lock_key(u.k));
    SELECT array_agg(c.id) INTO chosen
    FROM unnest(ids, users) AS c(id, k)
    WHERE c.k IS NULL OR c.k = ANY(coalesce(held, '{}'));
    IF chosen IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY
    UPDATE inbox AS i
    SET claimed_by = p_worker, claimed_until = p_until, attempts = i.attempts + 1
    WHERE i.update_id IN (
        SELECT x.update_id FROM inbox AS x
        WHERE x.update_id = ANY(chosen)
            AND x.done_at IS NULL
            AND (x.claimed_until IS NULL OR x.claimed_until < p_now)
            AND (x.user_key IS NULL OR NOT EXISTS (
                SELECT 1 FROM inbox AS e WHERE e.user_key = x.user_key AND e.done_at IS NULL
                    AND (e.update_id < x.update_id
                        OR (e.update_id > x.update_id AND e.claimed_until >= p_now))))
        FOR UPDATE SKIP LOCKED)
    RETURNING i.update_id, i.body, i.attempts;
END
$$;
