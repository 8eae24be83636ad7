-- 010: a job's TLS options (Job::set_tls_options), its download limits
-- (Job::set_max_download_size, Job::set_maximum_download_time), and per file
-- what the last response said (FileInfo::http_status and headers).
--
-- tls_key_password is a secret like the credentials table's: in this 0600
-- file only, never in a view, never read back through the API.
ALTER TABLE jobs ADD COLUMN tls_ca_bundle TEXT;
ALTER TABLE jobs ADD COLUMN tls_ca_directory TEXT;
ALTER TABLE jobs ADD COLUMN tls_client_cert TEXT;
ALTER TABLE jobs ADD COLUMN tls_client_key TEXT;
ALTER TABLE jobs ADD COLUMN tls_key_password TEXT;

-- Bytes the whole job may download; 0: no limit (BITS's MAX_DOWNLOAD_SIZE).
ALTER TABLE jobs ADD COLUMN max_download_size INTEGER NOT NULL DEFAULT 0;
-- Seconds the job may spend CONNECTING and TRANSFERRING (BITS's
-- SetMaximumDownloadTime, 90 days by default); download_time_us is what it
-- spent so far since its last Resume, added up at the end of each attempt
-- from running_since_us (when the worker last claimed it).
ALTER TABLE jobs ADD COLUMN max_download_time_s INTEGER NOT NULL DEFAULT 7776000;
ALTER TABLE jobs ADD COLUMN download_time_us INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN running_since_us INTEGER;

-- The last response to the file's request: its status and headers (values
-- as sent, control characters replaced, cut at 1,024 bytes). final_url
-- (006) is stored with any credentials in it already redacted.
ALTER TABLE files ADD COLUMN http_status INTEGER;
ALTER TABLE files ADD COLUMN content_type TEXT;
ALTER TABLE files ADD COLUMN content_disposition TEXT;

-- For operators: what each file's server last answered. The remote URL is
-- left out (it may carry a user name and password); final_url is redacted.
CREATE VIEW file_responses AS
SELECT f.job_id, f.idx, f.local_path, f.http_status, f.final_url, f.etag, f.last_modified,
       f.content_type, f.content_disposition
FROM files f;
