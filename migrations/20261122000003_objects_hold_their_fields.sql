-- Each cached object keeps its fields as one JSON array on its own row, with a
-- hash of its whole content. A refresh rewrites only the objects that changed,
-- one row each (not one per column), and the cache's schema_version is
-- computed from the stored hashes without loading any fields.
ALTER TABLE schema_objects
    ADD COLUMN fields             jsonb   NOT NULL DEFAULT '[]',
    ADD COLUMN field_count        integer NOT NULL DEFAULT 0,
    ADD COLUMN foreign_keys       jsonb   NOT NULL DEFAULT '[]',
    ADD COLUMN unique_constraints jsonb   NOT NULL DEFAULT '[]',
    ADD COLUMN properties         jsonb   NOT NULL DEFAULT '{}',
    -- '' for rows carried over below: the next refresh rewrites them.
    ADD COLUMN content_hash       text    NOT NULL DEFAULT '';

UPDATE schema_objects o
SET fields = f.fields, field_count = f.field_count
FROM (
    SELECT connection_id, schema_name, object_name, count(*)::int AS field_count,
           jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
               'name', name, 'ordinal', ordinal, 'remote_type', remote_type, 'type', field_type,
               'nullable', nullable, 'default', default_value, 'is_primary_key', is_primary_key,
               'association', CASE WHEN association_schema_id IS NOT NULL THEN
                   jsonb_build_object('schema_id', association_schema_id, 'field', association_field) END,
               'comment', comment)) ORDER BY ordinal) AS fields
    FROM schema_fields
    GROUP BY connection_id, schema_name, object_name
) f
WHERE o.connection_id = f.connection_id AND o.schema_name = f.schema_name AND o.name = f.object_name;

DROP TABLE schema_fields;

-- What the last refresh learned about the source's catalog, so the next one can
-- read only what changed (PostgreSQL sources; see schemata-sources).
ALTER TABLE connections ADD COLUMN catalog_state jsonb;
