-- 003_partial_state_indexes.sql — index only the states the engine looks up.
--
-- jobs_by_state indexed every job by state, so every state change (a cancel
-- of a SUSPENDED job, say) rewrote index pages as well as the row. The worker
-- only ever looks for QUEUED jobs (by priority, then queue order) and, after
-- a crash, for CONNECTING / TRANSFERRING ones: partial indexes hold just
-- those, and a change between other states touches no index at all.
DROP INDEX jobs_by_state;
CREATE INDEX jobs_queued ON jobs (priority, queued_seq) WHERE state = 0;
CREATE INDEX jobs_running ON jobs (state) WHERE state IN (1, 2);
