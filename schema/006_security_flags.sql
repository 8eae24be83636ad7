-- 006: a job's security flags (Job::set_security_flags, bitsadmin
-- /SetSecurityFlags), with BITS's values: the redirect policy — 0x0000 allow
-- silently, 0x0100 allow and report the final URL, 0x0200 disallow — and
-- 0x0800 allow an https URL to redirect to http. And per file the URL the
-- last response came from after redirects (reported under 0x0100).
ALTER TABLE jobs ADD COLUMN security_flags INTEGER NOT NULL DEFAULT 0;
ALTER TABLE files ADD COLUMN final_url TEXT;
