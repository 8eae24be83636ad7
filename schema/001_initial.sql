-- 001_initial.sql — the queue: jobs, their files, and the outbox of file operations.
--
-- Numbers are BITS's: state is BG_JOB_STATE (QUEUED 0 … CANCELLED 8), priority
-- BG_JOB_PRIORITY (FOREGROUND 0 … LOW 3), type BG_JOB_TYPE, error_context
-- BG_ERROR_CONTEXT. Times are microseconds since the Unix epoch (UTC).

CREATE TABLE jobs (
  id                    TEXT PRIMARY KEY,          -- GUID "{XXXXXXXX-…}", upper case
  type                  INTEGER NOT NULL DEFAULT 0 CHECK (type BETWEEN 0 AND 2),
  state                 INTEGER NOT NULL DEFAULT 3 CHECK (state BETWEEN 0 AND 8),
  priority              INTEGER NOT NULL DEFAULT 2 CHECK (priority BETWEEN 0 AND 3),
  display_name          TEXT NOT NULL,
  description           TEXT NOT NULL DEFAULT '',
  owner                 TEXT NOT NULL DEFAULT '',
  created_us            INTEGER NOT NULL,
  modified_us           INTEGER NOT NULL,
  transferred_us        INTEGER,                   -- when the job reached TRANSFERRED
  error_hresult         INTEGER,                   -- last error (NULL: none)
  error_context         INTEGER NOT NULL DEFAULT 0,
  error_description     TEXT,
  error_file            INTEGER,
  error_count           INTEGER NOT NULL DEFAULT 0,
  retry_delay_s         INTEGER NOT NULL DEFAULT 600,
  no_progress_timeout_s INTEGER NOT NULL DEFAULT 1209600,
  retry_at_us           INTEGER,                   -- TRANSIENT_ERROR: when to queue again
  no_progress_since_us  INTEGER,                   -- first transient error since the last progress
  queued_seq            INTEGER NOT NULL DEFAULT 0, -- round robin within a priority: larger = later
  generation            INTEGER NOT NULL DEFAULT 0  -- bumped on every state change
);

-- The worker's pick: runnable jobs by priority, then by the order they were queued.
CREATE INDEX jobs_by_state ON jobs (state, priority, queued_seq);

CREATE TABLE files (
  job_id            TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  idx               INTEGER NOT NULL,              -- 0-based, in the order added
  remote_url        TEXT NOT NULL,
  local_path        TEXT NOT NULL,
  temp_path         TEXT,                          -- recorded before the file is created
  bytes_total       INTEGER NOT NULL DEFAULT -1,   -- -1: not known yet
  bytes_transferred INTEGER NOT NULL DEFAULT 0,    -- never more than the temp file holds
  etag              TEXT,
  last_modified     TEXT,
  completed         INTEGER NOT NULL DEFAULT 0,    -- every byte is in the temp file (1)
  PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;

-- One local path may be the target of one active job only.
CREATE INDEX files_by_local_path ON files (local_path);

-- The outbox: filesystem effects a committed transaction decided and that have
-- not happened yet. Applied idempotently, then removed; leftovers are applied
-- on the next open. kind: 1 = delete every temp file of the job (cancel),
-- 2 = rename finished temp files to their final paths and delete the others
-- (complete).
CREATE TABLE file_ops (
  id          INTEGER PRIMARY KEY,
  job_id      TEXT NOT NULL,
  kind        INTEGER NOT NULL CHECK (kind IN (1, 2)),
  previous_state INTEGER,                        -- finalize: the state to go back to if a rename fails
  created_us  INTEGER NOT NULL,
  attempts    INTEGER NOT NULL DEFAULT 0,
  last_error  TEXT
);

-- Names for people at the sqlite3 shell.
CREATE TABLE state_names (state INTEGER PRIMARY KEY, name TEXT NOT NULL);
INSERT INTO state_names VALUES (0,'QUEUED'),(1,'CONNECTING'),(2,'TRANSFERRING'),(3,'SUSPENDED'),
  (4,'ERROR'),(5,'TRANSIENT_ERROR'),(6,'TRANSFERRED'),(7,'ACKNOWLEDGED'),(8,'CANCELLED');
CREATE TABLE priority_names (priority INTEGER PRIMARY KEY, name TEXT NOT NULL);
INSERT INTO priority_names VALUES (0,'FOREGROUND'),(1,'HIGH'),(2,'NORMAL'),(3,'LOW');

-- One line per job with names, files and bytes done, percent.
CREATE VIEW job_summary AS
SELECT j.id,
       j.display_name,
       s.name AS state,
       p.name AS priority,
       (SELECT count(*) FROM files f WHERE f.job_id = j.id AND f.completed) AS files_done,
       (SELECT count(*) FROM files f WHERE f.job_id = j.id) AS files_total,
       (SELECT coalesce(sum(f.bytes_transferred), 0) FROM files f WHERE f.job_id = j.id) AS bytes_done,
       CASE WHEN EXISTS (SELECT 1 FROM files f WHERE f.job_id = j.id AND f.bytes_total < 0) THEN NULL
            ELSE (SELECT coalesce(sum(f.bytes_total), 0) FROM files f WHERE f.job_id = j.id) END AS bytes_total,
       CASE WHEN EXISTS (SELECT 1 FROM files f WHERE f.job_id = j.id AND f.bytes_total < 0) THEN NULL
            WHEN (SELECT coalesce(sum(f.bytes_total), 0) FROM files f WHERE f.job_id = j.id) = 0 THEN NULL
            ELSE round(100.0 * (SELECT sum(f.bytes_transferred) FROM files f WHERE f.job_id = j.id)
                       / (SELECT sum(f.bytes_total) FROM files f WHERE f.job_id = j.id), 1) END AS percent,
       j.error_count,
       printf('0x%08X', j.error_hresult & 0xFFFFFFFF) AS last_error,
       datetime(j.created_us / 1000000, 'unixepoch') AS created,
       datetime(j.modified_us / 1000000, 'unixepoch') AS modified
FROM jobs j
JOIN state_names s ON s.state = j.state
JOIN priority_names p ON p.priority = j.priority;

-- Jobs that are not final (what `xferq list` shows).
CREATE VIEW active_jobs AS
SELECT * FROM job_summary WHERE state NOT IN ('ACKNOWLEDGED', 'CANCELLED');

-- File operations decided but not yet carried out.
CREATE VIEW pending_file_ops AS
SELECT o.id, o.job_id,
       CASE o.kind WHEN 1 THEN 'delete-temp-files' WHEN 2 THEN 'rename-to-final' END AS op,
       datetime(o.created_us / 1000000, 'unixepoch') AS created,
       o.attempts, o.last_error
FROM file_ops o;
