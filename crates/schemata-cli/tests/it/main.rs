//! The integration tests of schemata-cli, linked into one binary: each file of
//! `tests/*.rs` used to link the whole service on its own (minutes on 2
//! cores). Run one area with `cargo test -p schemata-cli --test it <module>`.

mod client_commands;
mod crash_recovery;
mod database_outage;
mod dev_command;
mod secrets_stay_secret;
