-- 005: a job's custom HTTP headers (Job::set_custom_headers, bitsadmin
-- /SetCustomHeaders): "Name: value" lines separated by a line feed, sent with
-- every request of the job (downloads, their resumes, every BITS upload
-- packet and the reply's GET). NULL: none. Checked by the engine before they
-- are stored (no CR/LF/NUL, no header xferq owns, size limits).
ALTER TABLE jobs ADD COLUMN custom_headers TEXT;
