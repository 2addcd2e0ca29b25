-- Schedules beside the TTL (a cron expression in an IANA time zone), stale
-- while revalidate on reads, and a backoff for sources whose scheduled
-- refreshes keep failing.
ALTER TABLE connections
    ADD COLUMN refresh_schedule text,
    ADD COLUMN refresh_timezone text NOT NULL DEFAULT 'UTC',
    ADD COLUMN refresh_on_read boolean NOT NULL DEFAULT false,
    -- Scheduled refreshes failed in a row; a success or a manual refresh
    -- puts it back to 0.
    ADD COLUMN failed_scheduled_runs integer NOT NULL DEFAULT 0,
    -- The schedule's next occurrence (with its backoff), computed by
    -- Schemata (`RefreshSchedule::next_due`): SQL has no cron.
    ADD COLUMN schedule_due_at timestamptz;

-- The due time: a stale cache at once; a schedule at its next occurrence; a
-- TTL one TTL after the last refresh, doubled per failed scheduled run up
-- to a day (`refresh_schedule::ttl_delay` is the same rule).
CREATE OR REPLACE FUNCTION connections_refresh_due_at() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    delay interval;
BEGIN
    delay := CASE WHEN NEW.refresh_ttl_seconds IS NULL THEN NULL
                  WHEN NEW.failed_scheduled_runs <= 0 THEN make_interval(secs => NEW.refresh_ttl_seconds)
                  ELSE greatest(make_interval(secs => NEW.refresh_ttl_seconds),
                                least(interval '24 hours',
                                      make_interval(secs => NEW.refresh_ttl_seconds::float8
                                                            * power(2, least(NEW.failed_scheduled_runs, 20)))))
             END;
    NEW.refresh_due_at := CASE
        WHEN NEW.stale_reason IS NOT NULL AND NEW.last_refresh_finished IS NOT NULL
            THEN least(now(), coalesce(NEW.schedule_due_at, NEW.last_refresh_finished + delay, now()))
        WHEN NEW.refresh_schedule IS NOT NULL THEN
            CASE WHEN NEW.last_refresh_finished IS NULL THEN NEW.created_at ELSE NEW.schedule_due_at END
        -- Never refreshed: due at once.
        WHEN NEW.last_refresh_finished IS NULL AND NEW.refresh_ttl_seconds IS NOT NULL THEN NEW.created_at
        WHEN NEW.stale_reason IS NOT NULL THEN now()
        WHEN delay IS NULL THEN NULL
        ELSE NEW.last_refresh_finished + delay
    END;
    RETURN NEW;
END
$$;

DROP TRIGGER connections_refresh_due_at ON connections;
CREATE TRIGGER connections_refresh_due_at
    BEFORE INSERT OR UPDATE OF refresh_ttl_seconds, last_refresh_finished, stale_reason,
        refresh_schedule, schedule_due_at, failed_scheduled_runs ON connections
    FOR EACH ROW EXECUTE FUNCTION connections_refresh_due_at();
