-- One row per refresh request that became a job. Its id is the job_id clients see.
CREATE TABLE refresh_runs (
    id              uuid PRIMARY KEY,
    connection_id   uuid NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    status          text NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'running', 'succeeded', 'partial', 'failed', 'cancelled')),
    hard_refresh    boolean NOT NULL,
    only_schemas    text[] NOT NULL DEFAULT '{}',
    only_tables     text[] NOT NULL DEFAULT '{}',
    -- apalis task id, to find the job on the queue.
    task_id         text,
    attempt         integer NOT NULL DEFAULT 0,
    max_attempts    integer NOT NULL DEFAULT 3,
    objects_done    integer,
    objects_total   integer,
    result          jsonb,
    error           text,
    change_set      jsonb,
    requested_by    uuid REFERENCES api_keys (id) ON DELETE SET NULL,
    queued_at       timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz
);
-- At most one refresh in flight per connection: the coalescing guarantee lives here,
-- so it holds across API replicas and under any concurrency.
CREATE UNIQUE INDEX refresh_runs_one_active_per_connection
    ON refresh_runs (connection_id) WHERE status IN ('queued', 'running');
CREATE INDEX refresh_runs_history_idx ON refresh_runs (connection_id, queued_at DESC);

ALTER TABLE connections
    ADD CONSTRAINT connections_last_run_fk FOREIGN KEY (last_run_id) REFERENCES refresh_runs (id) ON DELETE SET NULL;
