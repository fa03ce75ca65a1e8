-- The digest's completion rate follows one cohort (issue 11): of the sessions started in
-- a week, how many completed. `completed` is counted on the row of the session's START
-- week when it completes (storage.sessions.complete_session), with no identity, as
-- `started` is. Rows that exist now get NULL: which of their sessions completed is not
-- known any more (ended sessions were deleted by 0003), and a digest shows no completion
-- rate for such a week rather than a wrong one. Rows made from now on start at 0.
ALTER TABLE session_counts ADD COLUMN completed INTEGER;
