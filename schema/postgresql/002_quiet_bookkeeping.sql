-- 002: tell other hosts only of the changes they act on.
--
-- 001 notified at every statement on jobs, so each progress commit and each
-- lease renewal of every worker woke every other host's worker, which then
-- re-read every job it holds: with H hosts the re-reads grew as H squared.
-- An update of a job's row that only moves the running worker's own
-- bookkeeping (its times, the no-progress clock, the lease) tells no other
-- host anything; every other change still notifies at commit (calls,
-- claims, state and generation changes, properties, inserts and deletes).
-- Notifications of one transaction with the same payload are delivered
-- once, so a claim of many rows is still one notification.
--
-- Changes of file_ops alone notify no one: its rows are inserted with the
-- update of their job (which notifies), and retiring or retrying a row is
-- nothing another host acts on. Each NOTIFY serializes commits and signals
-- every listening backend, so a cancel's retirement should not cost one.
CREATE FUNCTION xferq_notify_job_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  bookkeeping CONSTANT TEXT[] :=
    ARRAY['modified_us', 'no_progress_since_us', 'lease_expires_us', 'download_time_us', 'running_since_us'];
BEGIN
  IF TG_OP = 'UPDATE' AND (to_jsonb(OLD) - bookkeeping) = (to_jsonb(NEW) - bookkeeping) THEN
    RETURN NULL;
  END IF;
  PERFORM pg_notify('xferq_changes', '');
  RETURN NULL;
END
$$;
DROP TRIGGER jobs_changed ON jobs;
CREATE TRIGGER jobs_changed AFTER INSERT OR UPDATE OR DELETE ON jobs
  FOR EACH ROW EXECUTE FUNCTION xferq_notify_job_change();
DROP TRIGGER file_ops_changed ON file_ops;
