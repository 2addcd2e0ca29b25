-- The cached snapshot of a source: replaced in one transaction per refresh.
CREATE TABLE schema_objects (
    connection_id   uuid NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    schema_name     text NOT NULL,
    name            text NOT NULL,
    kind            text NOT NULL
                    CHECK (kind IN ('table', 'view', 'materialized_view', 'partitioned_table', 'foreign_table')),
    comment         text,
    row_estimate    bigint,
    partition_count integer,
    primary_keys    text[] NOT NULL DEFAULT '{}',
    indexes         jsonb NOT NULL DEFAULT '[]',
    refreshed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, schema_name, name)
);

CREATE TABLE schema_fields (
    connection_id      uuid NOT NULL,
    schema_name        text NOT NULL,
    object_name        text NOT NULL,
    name               text NOT NULL,
    ordinal            integer NOT NULL,
    remote_type        text NOT NULL,
    field_type         text NOT NULL,
    nullable           boolean NOT NULL,
    default_value      text,
    is_primary_key     boolean NOT NULL DEFAULT false,
    association_schema_id text,
    association_field  text,
    comment            text,
    PRIMARY KEY (connection_id, schema_name, object_name, name),
    FOREIGN KEY (connection_id, schema_name, object_name)
        REFERENCES schema_objects (connection_id, schema_name, name) ON DELETE CASCADE
);

-- What users add on top of the snapshot. Kept apart from it so that no refresh,
-- hard or soft, can remove them.
CREATE TABLE field_overrides (
    id              uuid PRIMARY KEY,
    connection_id   uuid NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    schema_name     text NOT NULL,
    object_name     text NOT NULL,
    -- The detected field this overrides, or null for a user-defined field.
    source_field    text,
    name            text NOT NULL,
    label           text,
    field_type      text,
    path            text,
    -- Type of the source field when the override was made, to flag conflicts.
    source_type_at_override text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (connection_id, schema_name, object_name, name)
);

CREATE TABLE primary_key_overrides (
    connection_id uuid NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    schema_name   text NOT NULL,
    object_name   text NOT NULL,
    fields        text[] NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, schema_name, object_name)
);

-- Replays of refresh requests that carried an Idempotency-Key, kept 24 h.
CREATE TABLE idempotency_keys (
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    key             text NOT NULL,
    request_hash    text NOT NULL,
    status_code     integer NOT NULL,
    response        jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, key)
);
