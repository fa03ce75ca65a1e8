-- PostgreSQL's 0014 (see ../0014_one_trip_starts.sql): the two writes of a buyer's /start,
-- each as one function called in one statement (in a Database.one_statement() block:
-- autocommit, the statement is the transaction). Each updates a row shared by every
-- /start of the product (its invite's use counter; the week's count of started
-- sessions), locked from the update until the commit: as statements of a transaction
-- it stays locked while the COMMIT makes its round trip through a busy event loop, and
-- each /start of the product waits for the one before. Here the commit follows the
-- update on the server.

-- storage.invites.use_invite: record the update as processed (storage.updates
-- .mark_processed) and count one use of the invite, unless its uses are used up (the
-- limit re-checked in the UPDATE, so two instances cannot both take the last use).
-- 'used' with the new count; 'duplicate' when the update was processed already
-- (nothing counted); 'used_up' with the update's mark taken back, as the rollback of a
-- transaction doing both would.
CREATE FUNCTION invite_use(
    p_update_id BIGINT,
    p_now TIMESTAMPTZ,
    p_invite_id BIGINT,
    OUT outcome TEXT,
    OUT new_uses INTEGER
) LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO processed_updates (update_id, processed_at) VALUES (p_update_id, p_now)
    ON CONFLICT (update_id) DO NOTHING;
    IF NOT FOUND THEN
        outcome := 'duplicate';
        RETURN;
    END IF;
    UPDATE invites SET uses = uses + 1
    WHERE id = p_invite_id AND (max_uses IS NULL OR uses < max_uses)
    RETURNING uses INTO new_uses;
    IF FOUND THEN
        outcome := 'used';
        RETURN;
    END IF;
    DELETE FROM processed_updates WHERE update_id = p_update_id;
    outcome := 'used_up';
END
$$;

-- storage.sessions.start_session: insert the respondent's active session unless they
-- have one (the partial unique index sessions_one_active decides), and count it on its
-- subject's row of the week in session_counts. Returns the new session's row, or none
-- when the respondent already had an active session.
CREATE FUNCTION session_start(
    p_respondent_id BIGINT,
    p_chat_id BIGINT,
    p_survey_id TEXT,
    p_survey_version INTEGER,
    p_subject_id BIGINT,
    p_audience TEXT,
    p_role TEXT,
    p_state_json TEXT,
    p_now TIMESTAMPTZ,
    p_week_key TEXT
) RETURNS SETOF sessions LANGUAGE plpgsql AS $$
DECLARE
    started sessions;
BEGIN
    INSERT INTO sessions (respondent_id, chat_id, survey_id, survey_version, subject_id,
        audience, role, state_json, status, started_at, updated_at, message_id,
        reminded_at, week_key, prompt_pending)
    VALUES (p_respondent_id, p_chat_id, p_survey_id, p_survey_version, p_subject_id,
        p_audience, p_role, p_state_json, 'active', p_now, p_now, NULL, NULL, p_week_key,
        TRUE)
    ON CONFLICT (respondent_id) WHERE status = 'active' DO NOTHING
    RETURNING * INTO started;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    INSERT INTO session_counts (subject_id, week_key, started, completed)
    VALUES (p_subject_id, p_week_key, 1, 0)
    ON CONFLICT (subject_id, week_key) DO UPDATE SET started = session_counts.started + 1;
    RETURN NEXT started;
END
$$;
