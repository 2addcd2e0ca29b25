-- A run handed back at shutdown does not use up an attempt; this counts the
-- hand-backs, so that a run whose worker is stopped on every try ends failed
-- after a limit (store::runs::MAX_HAND_BACKS) instead of circling for ever.
ALTER TABLE refresh_runs ADD COLUMN hand_backs integer NOT NULL DEFAULT 0;
