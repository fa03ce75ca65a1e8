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
