-- A cache that no longer answers to its connection's configuration (pointed
-- at another database, filters widened) is `stale` from the moment the change
-- commits until a hard refresh reads the source again: `stale_reason` says
-- why. It lives beside `cache_status`, so that a cancelled run, which puts
-- back the status the last run left, cannot make such a cache look fresh.
ALTER TABLE connections ADD COLUMN stale_reason text;

-- Bumped by every change of configuration, filters or allowlist. A refresh
-- remembers the generation it read under and writes nothing if it changed
-- meanwhile (the run is read again under the new one).
ALTER TABLE connections ADD COLUMN scope_generation bigint NOT NULL DEFAULT 0;

-- A stale cache is due for an automatic refresh at once, TTL or none.
CREATE OR REPLACE FUNCTION connections_refresh_due_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.refresh_due_at := CASE
        -- Never refreshed: due at once.
        WHEN NEW.last_refresh_finished IS NULL AND NEW.refresh_ttl_seconds IS NOT NULL THEN NEW.created_at
        WHEN NEW.stale_reason IS NOT NULL THEN
            least(now(), NEW.last_refresh_finished + make_interval(secs => NEW.refresh_ttl_seconds))
        WHEN NEW.refresh_ttl_seconds IS NULL THEN NULL
        ELSE NEW.last_refresh_finished + make_interval(secs => NEW.refresh_ttl_seconds)
    END;
    RETURN NEW;
END
$$;

DROP TRIGGER connections_refresh_due_at ON connections;
CREATE TRIGGER connections_refresh_due_at
    BEFORE INSERT OR UPDATE OF refresh_ttl_seconds, last_refresh_finished, stale_reason ON connections
    FOR EACH ROW EXECUTE FUNCTION connections_refresh_due_at();

-- Schema ids now quote a part that holds `.` or `"` (`a."b.c"`): entries
-- written the old way (split at the first dot) are rewritten to the new
-- spelling of the same table.
CREATE FUNCTION pg_temp.quoted_part(part text) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN strpos(part, '.') > 0 OR strpos(part, '"') > 0
                THEN '"' || replace(part, '"', '""') || '"' ELSE part END
$$;
CREATE FUNCTION pg_temp.requoted(id text) RETURNS text LANGUAGE sql AS $$
    SELECT pg_temp.quoted_part(split_part(id, '.', 1)) || '.'
           || pg_temp.quoted_part(substr(id, strpos(id, '.') + 1))
$$;
UPDATE connections
SET table_allowlist = ARRAY(SELECT pg_temp.requoted(e) FROM unnest(table_allowlist) AS e)
WHERE EXISTS (SELECT 1 FROM unnest(table_allowlist) AS e WHERE e ~ '\..*\.' OR strpos(e, '"') > 0);
UPDATE refresh_runs
SET only_tables = ARRAY(SELECT pg_temp.requoted(e) FROM unnest(only_tables) AS e)
WHERE status IN ('queued', 'running')
  AND EXISTS (SELECT 1 FROM unnest(only_tables) AS e WHERE e ~ '\..*\.' OR strpos(e, '"') > 0);

-- The ids cached objects keep of the objects they refer to are spelt the new
-- way from their next read: every connection's next refresh reads in full.
UPDATE connections SET catalog_state = NULL WHERE catalog_state IS NOT NULL;

-- The cache holds objects the last listing of the source did not have: a
-- soft refresh kept them. The next hard refresh lists the scope even when the
-- catalog state says nothing changed since, and removes them.
ALTER TABLE connections ADD COLUMN cache_keeps_unlisted boolean NOT NULL DEFAULT false;

-- Webhook URLs are shown with scheme, host, port and the first path segment
-- only (path tokens, user names, fragments and `;` parameters were shown in
-- full). The old shown form keeps all of those, so the new one is cut from it.
UPDATE webhooks SET url_shown = coalesce((
    SELECT m[1]
           || CASE WHEN m[2] IS NOT NULL THEN '********@' ELSE '' END
           || m[3] || '/' || m[4]
           || CASE WHEN m[5] IS NOT NULL THEN ';********' ELSE '' END
           || CASE WHEN m[6] IS NOT NULL AND m[6] <> '/' THEN '/********' ELSE '' END
           || CASE WHEN m[7] IS NOT NULL THEN '?********' ELSE '' END
           || CASE WHEN m[8] IS NOT NULL THEN '#********' ELSE '' END
    FROM regexp_match(url_shown,
        '^(https?://)([^@/?#]*@)?([^/?#]*)/?([^/?#;]*)(;[^/?#]*)?(/[^?#]*)?(\?[^#]*)?(#.*)?$') AS m
), '********');
