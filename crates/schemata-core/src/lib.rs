//! Domain of Schemata: what a connection, a snapshot of a source's schema, a refresh
//! and a diff between two snapshots are. Pure data and rules; no IO.

pub mod cache_status;
pub mod connection_state;
pub mod diff;
pub mod filters;
pub mod named;
pub mod object;
pub mod overrides;
pub mod refresh;
pub mod refresh_schedule;
pub mod schema_id;
pub mod scope;
pub mod snapshot;
pub mod source_config;
pub mod source_kind;
pub mod stored_form;
pub mod types;
pub mod webhook_event;
pub mod webhook_url;

pub use cache_status::CacheStatus;
pub use connection_state::{ConnectionStatus, HealthStatus};
pub use diff::{ChangeSet, FieldChange, ObjectChange, PropertyChange};
pub use filters::{CacheScope, SchemaFilter, TableAllowlist};
pub use named::{Named, UnknownName};
pub use object::{
    Association, Field, ForeignKey, Index, ObjectKind, Reference, SchemaObject, UniqueConstraint,
    annotate_keys,
};
pub use overrides::{
    Conflict, EffectiveField, EffectiveObject, FieldOverride, ObjectOverrides, effective,
    effective_version,
};
pub use refresh::{RefreshFailure, RefreshJob, RefreshOptions, RefreshResult, RunStatus, Trigger};
pub use refresh_schedule::{RefreshSchedule, ScheduleError};
pub use schema_id::SchemaId;
pub use scope::Scope;
pub use snapshot::{Snapshot, schema_version};
pub use source_config::{
    AssumedRole, DynamoDbEndpoint, NetworkEndpoint, SnowflakeAccount, SnowflakeCredential,
    SourceConfig, SourceConfigError, SqliteFile, TlsMode,
};
pub use source_kind::SourceKind;
pub use stored_form::StoredForm;
pub use types::{FieldType, SnowflakeType};
pub use webhook_event::{DeliveryStatus, WebhookEvent};
pub use webhook_url::WebhookUrl;
