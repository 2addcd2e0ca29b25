//! Job handlers. Each is a thin adapter around a plain async function tests can call.

pub mod maintenance;
pub mod refresh;
