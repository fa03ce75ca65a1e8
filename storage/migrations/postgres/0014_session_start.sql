-- PostgreSQL's 0014 (see ../0014_session_start.sql): storage.sessions.start_session as one
-- function called in one statement (in a Database.one_statement() block: autocommit, the
-- statement is the transaction). Insert the respondent's active session unless they have
-- one (the partial unique index sessions_one_active decides), and count it on its
-- subject's row of the week in session_counts. That row is shared by every session of
-- the subject and week, and locked from the count until the commit: as separate
-- statements of a transaction it stays locked while the COMMIT makes its round trip
-- through a busy event loop, and each /start of the product waits for the one before.
-- Here the commit follows the count on the server. Returns the new session's row, or
-- none when the respondent already had an active session.
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
