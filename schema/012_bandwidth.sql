-- 012: bandwidth limits (xferq/bandwidth.h). Queue-wide values live in the
-- queue file so that every process (the `xferq` command included) sees and
-- changes the same ones; the serving worker re-reads them when another
-- connection commits.
--
-- bandwidth_settings: one row per setting that was set; a missing
-- 'queue_limit' row means "never set" (the worker's
-- QueueOptions::bandwidth_limit applies). Names: 'queue_limit',
-- 'priority_limit.0' .. 'priority_limit.3' (by JobPriority). Bytes per
-- second; 0: none.
CREATE TABLE bandwidth_settings (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL CHECK (value >= 0)
) WITHOUT ROWID;

-- The schedule: windows in order (the first covering the current local hour
-- wins). days: bit N = tm_wday N (0 = Sunday); hours [start_hour, end_hour).
CREATE TABLE bandwidth_schedule (
  position      INTEGER PRIMARY KEY,
  days          INTEGER NOT NULL CHECK (days BETWEEN 1 AND 127),
  start_hour    INTEGER NOT NULL CHECK (start_hour BETWEEN 0 AND 23),
  end_hour      INTEGER NOT NULL CHECK (end_hour BETWEEN 1 AND 24 AND end_hour > start_hour),
  bytes_per_sec INTEGER NOT NULL CHECK (bytes_per_sec >= 0)
);

-- A job's own limit (Job::set_bandwidth_limit); 0: none.
ALTER TABLE jobs ADD COLUMN bandwidth_limit INTEGER NOT NULL DEFAULT 0;
