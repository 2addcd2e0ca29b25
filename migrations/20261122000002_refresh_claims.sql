-- Refresh runs are claimed by workers with session-level advisory locks:
-- one on the connection (two workers never refresh one connection at once) and
-- one on the run (its worker is alive for as long as the lock is held; PostgreSQL
-- drops it the moment the worker's session ends). These columns are the keys.
ALTER TABLE connections ADD COLUMN lock_key bigint GENERATED ALWAYS AS IDENTITY;
ALTER TABLE refresh_runs ADD COLUMN lock_key bigint GENERATED ALWAYS AS IDENTITY;

-- Coalescing: at most one *queued* run per connection (requests join it or widen
-- it), which may wait behind one running run that did not cover it.
DROP INDEX refresh_runs_one_active_per_connection;
CREATE UNIQUE INDEX refresh_runs_one_queued_per_connection
    ON refresh_runs (connection_id) WHERE status = 'queued';
CREATE INDEX refresh_runs_active_idx
    ON refresh_runs (connection_id) WHERE status IN ('queued', 'running');
