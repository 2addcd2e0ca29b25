-- The cache's structured columns keep the JSON text the worker wrote: parsing
-- it into jsonb, then compressing it with pglz, was most of a large refresh's
-- write time, and nothing queries inside these columns. The objects each one
-- refers to get a column of their own, so a refresh reads the graph without
-- parsing foreign keys.
ALTER TABLE schema_objects
    ALTER COLUMN fields DROP DEFAULT,
    ALTER COLUMN indexes DROP DEFAULT,
    ALTER COLUMN foreign_keys DROP DEFAULT,
    ALTER COLUMN unique_constraints DROP DEFAULT,
    ALTER COLUMN properties DROP DEFAULT;

ALTER TABLE schema_objects
    ALTER COLUMN fields TYPE json USING fields::json,
    ALTER COLUMN indexes TYPE json USING indexes::json,
    ALTER COLUMN foreign_keys TYPE json USING foreign_keys::json,
    ALTER COLUMN unique_constraints TYPE json USING unique_constraints::json,
    ALTER COLUMN properties TYPE json USING properties::json,
    ADD COLUMN refers_to text[] NOT NULL DEFAULT '{}';

UPDATE schema_objects
SET refers_to = ARRAY(SELECT k -> 'references' ->> 'schema_id' FROM json_array_elements(foreign_keys) k)
WHERE foreign_keys::text <> '[]';

-- lz4 where the server has it (PostgreSQL 14+ built with lz4): a tenth of
-- pglz's cost on these documents. Elsewhere the default stays.
DO $$
BEGIN
    EXECUTE 'ALTER TABLE schema_objects ALTER COLUMN fields SET COMPRESSION lz4,
                                        ALTER COLUMN indexes SET COMPRESSION lz4';
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'lz4 compression unavailable (%), keeping the default', SQLERRM;
END
$$;
