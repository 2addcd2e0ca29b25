//! Job handlers. Each is a thin adapter around a plain async function tests
//! can call. A refresh reads top down: `refresh` (claim, then the rest),
//! `read` (the source and its scope), `plan` (what to write, decided without
//! a database), `apply` (writing it and closing the run).

mod apply;
mod cached_index;
pub mod context;
pub mod maintenance;
pub mod outcome;
mod plan;
mod read;
pub mod refresh;
mod summary;
