-- 013: a job's notify command line (Job::set_notify_command_line, bitsadmin
-- /SetNotifyCmdLine): the program's absolute path ('' for none) and its
-- arguments, each followed by a NUL byte (a BLOB: an argument may hold any
-- byte but NUL; '' is no argument, x'00' one empty argument).
ALTER TABLE jobs ADD COLUMN notify_program TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN notify_args BLOB NOT NULL DEFAULT x'';
