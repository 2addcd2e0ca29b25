-- Refresh requests counted per API key and minute, in the database so the
-- limit holds across every API replica.
CREATE TABLE rate_limit_windows (
    api_key_id   uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    window_start timestamptz NOT NULL,
    requests     integer NOT NULL,
    PRIMARY KEY (api_key_id, window_start)
);
