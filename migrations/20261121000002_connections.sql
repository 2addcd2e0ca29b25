-- A source database and the state of its schema cache.
CREATE TABLE connections (
    id                    uuid PRIMARY KEY,
    organization_id       uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name                  text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind                  text NOT NULL CHECK (kind IN ('postgresql', 'mysql', 'sqlite')),
    -- What clients see: the configuration with its password replaced.
    configuration         jsonb NOT NULL,
    -- The whole configuration, ChaCha20-Poly1305 encrypted; the nonce is prepended.
    secret                bytea NOT NULL,
    status                text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    health_status         text NOT NULL DEFAULT 'unknown' CHECK (health_status IN ('healthy', 'unhealthy', 'unknown')),
    health_message        text,
    health_checked_at     timestamptz,
    schema_filter         text[] NOT NULL DEFAULT '{}',
    table_allowlist       text[] NOT NULL DEFAULT '{}',
    refresh_ttl_seconds   integer CHECK (refresh_ttl_seconds > 0),
    auto_refresh          boolean NOT NULL DEFAULT false,
    -- Stored states; `stale` is derived on read from the TTL.
    cache_status          text NOT NULL DEFAULT 'none' CHECK (cache_status IN ('none', 'refreshing', 'fresh', 'error')),
    schema_version        text,
    last_refresh_started  timestamptz,
    last_refresh_finished timestamptz,
    last_refresh_error    text,
    last_run_id           uuid,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, name)
);
-- Cursor pagination walks ids (UUIDv7, so creation order) within an organization.
CREATE INDEX connections_organization_id_idx ON connections (organization_id, id);
