-- 016: outbox ids are kept from ever repeating by a tombstone instead of
-- AUTOINCREMENT. AUTOINCREMENT rewrote its sqlite_sequence row on every
-- insert: a third page written by each cancel (the job's row, its outbox row,
-- the counter), where the floor writes one.
--
-- Without AUTOINCREMENT, SQLite hands out max(id) + 1; an id can repeat only
-- if the row holding the highest id is deleted. So that row is never deleted:
-- when its operation is done it becomes a tombstone (kind 0, no job), and the
-- next insert, which takes the id above it, deletes it (SqliteStore's
-- bury_ops_locked and clear_tombstone_locked). Invariant: a tombstone, if
-- there is one, holds the highest id. The table is rebuilt with its rows and
-- ids; AUTOINCREMENT's high-water mark, when no row holds it any more, is
-- carried over as a tombstone, so no id handed out before is handed out again.
DROP VIEW pending_file_ops;
CREATE TABLE file_ops_new (
  id          INTEGER PRIMARY KEY,
  job_id      TEXT NOT NULL,                     -- '' for a tombstone
  kind        INTEGER NOT NULL CHECK (kind BETWEEN 0 AND 3),  -- 0 tombstone, 1 delete temps, 2 finalize, 3 cancel-session
  previous_state INTEGER,                        -- finalize: the state to go back to if its checks fail
  created_us  INTEGER NOT NULL,
  attempts    INTEGER NOT NULL DEFAULT 0,
  last_error  TEXT,
  url         TEXT,                              -- cancel-session: the upload URL
  session_id  TEXT                               -- cancel-session: BITS-Session-Id
);
INSERT INTO file_ops_new (id, job_id, kind, previous_state, created_us, attempts, last_error, url, session_id)
  SELECT id, job_id, kind, previous_state, created_us, attempts, last_error, url, session_id FROM file_ops;
INSERT INTO file_ops_new (id, job_id, kind, created_us)
  SELECT seq, '', 0, 0 FROM sqlite_sequence
  WHERE name = 'file_ops' AND seq > (SELECT coalesce(max(id), 0) FROM file_ops);
DROP TABLE file_ops;
ALTER TABLE file_ops_new RENAME TO file_ops;

-- Tombstones are bookkeeping, not operations: the view leaves them out.
CREATE VIEW pending_file_ops AS
SELECT o.id, o.job_id,
       CASE o.kind WHEN 1 THEN 'delete-temp-files' WHEN 2 THEN 'rename-to-final'
                   WHEN 3 THEN 'cancel-session' END AS op,
       datetime(o.created_us / 1000000, 'unixepoch') AS created,
       o.attempts, o.last_error
FROM file_ops o
WHERE o.kind != 0;
