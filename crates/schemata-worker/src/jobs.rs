//! Job handlers. Each is a thin adapter around a plain async function tests can call.

mod apply;
mod cached_index;
pub mod maintenance;
pub mod refresh;
mod summary;
