-- A run whose source failed transiently waits for its next attempt on the
-- queue (run_at in apalis), not in a worker slot; this says when.
ALTER TABLE refresh_runs ADD COLUMN next_attempt_at timestamptz;
