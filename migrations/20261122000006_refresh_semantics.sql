-- Refresh semantics: who started a run, when a connection is due for an
-- automatic refresh, and replays of requests that carried an Idempotency-Key.

-- `api` for a client's request, `schedule` for the worker's auto-refresh.
ALTER TABLE refresh_runs
    ADD COLUMN trigger text NOT NULL DEFAULT 'api' CHECK (trigger IN ('api', 'schedule'));
-- The organization-wide history (`GET /api/refreshes`) walks runs newest first.
CREATE INDEX refresh_runs_organization_idx ON refresh_runs (organization_id, id DESC);
CREATE INDEX refresh_runs_connection_idx ON refresh_runs (connection_id, id DESC);
CREATE INDEX refresh_runs_organization_active_idx ON refresh_runs (organization_id, status)
    WHERE status IN ('queued', 'running');
-- Retention prunes by age.
CREATE INDEX refresh_runs_finished_idx ON refresh_runs (finished_at) WHERE finished_at IS NOT NULL;

-- A connection created without a TTL goes stale after 15 minutes; null (set by
-- PATCH) means it never does. Connections made before had no default: they
-- get it now, so `auto_refresh` means what it says for them too.
ALTER TABLE connections ALTER COLUMN refresh_ttl_seconds SET DEFAULT 900;
UPDATE connections SET refresh_ttl_seconds = 900 WHERE refresh_ttl_seconds IS NULL;

-- When the cache goes stale: the scheduler's search for due connections is one
-- range scan of a partial index. Kept by a trigger so that every writer of the
-- columns it depends on (the API, the workers) keeps it right.
ALTER TABLE connections ADD COLUMN refresh_due_at timestamptz;

CREATE FUNCTION connections_refresh_due_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.refresh_due_at := CASE
        WHEN NEW.refresh_ttl_seconds IS NULL THEN NULL
        -- Never refreshed: due at once.
        WHEN NEW.last_refresh_finished IS NULL THEN NEW.created_at
        ELSE NEW.last_refresh_finished + make_interval(secs => NEW.refresh_ttl_seconds)
    END;
    RETURN NEW;
END
$$;

CREATE TRIGGER connections_refresh_due_at
    BEFORE INSERT OR UPDATE OF refresh_ttl_seconds, last_refresh_finished ON connections
    FOR EACH ROW EXECUTE FUNCTION connections_refresh_due_at();

-- Existing rows: fires the trigger once.
UPDATE connections SET refresh_ttl_seconds = refresh_ttl_seconds;


-- Only connections the scheduler may pick: those already refreshing leave it.
CREATE INDEX connections_refresh_due_idx ON connections (refresh_due_at)
    WHERE auto_refresh AND status = 'active' AND refresh_due_at IS NOT NULL
      AND cache_status <> 'refreshing';

-- A replayed answer carries its Location too.
ALTER TABLE idempotency_keys ADD COLUMN location text;
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- User fields carry a display name, and Polytomic's example and definition.
ALTER TABLE field_overrides
    ADD COLUMN display_name text,
    ADD COLUMN example jsonb,
    ADD COLUMN definition jsonb;
