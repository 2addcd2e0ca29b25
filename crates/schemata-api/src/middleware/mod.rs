//! What every request passes through, outermost first: its request id, its
//! API key, input hygiene, and the status cache's bookkeeping. Middleware
//! depends on `error`, never the reverse.

pub(crate) mod authenticate;
pub(crate) mod clean_input;
pub(crate) mod request_id;
pub(crate) mod status_cache;
