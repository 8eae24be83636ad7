-- 007: credentials per job (Job::set_credentials, bitsadmin /SetCredentials):
-- for the server (target 0) or the proxy (1), by scheme (0 Basic, 1 Digest,
-- 2 Bearer: password holds the token). Stored here, in the queue file, which
-- is 0600; never shown by a view, the CLI or an error text. Deleted with the
-- job's row.
CREATE TABLE credentials (
  job_id     TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  target     INTEGER NOT NULL CHECK (target IN (0, 1)),
  scheme     INTEGER NOT NULL CHECK (scheme IN (0, 1, 2)),
  user_name  TEXT NOT NULL,
  password   TEXT NOT NULL,
  PRIMARY KEY (job_id, target, scheme)
) WITHOUT ROWID;
