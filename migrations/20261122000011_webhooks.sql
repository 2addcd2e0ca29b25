-- Signed webhooks. A subscription belongs to an organization; its signing
-- secret and its URL (which may carry a token) are sealed like a source
-- password: the worker needs them back. `url_shown` is the URL with its
-- password and query values masked, for reading back.
CREATE TABLE webhooks (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    url_sealed      bytea NOT NULL,
    url_shown       text NOT NULL,
    events          text[] NOT NULL,
    -- NULL: every connection of the organization.
    connection_ids  uuid[],
    secret_sealed   bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_organization_idx ON webhooks (organization_id, id);

-- One row per (event, webhook), written in the transaction that closes the run,
-- so a delivery exists exactly when the run's end does. `body` is kept as the
-- exact bytes sent, so every attempt carries the same payload under a fresh
-- signature. Workers lease due rows with SKIP LOCKED by pushing
-- `next_attempt_at` ahead before sending; a worker that dies mid-send leaves
-- the row due again when the lease ends (at least once).
CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY,
    webhook_id       uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    organization_id  uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    event            text NOT NULL,
    connection_id    uuid NOT NULL,
    run_id           uuid NOT NULL,
    body             text NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_attempt_at  timestamptz,
    -- Set while a sender holds the delivery: bounds what one organization
    -- has in flight across workers.
    leased_until     timestamptz,
    last_status_code integer,
    last_error       text,
    delivered_at     timestamptz
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_in_flight_idx ON webhook_deliveries (organization_id) WHERE leased_until IS NOT NULL;
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, created_at DESC, id DESC);

-- Wakes the senders at commit, so a delivery leaves within milliseconds of the
-- run's end instead of at the next poll.
CREATE FUNCTION schemata_notify_webhook() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('schemata_webhooks', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER webhook_deliveries_queued
    AFTER INSERT ON webhook_deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION schemata_notify_webhook();
