//! The integration tests of schemata-testkit, linked into one binary: each file of
//! `tests/*.rs` used to link the whole service on its own (minutes on 2
//! cores). Run one area with `cargo test -p schemata-testkit --test it <module>`.

mod access_policy;
mod api_contract;
mod auto_refresh;
mod cache_oracle;
mod cache_truth;
mod cancel;
mod connections_crud;
mod credentials;
mod dynamodb_source;
mod graceful_shutdown;
mod history;
mod idempotency;
mod metrics;
mod migrations;
mod mysql_source;
mod openapi;
mod operator_page;
mod overrides;
mod polytomic_sdk;
mod postgres_catalog;
mod records;
mod refresh_coalescing;
mod refresh_end_to_end;
mod refresh_failures;
mod refresh_health_gate;
mod refresh_options;
mod request_hygiene;
mod retries;
mod schedules;
mod snowflake_source;
mod source_stalls;
mod sqlite_source;
mod status_cache;
mod support;
mod webhooks;
mod worker_queue;
