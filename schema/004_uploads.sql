-- 004_uploads.sql — upload and upload-reply jobs ([MC-BUP], issue #7).
--
-- jobs.upload_session_id: the BITS-Session-Id the server gave on Create-Session,
--   kept so that a restart continues the same session (NULL: none open; cleared
--   when Close-Session is acknowledged, since a closed upload cannot be cancelled).
-- jobs.reply_url: BITS-Reply-URL from the last fragment's Ack (upload-reply),
--   so that a restart after the last fragment fetches the reply without
--   re-sending anything.
-- jobs.reply_file_name: where complete() puts an upload-reply job's reply
--   (NULL: the upload file's path + ".reply"). The reply is downloaded to the
--   file row's temp_path, so Cancel's and Complete's outbox rows find it.
-- For upload jobs files.bytes_transferred counts the bytes the server
-- acknowledged (BITS-Received-Content-Range) and bytes_total the file's size.
ALTER TABLE jobs ADD COLUMN upload_session_id TEXT;
ALTER TABLE jobs ADD COLUMN reply_url TEXT;
ALTER TABLE jobs ADD COLUMN reply_file_name TEXT;

-- file_ops gains kind 3 = send Cancel-Session for `url` / `session_id` so that
-- the server deletes a partial upload. SQLite cannot change a CHECK in place:
-- the table is rebuilt (ids kept, so nothing pending is lost).
DROP VIEW pending_file_ops;
CREATE TABLE file_ops_new (
  id          INTEGER PRIMARY KEY,
  job_id      TEXT NOT NULL,
  kind        INTEGER NOT NULL CHECK (kind IN (1, 2, 3)),
  previous_state INTEGER,                        -- finalize: the state to go back to if a rename fails
  created_us  INTEGER NOT NULL,
  attempts    INTEGER NOT NULL DEFAULT 0,
  last_error  TEXT,
  url         TEXT,                              -- cancel-session: the upload URL
  session_id  TEXT                               -- cancel-session: BITS-Session-Id
);
INSERT INTO file_ops_new (id, job_id, kind, previous_state, created_us, attempts, last_error)
  SELECT id, job_id, kind, previous_state, created_us, attempts, last_error FROM file_ops;
DROP TABLE file_ops;
ALTER TABLE file_ops_new RENAME TO file_ops;

CREATE VIEW pending_file_ops AS
SELECT o.id, o.job_id,
       CASE o.kind WHEN 1 THEN 'delete-temp-files' WHEN 2 THEN 'rename-to-final'
                   WHEN 3 THEN 'cancel-session' END AS op,
       datetime(o.created_us / 1000000, 'unixepoch') AS created,
       o.attempts, o.last_error
FROM file_ops o;
