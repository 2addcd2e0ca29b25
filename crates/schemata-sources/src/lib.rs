//! Reading sources: health checks and schema introspection, one module per kind.
//! Knows nothing of HTTP or the queue.

mod error;
pub mod postgres;
mod source;

pub use error::SourceError;
pub use source::{AnySource, Introspection, IntrospectionScope, Source, SourceLimits, connect};
