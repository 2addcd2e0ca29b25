-- The structured columns of the cache hold JSON the worker serialized itself
-- and every reader parses: PostgreSQL validating it once more on the way in
-- (json_lex) was a fifth of a large refresh's write. Kept as text; cast to
-- json to query inside them.
ALTER TABLE schema_objects
    ALTER COLUMN fields TYPE text,
    ALTER COLUMN indexes TYPE text,
    ALTER COLUMN foreign_keys TYPE text,
    ALTER COLUMN unique_constraints TYPE text,
    ALTER COLUMN properties TYPE text;
