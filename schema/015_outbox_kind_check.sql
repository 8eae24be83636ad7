-- 015: the outbox's kind is checked with BETWEEN instead of IN (...). SQLite
-- evaluates a CHECK's IN list through an ephemeral b-tree that it creates,
-- zeroes and drops on every INSERT: a third of the instructions a cancel ran,
-- for a check that BETWEEN makes as well. The table is rebuilt with its
-- rows and ids, and AUTOINCREMENT's high-water mark carries over, so no
-- outbox id is ever handed out twice (see 009).
DROP VIEW pending_file_ops;
CREATE TABLE file_ops_new (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id      TEXT NOT NULL,
  kind        INTEGER NOT NULL CHECK (kind BETWEEN 1 AND 3),  -- 1 delete temps, 2 finalize, 3 cancel-session
  previous_state INTEGER,                        -- finalize: the state to go back to if its checks fail
  created_us  INTEGER NOT NULL,
  attempts    INTEGER NOT NULL DEFAULT 0,
  last_error  TEXT,
  url         TEXT,                              -- cancel-session: the upload URL
  session_id  TEXT                               -- cancel-session: BITS-Session-Id
);
INSERT INTO file_ops_new (id, job_id, kind, previous_state, created_us, attempts, last_error, url, session_id)
  SELECT id, job_id, kind, previous_state, created_us, attempts, last_error, url, session_id FROM file_ops;
UPDATE sqlite_sequence SET seq = max(seq, (SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'file_ops'))
  WHERE name = 'file_ops_new';
INSERT INTO sqlite_sequence (name, seq)
  SELECT 'file_ops_new', seq FROM sqlite_sequence
  WHERE name = 'file_ops' AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'file_ops_new');
DROP TABLE file_ops;
ALTER TABLE file_ops_new RENAME TO file_ops;

CREATE VIEW pending_file_ops AS
SELECT o.id, o.job_id,
       CASE o.kind WHEN 1 THEN 'delete-temp-files' WHEN 2 THEN 'rename-to-final'
                   WHEN 3 THEN 'cancel-session' END AS op,
       datetime(o.created_us / 1000000, 'unixepoch') AS created,
       o.attempts, o.last_error
FROM file_ops o;
