-- 009: outbox ids are never reused (AUTOINCREMENT). With a plain INTEGER
-- PRIMARY KEY, a new row could take the id of one just deleted, and a
-- retirement or a recovery that still held the old id (retired rows are
-- deleted with the next write) could then take or delete the new row — a
-- Complete whose renames never happened. The crash harness found it. The
-- table is rebuilt, ids kept, so nothing pending is lost.
DROP VIEW pending_file_ops;
CREATE TABLE file_ops_new (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id      TEXT NOT NULL,
  kind        INTEGER NOT NULL CHECK (kind IN (1, 2, 3)),
  previous_state INTEGER,                        -- finalize: the state to go back to if its checks fail
  created_us  INTEGER NOT NULL,
  attempts    INTEGER NOT NULL DEFAULT 0,
  last_error  TEXT,
  url         TEXT,                              -- cancel-session: the upload URL
  session_id  TEXT                               -- cancel-session: BITS-Session-Id
);
INSERT INTO file_ops_new (id, job_id, kind, previous_state, created_us, attempts, last_error, url, session_id)
  SELECT id, job_id, kind, previous_state, created_us, attempts, last_error, url, session_id FROM file_ops;
DROP TABLE file_ops;
ALTER TABLE file_ops_new RENAME TO file_ops;

CREATE VIEW pending_file_ops AS
SELECT o.id, o.job_id,
       CASE o.kind WHEN 1 THEN 'delete-temp-files' WHEN 2 THEN 'rename-to-final'
                   WHEN 3 THEN 'cancel-session' END AS op,
       datetime(o.created_us / 1000000, 'unixepoch') AS created,
       o.attempts, o.last_error
FROM file_ops o;
