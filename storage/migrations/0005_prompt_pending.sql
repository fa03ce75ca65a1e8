-- Whether an active session's current question may not have reached its respondent:
-- set in the same transaction as each answer (and at the start), cleared once the
-- question was sent. A bot killed in between, or a send Telegram kept failing, leaves it
-- set, and the question is sent again at start-up or at the respondent's next action.
ALTER TABLE sessions ADD COLUMN prompt_pending BOOLEAN NOT NULL DEFAULT FALSE;
