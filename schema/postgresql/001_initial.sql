-- 001_initial.sql — the PostgreSQL queue: the same tables, columns and
-- meanings as the SQLite schema after its migration 015 (schema/001..015),
-- in PostgreSQL's types, plus what a fleet of hosts sharing the queue needs
-- (issue 15): hosts, the host that holds a job and until when, and the host
-- whose files an outbox row touches.
--
-- Numbers are BITS's: state is BG_JOB_STATE (QUEUED 0 … CANCELLED 8), priority
-- BG_JOB_PRIORITY (FOREGROUND 0 … LOW 3), type BG_JOB_TYPE, error_context
-- BG_ERROR_CONTEXT. Times are microseconds since the Unix epoch (UTC), as
-- BIGINT, so that the engine's arithmetic is the SQLite backend's.
-- Applied in one transaction by PgStore's migration runner, which records
-- the version in xferq_schema (created by the runner itself).

-- The workers that use the queue, one row per host identity. last_seen_us is
-- renewed with the host's leases; a host whose leases expired lost its jobs.
CREATE TABLE hosts (
  host_id       TEXT PRIMARY KEY,
  hostname      TEXT NOT NULL DEFAULT '',
  started_us    BIGINT NOT NULL,
  last_seen_us  BIGINT NOT NULL
);

CREATE TABLE jobs (
  id                    TEXT PRIMARY KEY,          -- GUID "{XXXXXXXX-…}", upper case
  type                  INTEGER NOT NULL DEFAULT 0 CHECK (type BETWEEN 0 AND 2),
  state                 INTEGER NOT NULL DEFAULT 3 CHECK (state BETWEEN 0 AND 8),
  priority              INTEGER NOT NULL DEFAULT 2 CHECK (priority BETWEEN 0 AND 3),
  display_name          TEXT NOT NULL,
  description           TEXT NOT NULL DEFAULT '',
  owner                 TEXT NOT NULL DEFAULT '',
  created_us            BIGINT NOT NULL,
  modified_us           BIGINT NOT NULL,
  transferred_us        BIGINT,                    -- when the job reached TRANSFERRED
  error_hresult         BIGINT,                    -- last error (NULL: none)
  error_context         INTEGER NOT NULL DEFAULT 0,
  error_description     TEXT,
  error_file            BIGINT,
  error_count           BIGINT NOT NULL DEFAULT 0,
  retry_delay_s         BIGINT NOT NULL DEFAULT 600,
  no_progress_timeout_s BIGINT NOT NULL DEFAULT 1209600,
  retry_at_us           BIGINT,                    -- TRANSIENT_ERROR: when to queue again
  no_progress_since_us  BIGINT,                    -- first transient error since the last progress
  queued_seq            BIGINT NOT NULL DEFAULT 0, -- round robin within a priority: larger = later
  -- Insertion order, for listings in creation order (SQLite's rowid).
  seq                   BIGINT GENERATED ALWAYS AS IDENTITY,
  generation            BIGINT NOT NULL DEFAULT 0, -- bumped on every state change
  -- Uploads (SQLite 004).
  upload_session_id     TEXT,
  reply_url             TEXT,
  reply_file_name       TEXT,
  -- HTTP options (SQLite 005, 006, 008, 010).
  custom_headers        TEXT,
  security_flags        BIGINT NOT NULL DEFAULT 0,
  proxy_usage           INTEGER NOT NULL DEFAULT 0,
  proxy_list            TEXT,
  proxy_bypass          TEXT,
  tls_ca_bundle         TEXT,
  tls_ca_directory      TEXT,
  tls_client_cert       TEXT,
  tls_client_key        TEXT,
  tls_key_password      TEXT,                      -- a secret: never in a view
  -- Limits (SQLite 010, 012).
  max_download_size     BIGINT NOT NULL DEFAULT 0,
  max_download_time_s   BIGINT NOT NULL DEFAULT 7776000,
  download_time_us      BIGINT NOT NULL DEFAULT 0,
  running_since_us      BIGINT,
  bandwidth_limit       BIGINT NOT NULL DEFAULT 0,
  -- The notify command line (SQLite 013): arguments each followed by a NUL.
  notify_program        TEXT NOT NULL DEFAULT '',
  notify_args           BYTEA NOT NULL DEFAULT ''::bytea,
  -- The fleet: the host that claimed the job (its temp files live there) and
  -- until when its lease holds. NULL: no host holds it.
  owner_host            TEXT REFERENCES hosts (host_id),
  lease_expires_us      BIGINT
);

-- The worker's pick (SQLite 003): runnable jobs by priority, then queue order;
-- running jobs (recovery, and lease expiry for the fleet).
CREATE INDEX jobs_queued ON jobs (priority, queued_seq) WHERE state = 0;
CREATE INDEX jobs_running ON jobs (lease_expires_us) WHERE state IN (1, 2);
CREATE INDEX jobs_retry_due ON jobs (retry_at_us) WHERE state = 5;
CREATE INDEX jobs_by_seq ON jobs (seq);

CREATE TABLE files (
  job_id              TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  idx                 BIGINT NOT NULL,             -- 0-based, in the order added
  remote_url          TEXT NOT NULL,
  local_path          TEXT NOT NULL,
  temp_path           TEXT,                        -- recorded before the file is created
  bytes_total         BIGINT NOT NULL DEFAULT -1,  -- -1: not known yet
  bytes_transferred   BIGINT NOT NULL DEFAULT 0,   -- never more than the temp file holds
  etag                TEXT,
  last_modified       TEXT,
  completed           BOOLEAN NOT NULL DEFAULT false, -- every byte is in the temp file
  final_url           TEXT,                        -- redacted (SQLite 006)
  http_status         INTEGER,                     -- the last response (SQLite 010)
  content_type        TEXT,
  content_disposition TEXT,
  expected_size       BIGINT,                      -- integrity (SQLite 011); NULL: unchecked
  expected_sha256     TEXT,
  expected_sha512     TEXT,
  ranges              TEXT,                        -- "OFFSET:LENGTH,..." (SQLite 014); NULL: whole file
  PRIMARY KEY (job_id, idx)
);

-- One local path may be the target of one active job only.
CREATE INDEX files_by_local_path ON files (local_path);

-- The outbox (SQLite 001, 004, 009): effects a committed transaction decided.
-- kind 1 = delete the job's temp files (cancel), 2 = rename finished temp
-- files to their final paths (complete), 3 = send Cancel-Session. Ids are
-- never reused (an identity column). host: the host whose files the row
-- touches (the job's owner_host when it was written; NULL: whichever host
-- applies it, as with one host).
CREATE TABLE file_ops (
  id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job_id         TEXT NOT NULL,
  kind           INTEGER NOT NULL CHECK (kind IN (1, 2, 3)),
  previous_state INTEGER,                        -- finalize: the state to go back to if its checks fail
  created_us     BIGINT NOT NULL,
  attempts       BIGINT NOT NULL DEFAULT 0,
  last_error     TEXT,
  url            TEXT,                           -- cancel-session: the upload URL
  session_id     TEXT,                           -- cancel-session: BITS-Session-Id
  host           TEXT REFERENCES hosts (host_id)
);
CREATE INDEX file_ops_by_host ON file_ops (host, id);

-- Credentials (SQLite 007): secrets, never shown by a view.
CREATE TABLE credentials (
  job_id     TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  target     INTEGER NOT NULL CHECK (target IN (0, 1)),
  scheme     INTEGER NOT NULL CHECK (scheme IN (0, 1, 2)),
  user_name  TEXT NOT NULL,
  password   TEXT NOT NULL,
  PRIMARY KEY (job_id, target, scheme)
);

-- Bandwidth (SQLite 012).
CREATE TABLE bandwidth_settings (
  name  TEXT PRIMARY KEY,
  value BIGINT NOT NULL CHECK (value >= 0)
);
CREATE TABLE bandwidth_schedule (
  position      BIGINT PRIMARY KEY,
  days          INTEGER NOT NULL CHECK (days BETWEEN 1 AND 127),
  start_hour    INTEGER NOT NULL CHECK (start_hour BETWEEN 0 AND 23),
  end_hour      INTEGER NOT NULL CHECK (end_hour BETWEEN 1 AND 24 AND end_hour > start_hour),
  bytes_per_sec BIGINT NOT NULL CHECK (bytes_per_sec >= 0)
);

-- Names for people at the psql prompt.
CREATE TABLE state_names (state INTEGER PRIMARY KEY, name TEXT NOT NULL);
INSERT INTO state_names VALUES (0,'QUEUED'),(1,'CONNECTING'),(2,'TRANSFERRING'),(3,'SUSPENDED'),
  (4,'ERROR'),(5,'TRANSIENT_ERROR'),(6,'TRANSFERRED'),(7,'ACKNOWLEDGED'),(8,'CANCELLED');
CREATE TABLE priority_names (priority INTEGER PRIMARY KEY, name TEXT NOT NULL);
INSERT INTO priority_names VALUES (0,'FOREGROUND'),(1,'HIGH'),(2,'NORMAL'),(3,'LOW');

-- One line per job with names, files and bytes done, percent, and its host.
CREATE VIEW job_summary AS
SELECT j.id,
       j.display_name,
       s.name AS state,
       p.name AS priority,
       f.files_done,
       f.files_total,
       f.bytes_done,
       CASE WHEN f.any_unknown THEN NULL ELSE f.bytes_total END AS bytes_total,
       CASE WHEN f.any_unknown OR f.bytes_total = 0 THEN NULL
            ELSE round(100.0 * f.bytes_done / f.bytes_total, 1) END AS percent,
       j.error_count,
       '0x' || upper(lpad(to_hex(j.error_hresult & 4294967295), 8, '0')) AS last_error,
       to_timestamp(j.created_us / 1000000.0) AS created,
       to_timestamp(j.modified_us / 1000000.0) AS modified,
       j.owner_host AS host
FROM jobs j
JOIN state_names s ON s.state = j.state
JOIN priority_names p ON p.priority = j.priority
CROSS JOIN LATERAL (
  SELECT count(*) FILTER (WHERE completed) AS files_done,
         count(*) AS files_total,
         coalesce(sum(bytes_transferred), 0) AS bytes_done,
         coalesce(sum(bytes_total), 0) AS bytes_total,
         coalesce(bool_or(bytes_total < 0), false) AS any_unknown
  FROM files WHERE job_id = j.id) f;

-- Jobs that are not final (what `xferq list` shows).
CREATE VIEW active_jobs AS
SELECT * FROM job_summary WHERE state NOT IN ('ACKNOWLEDGED', 'CANCELLED');

-- File operations decided but not yet carried out, and on which host.
CREATE VIEW pending_file_ops AS
SELECT o.id, o.job_id,
       CASE o.kind WHEN 1 THEN 'delete-temp-files' WHEN 2 THEN 'rename-to-final'
                   WHEN 3 THEN 'cancel-session' END AS op,
       to_timestamp(o.created_us / 1000000.0) AS created,
       o.attempts, o.last_error, o.host
FROM file_ops o;

-- What each file's server last answered (remote URL left out: it may carry
-- credentials; final_url is redacted).
CREATE VIEW file_responses AS
SELECT f.job_id, f.idx, f.local_path, f.http_status, f.final_url, f.etag, f.last_modified,
       f.content_type, f.content_disposition
FROM files f;

-- Every commit that changes jobs, the outbox or the bandwidth settings
-- notifies channel xferq_changes (delivered at commit, never for a rollback):
-- what a worker's change_counter() counts to notice another process's or
-- another host's calls, as SQLite's data_version does for one file.
CREATE FUNCTION xferq_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('xferq_changes', '');
  RETURN NULL;
END
$$;
CREATE TRIGGER jobs_changed AFTER INSERT OR UPDATE OR DELETE ON jobs
  FOR EACH STATEMENT EXECUTE FUNCTION xferq_notify_change();
CREATE TRIGGER file_ops_changed AFTER INSERT OR UPDATE OR DELETE ON file_ops
  FOR EACH STATEMENT EXECUTE FUNCTION xferq_notify_change();
CREATE TRIGGER bandwidth_settings_changed AFTER INSERT OR UPDATE OR DELETE ON bandwidth_settings
  FOR EACH STATEMENT EXECUTE FUNCTION xferq_notify_change();
CREATE TRIGGER bandwidth_schedule_changed AFTER INSERT OR UPDATE OR DELETE ON bandwidth_schedule
  FOR EACH STATEMENT EXECUTE FUNCTION xferq_notify_change();
