//! Many connections at once, registered straight in the store, and free ports
//! for processes started by hand: what the benchmarks and the chaos run need.

use schemata_core::{SourceConfig, SourceKind};
use schemata_store::{PgPool, SecretBox, connections};
use uuid::Uuid;

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Registers `count` connections of `organization_id` (named `c000000`…), all
/// to the PostgreSQL source at `source_url`, with this TTL and auto-refresh,
/// 5,000 per statement. Returns the organization's connection ids by name.
pub async fn register_connections(
    pool: &PgPool,
    secrets: &SecretBox,
    organization_id: Uuid,
    source_url: &str,
    count: usize,
    refresh_ttl_seconds: i32,
    auto_refresh: bool,
) -> anyhow::Result<Vec<Uuid>> {
    let fields = connections::ConnectionFields {
        name: String::new(),
        kind: SourceKind::Postgresql,
        config: SourceConfig::parse(
            SourceKind::Postgresql,
            &serde_json::json!({ "url": source_url }),
        )?,
        status: schemata_core::ConnectionStatus::Active,
        schema_filter: vec![],
        table_allowlist: vec![],
        refresh_ttl_seconds: Some(refresh_ttl_seconds),
        auto_refresh,
        refresh_schedule: None,
        refresh_timezone: "UTC".to_owned(),
        refresh_on_read: false,
    };
    for chunk in (0..count).collect::<Vec<_>>().chunks(5000) {
        let names: Vec<String> = chunk.iter().map(|n| format!("c{n:06}")).collect();
        connections::insert_many(pool, secrets, organization_id, &fields, &names).await?;
    }
    let ids =
        sqlx::query_scalar("SELECT id FROM connections WHERE organization_id = $1 ORDER BY name")
            .bind(organization_id)
            .fetch_all(pool)
            .await?;
    Ok(ids)
}
