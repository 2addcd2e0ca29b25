-- Snowflake joins the source kinds.
ALTER TABLE connections DROP CONSTRAINT connections_kind_check;
ALTER TABLE connections ADD CONSTRAINT connections_kind_check
    CHECK (kind IN ('postgresql', 'mysql', 'sqlite', 'dynamodb', 'snowflake'));
