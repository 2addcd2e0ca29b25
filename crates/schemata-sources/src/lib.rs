//! Reading sources: health checks and schema introspection, one module per kind,
//! behind one access policy. Knows nothing of HTTP or the queue.

pub mod dynamodb;
mod error;
mod fetch;
pub mod http;
mod limits;
pub mod mysql;
pub mod policy;
pub mod postgres;
pub mod records;
mod settings;
pub mod snowflake;
mod source;
pub mod sqlite;

pub use error::SourceError;
pub use limits::{Budget, CLIENT_MARGIN, SourceLimits, within};
pub use policy::{AccessPolicy, AwsCredentials, PolicySettings};
pub use settings::SourceSettings;
pub use source::{
    AnySource, CachedGraph, Introspection, IntrospectionScope, Known, Listing, ObjectSink, Source,
    connect, introspect_all, send, supports,
};
