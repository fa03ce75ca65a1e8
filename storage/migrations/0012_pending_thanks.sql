-- A survey's thank-you not sent yet (issue 13): the update that completed a survey writes
-- a row here in the transaction that stores the response, and the row goes once the
-- thank-you was sent. A process killed in between leaves it, and the redelivery of that
-- update (polling after a restart, the inbox after a lapsed claim) finds the update
-- processed, finds the row, and sends the thank-you then: the last answer is never left
-- without one.
--   update_id       the Telegram update that completed the survey; the chat to thank is
--                   the one that update came from, so the row itself names nobody
--   subject_id      what the survey was about, survey_id/survey_version which survey:
--                   what the thank-you says
--   created_at      when (ISO-8601 UTC text); rows left over are pruned with the
--                   processed update ids, after two days
-- No response id, no chat, no respondent: the row cannot link anyone to an answer.
CREATE TABLE pending_thanks (
    update_id      INTEGER PRIMARY KEY,
    subject_id     INTEGER NOT NULL,
    survey_id      TEXT NOT NULL,
    survey_version INTEGER NOT NULL,
    created_at     TEXT NOT NULL
);
CREATE INDEX pending_thanks_created_at ON pending_thanks (created_at);
