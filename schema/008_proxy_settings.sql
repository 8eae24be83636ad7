-- 008: a job's proxy settings (Job::set_proxy_settings, bitsadmin
-- /SetProxySettings): usage 0 PRECONFIG (the environment's *_proxy
-- variables, as before), 1 NO_PROXY (direct), 2 OVERRIDE (proxy_list's first
-- proxy, except for the hosts of proxy_bypass).
ALTER TABLE jobs ADD COLUMN proxy_usage INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN proxy_list TEXT;
ALTER TABLE jobs ADD COLUMN proxy_bypass TEXT;
