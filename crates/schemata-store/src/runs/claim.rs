//! Workers claim runs with session-level advisory locks held on a session of
//! their own for as long as the refresh runs:
//!
//! - the connection's lock (`-lock_key`): two workers never refresh one
//!   connection at once;
//! - the run's lock (`lock_key`): proof the run's worker is alive. PostgreSQL
//!   releases it the moment that worker's session ends, crash or not.
//!
//! Sessions come from a pool of their own ([`ClaimPool`]): opening a
//! PostgreSQL session per refresh cost a few milliseconds of every pickup. A
//! session goes back to that pool only after it released every lock; one
//! dropped mid-refresh (an aborted task) is closed instead, so its locks can
//! never outlive the refresh.

use super::{COLUMNS, RunRow, admit};
use crate::{StoreError, connections, queue};
use schemata_core::{RefreshJob, RunStatus};
use sqlx::{
    Connection, PgConnection, PgPool, Postgres, pool::PoolConnection, postgres::PgPoolOptions,
};
use std::time::Duration;
use uuid::Uuid;

/// How a delivery of a refresh job went at the door.
#[derive(Debug)]
pub enum Claim {
    /// This worker now runs the run.
    Claimed(Box<RunRow>),
    /// The connection (or this very run) is being refreshed by a live worker.
    Busy,
    /// Its organization already has its share of worker slots in use.
    OverShare,
    /// Its source's server already has its cap of refreshes reading it.
    SourceAtCapacity,
    /// The run is finished, cancelled, gone, or this delivery is not its current job.
    Stale,
}

/// Times one run may be handed back by stopping workers: a hand-back costs
/// no attempt, so without a limit a run whose worker is stopped on every try
/// (a deployment that restarts workers faster than the run takes) would
/// circle for ever.
pub const MAX_HAND_BACKS: i32 = 5;

/// How handing a run back to the queue went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandBack {
    /// At the front of the queue again, its attempt not counted.
    HandedBack,
    /// Handed back [`MAX_HAND_BACKS`] times already: the caller fails it.
    LimitReached,
    /// No longer this worker's run (finished, cancelled, taken over).
    NotOurs,
}

/// Status, delivery, run lock, connection lock, organization and source server.
type ClaimFacts = (String, Option<String>, i64, i64, Uuid, Option<String>);

/// Caps on concurrent refreshes across every worker; 0 means no cap.
#[derive(Debug, Clone, Copy, Default)]
pub struct Slots {
    /// Refreshes of one organization: one tenant's burst cannot take every worker.
    pub per_organization: u32,
    /// Refreshes reading one source server (whatever their connection or
    /// organization): no server is hammered, and one slow server cannot
    /// take every worker.
    pub per_source_server: u32,
}

/// At most this many slots of anything.
const SLOT_SPACE: i32 = 1 << 20;

/// Sessions for claims, on our database, apart from the pool that runs
/// queries: a claim session is held for a whole refresh.
#[derive(Clone)]
pub struct ClaimPool(PgPool);

impl ClaimPool {
    /// Up to `size` sessions, with `pool`'s connection settings; opened on
    /// first use and closed after a minute idle.
    pub fn new(pool: &PgPool, size: u32) -> Self {
        let options = pool.connect_options().as_ref().clone();
        Self(
            PgPoolOptions::new()
                .max_connections(size.max(1))
                .min_connections(0)
                .idle_timeout(Duration::from_secs(60))
                .acquire_timeout(pool.options().get_acquire_timeout())
                .connect_lazy_with(options),
        )
    }
}

/// The session whose advisory locks stand for a running refresh.
pub struct ClaimSession {
    /// `None` once closed.
    conn: Option<PoolConnection<Postgres>>,
}

impl ClaimSession {
    /// A session of `pool`, holding no lock.
    pub async fn open(pool: &ClaimPool) -> Result<Self, StoreError> {
        let conn = pool.0.acquire().await?;
        Ok(Self { conn: Some(conn) })
    }

    fn conn(&mut self) -> &mut PgConnection {
        self.conn
            .as_mut()
            .expect("a claim session is used only until it is closed")
    }

    /// Takes the connection's and the run's locks, one of the run's
    /// organization's slots and one of its source server's slots (across
    /// every worker; a zero in `slots` means no cap), then marks the run
    /// running and counts the attempt. `task_id` is the delivery being worked on.
    pub async fn claim(
        &mut self,
        run_id: Uuid,
        task_id: &str,
        slots: Slots,
    ) -> Result<Claim, StoreError> {
        let found: Option<ClaimFacts> = sqlx::query_as(
            "SELECT r.status, r.task_id, r.lock_key, c.lock_key, r.organization_id, c.source_server
             FROM refresh_runs r JOIN connections c ON c.id = r.connection_id WHERE r.id = $1",
        )
        .bind(run_id)
        .fetch_optional(self.conn())
        .await?;
        let Some((status, current_task, run_key, connection_key, organization_id, server)) = found
        else {
            return Ok(Claim::Stale);
        };
        if !status.parse::<RunStatus>()?.is_active() || current_task.as_deref() != Some(task_id) {
            return Ok(Claim::Stale);
        }
        if !self.try_lock(-connection_key).await? {
            return Ok(Claim::Busy);
        }
        if !self.try_lock(run_key).await? {
            self.unlock_all().await?;
            return Ok(Claim::Busy);
        }
        // Server names start with a source type (`postgresql://`, `sqlite:`),
        // so an organization's slots never share a name with a server's.
        if slots.per_organization > 0
            && !self
                .take_named_slot(
                    &format!("organization:{organization_id}"),
                    slots.per_organization,
                )
                .await?
        {
            self.unlock_all().await?;
            return Ok(Claim::OverShare);
        }
        if let Some(server) = server
            && slots.per_source_server > 0
            && !self
                .take_server_slot(&server, organization_id, slots.per_source_server)
                .await?
        {
            self.unlock_all().await?;
            return Ok(Claim::SourceAtCapacity);
        }
        let claimed: Option<RunRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE refresh_runs SET status = 'running', attempt = attempt + 1,
                 started_at = coalesce(started_at, now()), next_attempt_at = NULL
             WHERE id = $1 AND status IN ('queued', 'running') AND task_id = $2
             RETURNING {COLUMNS}"
        )))
        .bind(run_id)
        .bind(task_id)
        .fetch_optional(self.conn())
        .await?;
        match claimed {
            Some(run) => Ok(Claim::Claimed(Box::new(run))),
            None => {
                self.unlock_all().await?;
                Ok(Claim::Stale)
            }
        }
    }

    async fn try_lock(&mut self, key: i64) -> Result<bool, StoreError> {
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(self.conn())
            .await?;
        Ok(locked)
    }

    /// Gives a claimed run back to the queue: a new delivery at the front,
    /// the run `queued` again with this attempt uncounted. The claim's locks
    /// are released before the commit makes the delivery visible, so the
    /// worker that the commit's NOTIFY wakes finds the connection free.
    /// [`HandBack::NotOurs`] when the run is no longer this delivery's,
    /// [`HandBack::LimitReached`] (nothing changed) when it was handed back
    /// [`MAX_HAND_BACKS`] times already.
    pub async fn hand_back(
        &mut self,
        pool: &PgPool,
        run_id: Uuid,
        connection_id: Uuid,
        task_id: &str,
    ) -> Result<HandBack, StoreError> {
        let mut tx = pool.begin().await?;
        if !connections::lock(&mut tx, connection_id).await? {
            return Ok(HandBack::NotOurs);
        }
        let handed: Option<i32> = sqlx::query_scalar(
            "UPDATE refresh_runs SET status = 'queued', attempt = greatest(attempt - 1, 0),
                 objects_done = NULL, objects_total = NULL, hand_backs = hand_backs + 1
             WHERE id = $1 AND status = 'running' AND task_id = $2 AND hand_backs < $3
             RETURNING hand_backs",
        )
        .bind(run_id)
        .bind(task_id)
        .bind(MAX_HAND_BACKS)
        .fetch_optional(&mut *tx)
        .await?;
        if handed.is_none() {
            let ours: Option<i32> = sqlx::query_scalar(
                "SELECT hand_backs FROM refresh_runs
                 WHERE id = $1 AND status = 'running' AND task_id = $2",
            )
            .bind(run_id)
            .bind(task_id)
            .fetch_optional(&mut *tx)
            .await?;
            return Ok(match ours {
                Some(_) => HandBack::LimitReached,
                None => HandBack::NotOurs,
            });
        }
        let job = RefreshJob {
            run_id,
            connection_id,
        };
        let next = queue::enqueue_first(&mut tx, &job).await?;
        admit::set_task_id(&mut tx, run_id, &next).await?;
        self.unlock_all().await?;
        tx.commit().await?;
        Ok(HandBack::HandedBack)
    }

    /// One of the `slots` slots of a source server, after one of the slots
    /// of that server this organization may hold (half of them, at least
    /// one): one tenant cannot take a shared server's every slot.
    async fn take_server_slot(
        &mut self,
        server: &str,
        organization_id: Uuid,
        slots: u32,
    ) -> Result<bool, StoreError> {
        let share = (slots / 2).max(1);
        // A control character: no configuration can put one in a server name.
        let mine = format!("{server}\u{1}{organization_id}");
        Ok(
            self.take_named_slot(&mine, share).await?
                && self.take_named_slot(server, slots).await?,
        )
    }

    /// One of `slots` slot locks of `name`: single-key advisory locks keyed
    /// by a 64-bit hash of the name and the slot number, held for as long as
    /// this session (exact across workers, freed when a worker dies), and too
    /// wide for anyone to pick a name that collides with another's.
    async fn take_named_slot(&mut self, name: &str, slots: u32) -> Result<bool, StoreError> {
        for slot in 0..i32::try_from(slots).unwrap_or(i32::MAX).min(SLOT_SPACE) {
            let taken: bool = sqlx::query_scalar(
                "SELECT pg_try_advisory_lock(hashtextextended($1 || '#' || $2::text, 0))",
            )
            .bind(name)
            .bind(slot)
            .fetch_one(self.conn())
            .await?;
            if taken {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn unlock_all(&mut self) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_advisory_unlock_all()")
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Releases every lock the session holds and returns it to its pool; a
    /// session that cannot say it released them is closed instead.
    pub async fn close(mut self) {
        if self.conn.is_none() {
            return;
        }
        // The session stays in `self` until it released its locks: dropped
        // meanwhile, `Drop` closes it rather than pool it.
        let released = tokio::time::timeout(
            Duration::from_secs(2),
            sqlx::query("SELECT pg_advisory_unlock_all()").execute(self.conn()),
        )
        .await;
        let Some(conn) = self.conn.take() else {
            return;
        };
        if !matches!(released, Ok(Ok(_))) {
            let _ = tokio::time::timeout(Duration::from_secs(2), conn.detach().close()).await;
        }
    }
}

impl Drop for ClaimSession {
    /// Dropped without [`ClaimSession::close`] (its refresh was aborted): the
    /// session is closed, never pooled, and PostgreSQL releases its locks.
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            drop(conn.detach());
        }
    }
}
