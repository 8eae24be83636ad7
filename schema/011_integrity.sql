-- 011: what a downloaded file must be (FileSpec::integrity,
-- Job::set_file_integrity): its size and its SHA-256 / SHA-512 as lower-case
-- hex. NULL: not checked. The worker hashes the bytes as they arrive (a
-- resumed file's bytes on disk first) and checks before the file counts as
-- transferred; a mismatch is BG_E_VALIDATION_FAILED and the bytes are thrown
-- away.
ALTER TABLE files ADD COLUMN expected_size INTEGER;
ALTER TABLE files ADD COLUMN expected_sha256 TEXT;
ALTER TABLE files ADD COLUMN expected_sha512 TEXT;
