//! The cache's index (each cached object's kind, field count, content hash and
//! references), loaded on a task of its own as soon as a refresh starts: a
//! refresh that finds nothing changed is done before it would otherwise have
//! finished loading it.

use futures::future::{BoxFuture, FutureExt, Shared};
use schemata_core::SchemaId;
use schemata_sources::CachedGraph;
use schemata_store::{
    PgPool,
    snapshots::{self, CachedEntry},
};
use std::{collections::HashMap, sync::Arc};
use uuid::Uuid;

pub(crate) type Index = Arc<HashMap<SchemaId, CachedEntry>>;

#[derive(Clone)]
pub(crate) struct CachedIndex(Shared<BoxFuture<'static, Result<Index, String>>>);

impl CachedIndex {
    /// Starts loading the index of `connection_id`'s cache.
    pub fn load(pool: PgPool, connection_id: Uuid) -> Self {
        let task = tokio::spawn(async move {
            let mut conn = pool.acquire().await.map_err(anyhow::Error::from)?;
            snapshots::index(&mut conn, connection_id)
                .await
                .map_err(anyhow::Error::from)
        });
        Self(
            async move {
                match task.await {
                    Ok(Ok(index)) => Ok(Arc::new(index)),
                    Ok(Err(error)) => Err(format!("Failed to read the cache's index: {error:#}")),
                    Err(error) => Err(format!("Reading the cache's index stopped: {error}")),
                }
            }
            .boxed()
            .shared(),
        )
    }

    pub async fn get(&self) -> anyhow::Result<Index> {
        self.0.clone().await.map_err(anyhow::Error::msg)
    }

    /// What a source needs of it: the objects and what they point at.
    pub fn graph(&self) -> CachedGraph {
        let index = self.clone();
        CachedGraph::loading(async move {
            index
                .get()
                .await
                .map(|index| {
                    index
                        .iter()
                        .map(|(id, entry)| (id.clone(), entry.references.clone()))
                        .collect()
                })
                .unwrap_or_default()
        })
    }
}
