-- API replicas keep the status documents they serve in memory, and forget a
-- connection's the moment anything it shows changes: every write to a
-- connection, its runs or its overrides notifies `schemata_status` with the
-- connection's id, delivered at commit (PostgreSQL folds repeats of one
-- payload in one transaction into one).
CREATE FUNCTION schemata_notify_status() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changed uuid;
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF TG_TABLE_NAME = 'connections' THEN changed := OLD.id;
        ELSE changed := OLD.connection_id; END IF;
    ELSE
        IF TG_TABLE_NAME = 'connections' THEN changed := NEW.id;
        ELSE changed := NEW.connection_id; END IF;
    END IF;
    PERFORM pg_notify('schemata_status', changed::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER connections_status_changed
    AFTER UPDATE OR DELETE ON connections
    FOR EACH ROW EXECUTE FUNCTION schemata_notify_status();
CREATE TRIGGER refresh_runs_status_changed
    AFTER INSERT OR UPDATE OR DELETE ON refresh_runs
    FOR EACH ROW EXECUTE FUNCTION schemata_notify_status();
CREATE TRIGGER field_overrides_status_changed
    AFTER INSERT OR UPDATE OR DELETE ON field_overrides
    FOR EACH ROW EXECUTE FUNCTION schemata_notify_status();
CREATE TRIGGER primary_key_overrides_status_changed
    AFTER INSERT OR UPDATE OR DELETE ON primary_key_overrides
    FOR EACH ROW EXECUTE FUNCTION schemata_notify_status();
