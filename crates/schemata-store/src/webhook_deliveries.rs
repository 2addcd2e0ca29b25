//! Webhook deliveries: queued in the transaction that closes a run, leased by
//! one sender at a time, retried until they succeed or their window ends.

use crate::{SecretBox, StoreError, webhooks};
use chrono::{DateTime, Utc};
use schemata_core::{ChangeSet, DeliveryStatus, Named, RunStatus, WebhookEvent};
use serde_json::{Value, json};
use sqlx::{PgPool, Postgres, Transaction};
use std::time::Duration;
use uuid::Uuid;

/// What the deliveries tell of a run that ended.
#[derive(Debug, Clone, Copy)]
pub struct RunEnded<'a> {
    pub connection_id: Uuid,
    pub run_id: Uuid,
    pub status: RunStatus,
    pub error: Option<&'a str>,
    pub change_set: Option<&'a ChangeSet>,
}

/// Queues the deliveries a run's end calls for, in the caller's transaction:
/// `refresh.finished` always, `schema.changed` when the run changed something,
/// `schema.breaking_change` when those changes are breaking.
pub async fn queue_for_run(
    tx: &mut Transaction<'_, Postgres>,
    ended: &RunEnded<'_>,
) -> Result<(), StoreError> {
    let RunEnded {
        connection_id,
        run_id,
        status,
        error,
        change_set,
    } = *ended;
    // The version as the status endpoint shows it: the detected one, with the
    // overrides' digest when there are any.
    #[allow(clippy::type_complexity)]
    let subscribers: Vec<(Uuid, Uuid, Vec<String>, Option<String>, Option<String>)> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT w.id, w.organization_id, w.events, c.schema_version, {digest}
             FROM connections c JOIN webhooks w ON w.organization_id = c.organization_id
             WHERE c.id = $1 AND (w.connection_ids IS NULL OR c.id = ANY (w.connection_ids))",
            digest = crate::overrides::digest_if_any_sql("c.id"),
        )))
        .bind(connection_id)
        .fetch_all(&mut **tx)
        .await?;
    if subscribers.is_empty() {
        return Ok(());
    }
    let changed = change_set.is_some_and(|c| !c.is_empty());
    let breaking = change_set.is_some_and(|c| c.breaking);
    let happened = |event: &WebhookEvent| match event {
        WebhookEvent::RefreshFinished => true,
        WebhookEvent::SchemaChanged => changed,
        WebhookEvent::SchemaBreakingChange => breaking,
    };
    let changes = change_set.map(|c| bounded(&serde_json::to_value(c).unwrap_or_default()));
    let now = Utc::now();
    for (webhook_id, organization_id, events, detected, overrides) in subscribers {
        let schema_version = detected
            .as_deref()
            .map(|detected| schemata_core::effective_version(detected, overrides.as_deref()));
        let events = events.iter().filter_map(|e| e.parse::<WebhookEvent>().ok());
        for event in events.filter(|e| happened(e)) {
            let id = Uuid::now_v7();
            let mut data = json!({
                "connection_id": connection_id,
                "job_id": run_id,
                "status": status.as_str(),
                "schema_version": schema_version,
            });
            if let Some(changes) = &changes {
                data["changes"] = changes.clone();
            }
            if let Some(error) = error {
                data["error"] = json!(error);
            }
            let body = json!({"id": id, "event": event.as_str(),
                "created_at": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true), "data": data});
            sqlx::query(
                "INSERT INTO webhook_deliveries (id, webhook_id, organization_id, event, connection_id, run_id, body, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(id)
            .bind(webhook_id)
            .bind(organization_id)
            .bind(event.as_str())
            .bind(connection_id)
            .bind(run_id)
            .bind(body.to_string())
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

/// Largest change set a payload carries in full; past it, the counts, the
/// breaking reasons and `truncated: true` (the run holds the whole set).
const MAX_CHANGES_BYTES: usize = 256 * 1024;

/// Most breaking reasons a truncated change set keeps.
const MAX_REASONS: usize = 100;

fn bounded(changes: &Value) -> Value {
    if changes.to_string().len() <= MAX_CHANGES_BYTES {
        return changes.clone();
    }
    let count = |key: &str| changes[key].as_array().map_or(0, Vec::len);
    let reasons: Vec<Value> = changes["breaking_reasons"]
        .as_array()
        .map(|r| r.iter().take(MAX_REASONS).cloned().collect())
        .unwrap_or_default();
    json!({
        "truncated": true,
        "breaking": changes["breaking"],
        "breaking_reasons": reasons,
        "objects_added_count": count("objects_added"),
        "objects_removed_count": count("objects_removed"),
        "objects_changed_count": count("objects_changed"),
    })
}

/// A delivery a sender holds for one attempt.
#[derive(Debug, Clone)]
pub struct LeasedDelivery {
    pub id: Uuid,
    pub webhook_id: Uuid,
    /// Sent as stored: the sender only names it in a header, and a delivery
    /// a newer version queued still goes out.
    pub event: String,
    /// The URL and the signing secret, or why they could not be opened.
    pub target: Result<Target, String>,
    pub body: String,
    pub attempt: i32,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    pub secret: String,
}

/// Takes the most overdue delivery for one attempt, skipping organizations
/// that already have `per_organization` in flight (across workers), so one
/// tenant's slow receivers cannot hold every sender. Its next attempt is pushed
/// `lease` ahead first: a sender that dies leaves it due again.
pub async fn lease_next(
    pool: &PgPool,
    secrets: &SecretBox,
    per_organization: i64,
    lease: Duration,
) -> Result<Option<LeasedDelivery>, StoreError> {
    #[allow(clippy::type_complexity)]
    let row: Option<(
        Uuid,
        Uuid,
        String,
        Vec<u8>,
        Vec<u8>,
        String,
        i32,
        DateTime<Utc>,
    )> = sqlx::query_as(
        "WITH due AS (
                 SELECT d.id FROM webhook_deliveries d
                 WHERE d.status = 'pending' AND d.next_attempt_at <= now()
                   AND (SELECT count(*) FROM webhook_deliveries f
                        WHERE f.organization_id = d.organization_id AND f.leased_until > now()) < $1
                 ORDER BY d.next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED
             )
             UPDATE webhook_deliveries d
             SET attempts = d.attempts + 1, last_attempt_at = now(),
                 next_attempt_at = now() + make_interval(secs => $2),
                 leased_until = now() + make_interval(secs => $2)
             FROM due, webhooks w
             WHERE d.id = due.id AND w.id = d.webhook_id
             RETURNING d.id, d.webhook_id, d.event, w.url_sealed, w.secret_sealed, d.body,
                       d.attempts, d.created_at",
    )
    .bind(per_organization)
    .bind(lease.as_secs_f64())
    .fetch_optional(pool)
    .await?;
    Ok(row.map(
        |(id, webhook_id, event, url, secret, body, attempt, created_at)| {
            let open = |field, sealed: &[u8]| webhooks::open(secrets, webhook_id, field, sealed);
            let target = open("url", &url)
                .and_then(|url| {
                    Ok(Target {
                        url,
                        secret: open("secret", &secret)?,
                    })
                })
                .map_err(|_| {
                    "the webhook's URL or secret does not decrypt with this server's key".to_owned()
                });
            LeasedDelivery {
                id,
                webhook_id,
                event,
                target,
                body,
                attempt,
                created_at,
            }
        },
    ))
}

/// How one attempt went.
#[derive(Debug, Clone)]
pub enum Attempt {
    Delivered {
        status_code: u16,
    },
    /// `status_code` is None when no response came (refused, timed out…).
    Failed {
        status_code: Option<u16>,
        error: String,
        retry_in: Option<Duration>,
    },
}

/// Records an attempt: delivered, due again `retry_in` after the attempt
/// started (not after it ended: how long a receiver took to fail must not
/// show in the schedule), or given up.
pub async fn record(pool: &PgPool, id: Uuid, attempt: &Attempt) -> Result<(), StoreError> {
    let query = match attempt {
        Attempt::Delivered { status_code } => sqlx::query(
            "UPDATE webhook_deliveries SET status = 'delivered', delivered_at = now(),
                 last_status_code = $2, last_error = NULL, leased_until = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(i32::from(*status_code)),
        Attempt::Failed {
            status_code,
            error,
            retry_in,
        } => sqlx::query(
            "UPDATE webhook_deliveries SET last_status_code = $2, last_error = $3, leased_until = NULL,
                 status = CASE WHEN $4::float8 IS NULL THEN 'failed' ELSE 'pending' END,
                 next_attempt_at = CASE WHEN $4::float8 IS NULL THEN next_attempt_at
                                        ELSE greatest(now(), coalesce(last_attempt_at, now())
                                                                 + make_interval(secs => $4)) END
             WHERE id = $1",
        )
        .bind(id)
        .bind(status_code.map(i32::from))
        .bind(error)
        .bind(retry_in.map(|d| d.as_secs_f64())),
    };
    query.execute(pool).await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: Uuid,
    #[sqlx(try_from = "String")]
    pub event: WebhookEvent,
    pub connection_id: Uuid,
    pub run_id: Uuid,
    #[sqlx(try_from = "String")]
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// A page of a webhook's deliveries, newest first (the cursor is the last id seen).
pub async fn list(
    pool: &PgPool,
    webhook_id: Uuid,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<DeliveryRow>, StoreError> {
    let rows = sqlx::query_as(
        "SELECT id, event, connection_id, run_id, status, attempts, created_at, next_attempt_at,
                last_attempt_at, last_status_code, last_error, delivered_at
         FROM webhook_deliveries WHERE webhook_id = $1 AND ($2::uuid IS NULL OR id < $2)
         ORDER BY id DESC LIMIT $3",
    )
    .bind(webhook_id)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// Forgets deliveries that ended (delivered or failed) more than `days` ago,
/// with the same retention as the run history. Pending ones always stay.
pub async fn prune(pool: &PgPool, days: u32) -> Result<u64, StoreError> {
    let deleted = sqlx::query(
        "DELETE FROM webhook_deliveries
         WHERE status <> 'pending' AND created_at < now() - make_interval(days => $1)",
    )
    .bind(i32::try_from(days).unwrap_or(i32::MAX))
    .execute(pool)
    .await?;
    Ok(deleted.rows_affected())
}
