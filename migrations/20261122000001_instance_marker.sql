-- Marks this database as Schemata's own. Every new session here sees
-- `current_setting('schemata.instance', true)`, whatever address it came in by,
-- so the source access policy can refuse a "source" that is really this
-- database (reached through a public IP, a proxy or a DNS alias). The address,
-- port and database-name check still applies where this cannot be set.
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET schemata.instance = %L',
                   current_database(), md5(random()::text || clock_timestamp()::text));
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'could not mark database % as Schemata''s own (not its owner); the source access policy falls back on address, port and database name',
        current_database();
END
$$;
