-- 002_retry_index.sql — the worker's timers read only TRANSIENT_ERROR jobs.
--
-- Without it, after ANALYZE (or PRAGMA optimize from the shell) the planner
-- may scan every job to find the few waiting for a retry.
CREATE INDEX jobs_retry_due ON jobs (retry_at_us) WHERE state = 5;
