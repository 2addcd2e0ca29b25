//! DynamoDB sources: one object per table in schema `default`, its key schema
//! and indexes from `DescribeTable`, and its other attributes inferred from a
//! bounded `Scan` (never the whole table). A table whose description did not
//! change is not sampled again while its cache is young.

mod assume_role;
mod client;
mod describe;
mod infer;
mod sigv4;

use crate::{
    AccessPolicy, Introspection, IntrospectionScope, Listing, ObjectSink, Source, SourceError,
    SourceLimits, send,
};
use chrono::{DateTime, Utc};
use client::DynamoClient;
use describe::Described;
use futures::{StreamExt, TryStreamExt};
use infer::Sample;
use schemata_core::{DynamoDbEndpoint, RefreshFailure, SchemaId, SchemaObject};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// The schema every DynamoDB table lives in.
pub const SCHEMA: &str = "default";

/// Tables described and sampled at once.
const CONCURRENCY: usize = 8;

/// Objects per batch sent to the writer.
const BATCH: usize = 64;

#[derive(Debug, Clone)]
pub struct DynamoDbSource {
    client: Arc<DynamoClient>,
    prefix: Option<String>,
    limits: SourceLimits,
}

impl DynamoDbSource {
    pub fn new(
        config: &DynamoDbEndpoint,
        limits: SourceLimits,
        policy: AccessPolicy,
    ) -> Result<Self, SourceError> {
        Ok(Self {
            client: Arc::new(DynamoClient::new(config, policy, limits.round_trip())?),
            prefix: config.table_prefix.clone(),
            limits,
        })
    }

    /// Every table name with the connection's prefix, page by page; the
    /// object cap counts those only.
    async fn table_names(&self) -> Result<Vec<String>, SourceError> {
        let mut names = Vec::new();
        let prefix = self.prefix.as_deref().unwrap_or("");
        let mut start: Option<String> = None;
        loop {
            let mut body = json!({"Limit": 100});
            if let Some(start) = &start {
                body["ExclusiveStartTableName"] = json!(start);
            }
            let page = self.client.call("ListTables", &body).await?;
            // Any other JSON is some other server's, as for a non-JSON answer.
            let Some(listed) = page["TableNames"].as_array() else {
                tracing::info!("the endpoint answered ListTables without TableNames");
                return Err(SourceError::Unreachable);
            };
            names.extend(
                listed
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|n| n.starts_with(prefix))
                    .map(str::to_owned),
            );
            if names.len() > self.limits.max_objects {
                return Err(SourceError::TooLarge(format!(
                    "more than {} tables (SCHEMATA_SOURCE_MAX_OBJECTS)",
                    self.limits.max_objects
                )));
            }
            match page["LastEvaluatedTableName"].as_str() {
                Some(next) => start = Some(next.to_owned()),
                None => return Ok(names),
            }
        }
    }

    fn in_scope(&self, scope: &IntrospectionScope, name: &str) -> bool {
        let id = SchemaId::new(SCHEMA, name);
        let options = &scope.options;
        self.prefix.as_deref().is_none_or(|p| name.starts_with(p))
            && scope.schema_filter.admits(SCHEMA)
            && scope.table_allowlist.admits(&id)
            && (!options.is_partial()
                || options.schemas.iter().any(|s| s == SCHEMA)
                || options.tables.contains(&id))
    }

    async fn describe(&self, name: &str) -> Result<Described, SourceError> {
        let table = self
            .client
            .call("DescribeTable", &json!({"TableName": name}))
            .await?;
        // TTL is a detail: a key that may not read it still gets the table.
        // Any other failure fails the table, rather than make its TTL seem
        // to have changed.
        let ttl = match self
            .client
            .call("DescribeTimeToLive", &json!({"TableName": name}))
            .await
        {
            Ok(ttl) => Some(ttl),
            Err(SourceError::Query(words)) if words.starts_with("AccessDeniedException") => None,
            Err(error) => return Err(error),
        };
        Ok(Described::from_answer(&table["Table"], ttl.as_ref()))
    }

    /// Up to `dynamodb_sample_items` items in at most `dynamodb_sample_pages` pages.
    async fn sample(&self, name: &str) -> Result<Sample, SourceError> {
        let wanted = self.limits.dynamodb_sample_items as usize;
        let mut sample = Sample::default();
        let mut start: Option<Value> = None;
        for _ in 0..self.limits.dynamodb_sample_pages.max(1) {
            let missing = wanted.saturating_sub(sample.items());
            if missing == 0 {
                break;
            }
            let mut body = json!({"TableName": name, "Limit": missing});
            if let Some(start) = start.take() {
                body["ExclusiveStartKey"] = start;
            }
            let page = self.client.call("Scan", &body).await?;
            sample.add(page["Items"].as_array().map_or(&[][..], Vec::as_slice));
            match page.get("LastEvaluatedKey") {
                Some(key) if !key.is_null() => start = Some(key.clone()),
                _ => break,
            }
        }
        Ok(sample)
    }
}

/// What the last refresh learned about each table (`catalog_state`).
#[derive(Debug, Clone, Default)]
struct Fingerprints(Map<String, Value>);

impl Fingerprints {
    fn from_state(state: Option<&Value>) -> Self {
        Self(
            state
                .and_then(|s| s["tables"].as_object())
                .cloned()
                .unwrap_or_default(),
        )
    }

    /// Whether `table` was sampled with this fingerprint less than `max_age` ago.
    fn still_good(&self, table: &str, fingerprint: &str, max_age: std::time::Duration) -> bool {
        let Some(known) = self.0.get(table) else {
            return false;
        };
        let sampled_at = known["sampled_at"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
        known["fingerprint"] == fingerprint
            && sampled_at.is_some_and(|at| {
                (Utc::now() - at.with_timezone(&Utc))
                    .to_std()
                    .is_ok_and(|age| age < max_age)
            })
    }
}

/// How one table went.
enum Outcome {
    Gone,
    Sampled(Box<SchemaObject>, Value),
    Kept(Value),
    Failed(RefreshFailure),
}

impl Source for DynamoDbSource {
    async fn health(&self) -> Result<(), SourceError> {
        self.client.call("ListTables", &json!({"Limit": 1})).await?;
        Ok(())
    }

    async fn introspect(
        &self,
        scope: &IntrospectionScope,
        sink: ObjectSink,
    ) -> Result<Introspection, SourceError> {
        let names: Vec<String> = self
            .table_names()
            .await?
            .into_iter()
            .filter(|n| self.in_scope(scope, n))
            .collect();
        let known = Fingerprints::from_state(scope.known.catalog_state.as_ref());
        let cached = scope.known.cached.get().await;
        let max_age = self.limits.dynamodb_resample_after;
        let outcomes = futures::stream::iter(names.iter().cloned())
            .map(|name| {
                let (known, cached) = (&known, &cached);
                async move {
                    let id = SchemaId::new(SCHEMA, &name);
                    // DynamoDB's own words, as SQL sources give the database's.
                    let failed = |error: SourceError| {
                        let error = match error {
                            SourceError::Query(words) => words,
                            other => other.to_string(),
                        };
                        Outcome::Failed(RefreshFailure {
                            object: id.to_string(),
                            error,
                        })
                    };
                    let described = match self.describe(&name).await {
                        Ok(described) => described,
                        // Deleted since it was listed: gone, as if not listed.
                        Err(SourceError::Query(words))
                            if words.starts_with("ResourceNotFoundException") =>
                        {
                            return Ok((name, Outcome::Gone));
                        }
                        Err(error @ SourceError::Query(_)) => return Ok((name, failed(error))),
                        Err(error) => return Err(error),
                    };
                    let fingerprint = described.fingerprint();
                    // A table a refresh names is read, whatever its fingerprint.
                    let named = scope.options.tables.contains(&id);
                    if !named
                        && cached.contains_key(&id)
                        && known.still_good(&name, &fingerprint, max_age)
                    {
                        let kept = known.0.get(&name).cloned().unwrap_or(Value::Null);
                        return Ok((name, Outcome::Kept(kept)));
                    }
                    let sample = match self.sample(&name).await {
                        Ok(sample) => sample,
                        Err(error @ SourceError::Query(_)) => return Ok((name, failed(error))),
                        Err(error) => return Err(error),
                    };
                    let mut object = described.object(SCHEMA);
                    object.fields = sample.fields(&described.keys, &described.index_keys);
                    object.normalize();
                    let state = json!({"fingerprint": fingerprint, "sampled_at": Utc::now()});
                    Ok((name, Outcome::Sampled(Box::new(object), state)))
                }
            })
            .buffer_unordered(CONCURRENCY);
        futures::pin_mut!(outcomes);
        let mut listing = Listing::default();
        let mut state = if scope.options.is_partial() {
            known.0.clone()
        } else {
            Map::new()
        };
        let mut batch = Vec::new();
        while let Some((name, outcome)) = outcomes.try_next().await? {
            let id = SchemaId::new(SCHEMA, &name);
            if !matches!(outcome, Outcome::Gone) {
                listing.present.push(id);
            }
            match outcome {
                Outcome::Gone => {
                    state.remove(&name);
                }
                Outcome::Sampled(object, fingerprint) => {
                    state.insert(name, fingerprint);
                    batch.push(*object);
                    if batch.len() >= BATCH {
                        send(&sink, std::mem::take(&mut batch)).await?;
                    }
                }
                Outcome::Kept(fingerprint) => {
                    state.insert(name, fingerprint);
                }
                Outcome::Failed(failure) => {
                    state.remove(&name);
                    listing.failures.push(failure);
                }
            }
        }
        send(&sink, batch).await?;
        listing.present.sort();
        listing.catalog_state = Some(json!({"tables": state}));
        Ok(Introspection::Read(listing))
    }

    async fn sample(&self, object: &SchemaObject, limit: u32) -> Result<Vec<Value>, SourceError> {
        let page = self
            .client
            .call("Scan", &json!({"TableName": object.name, "Limit": limit}))
            .await?;
        Ok(page["Items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .map(infer::plain_item)
            .collect())
    }
}
