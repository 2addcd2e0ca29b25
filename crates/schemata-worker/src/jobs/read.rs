//! What a claimed run reads: the connection's source, through the access
//! policy, and the scope it asks for with what the cache already knows.

use crate::jobs::{cached_index::CachedIndex, context::RefreshContext};
use schemata_core::CacheScope;
use schemata_sources::{AnySource, IntrospectionScope, Known, connect};
use schemata_store::{connections, runs::RunRow, snapshots};

/// A read about to start.
pub(crate) struct PreparedRead {
    pub source: AnySource,
    pub scope: IntrospectionScope,
    /// The connection's scope generation the read is made under: the write
    /// is thrown away if it changed meanwhile.
    pub generation: i64,
}

/// The source and what to read of it, as the run asks; the error is a message
/// for the run's owner.
pub(crate) async fn prepare(
    ctx: &RefreshContext,
    run: &RunRow,
    cached: &CachedIndex,
) -> Result<PreparedRead, String> {
    let connection = connections::get_by_id(&ctx.pool, run.connection_id)
        .await
        .map_err(|e| format!("Failed to load the connection: {e}"))?
        .ok_or("The connection was deleted.")?;
    let config = connections::source_config(&ctx.pool, &ctx.secrets, connection.id)
        .await
        .map_err(|e| e.to_string())?;
    if let Err(error) =
        connections::note_source_server(&ctx.pool, connection.id, &config.server()).await
    {
        tracing::warn!(error = ?error, "could not record the connection's source server");
    }
    let (catalog_state, cache_keeps_unlisted) = {
        let mut conn = ctx.pool.acquire().await.map_err(|e| e.to_string())?;
        snapshots::catalog_state(&mut conn, connection.id)
            .await
            .map_err(|e| e.to_string())?
    };
    let CacheScope {
        schema_filter,
        table_allowlist,
    } = CacheScope::parse(connection.schema_filter, connection.table_allowlist)?;
    let scope = IntrospectionScope {
        schema_filter,
        table_allowlist,
        options: run.options().map_err(|e| e.to_string())?,
        known: Known {
            catalog_state,
            cached: cached.graph(),
            cache_keeps_unlisted,
        },
    };
    let source =
        connect(connection.kind, &config, ctx.limits, &ctx.policy).map_err(|e| e.to_string())?;
    Ok(PreparedRead {
        source,
        scope,
        generation: connection.scope_generation,
    })
}
