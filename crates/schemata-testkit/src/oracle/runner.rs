//! The walk itself: each step a change of the source, a refresh of some kind
//! or a change of the connection's scope, and after every hard refresh the
//! comparison with a brand-new connection's first full refresh.

use super::{Dialect, Rng, diff::differences};
use crate::TestApp;
use schemata_core::{CacheScope, RefreshJob, SchemaId};
use schemata_worker::{RefreshContext, RefreshOutcome, refresh};
use serde_json::{Value, json};
use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};
use uuid::Uuid;

/// What a walk did, for the closing line of the test.
#[derive(Debug, Default)]
pub struct Report {
    pub seed: u64,
    pub steps: usize,
    /// How many of each kind of step ran (`ddl`, `ddl refused`, `hard`…).
    pub counts: BTreeMap<&'static str, usize>,
    /// Comparisons with a fresh full read, all equal.
    pub comparisons: usize,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "seed {} steps {}: {} comparisons with a full read, all equal;",
            self.seed, self.steps, self.comparisons
        )?;
        for (kind, n) in &self.counts {
            write!(f, " {kind} {n}")?;
        }
        Ok(())
    }
}

pub struct Oracle<'a, D: Dialect> {
    app: &'a TestApp,
    ctx: Arc<RefreshContext>,
    dialect: D,
    rng: Rng,
    connection_id: String,
    schema_filter: Vec<String>,
    table_allowlist: Vec<String>,
    log: Vec<String>,
    step: usize,
    report: Report,
    /// Configuration changes so far: odd, the other form is in use.
    configuration_flips: usize,
}

/// How long a refresh may take to end before the walk calls it stuck.
const REFRESH_DEADLINE: Duration = Duration::from_secs(60);

impl<'a, D: Dialect> Oracle<'a, D> {
    pub async fn new(app: &'a TestApp, dialect: D, seed: u64) -> Self {
        let connection_id = app
            .create_connection_with(&json!({
                "name": "oracle", "type": dialect.kind(), "configuration": dialect.configuration(),
            }))
            .await;
        Self {
            app,
            ctx: Arc::new(app.refresh_context().await),
            dialect,
            rng: Rng::new(seed),
            connection_id,
            schema_filter: vec![],
            table_allowlist: vec![],
            log: vec![],
            step: 0,
            configuration_flips: 0,
            report: Report {
                seed,
                ..Report::default()
            },
        }
    }

    /// Walks `steps` steps, then one last hard refresh and comparison.
    pub async fn run(mut self, steps: usize) -> Report {
        eprintln!(
            "oracle: {} seed {} steps {steps} (SCHEMATA_ORACLE_SEED={} to replay)",
            self.dialect.kind(),
            self.report.seed,
            self.report.seed
        );
        self.report.steps = steps;
        self.hard_refresh_and_compare().await;
        for step in 1..=steps {
            self.step = step;
            let roll = self.rng.below(100);
            match roll {
                0..=51 => self.change_source().await,
                52..=63 => self.hard_refresh_and_compare().await,
                64..=71 => {
                    self.refresh("soft", &[("hard_refresh", "false".into())])
                        .await;
                }
                72..=75 => self.partial_refresh().await,
                76..=79 => self.cancelled_refresh().await,
                80..=83 => self.killed_refresh().await,
                84..=86 => self.change_configuration().await,
                87..=90 => self.change_scope_during_a_refresh().await,
                _ => self.change_scope().await,
            }
        }
        self.step = steps + 1;
        self.hard_refresh_and_compare().await;
        self.report
    }

    fn note(&mut self, kind: &'static str, what: String) {
        *self.report.counts.entry(kind).or_default() += 1;
        self.log.push(format!("{:>4} {kind}: {what}", self.step));
    }

    fn fail(&self, what: &str) -> ! {
        let last: Vec<&String> = self.log.iter().rev().take(25).collect();
        let last: Vec<&str> = last.into_iter().rev().map(String::as_str).collect();
        panic!(
            "oracle: {} seed {} step {}: {what}\nlast steps:\n{}\nreplay: SCHEMATA_ORACLE_SEED={} SCHEMATA_ORACLE_STEPS={}",
            self.dialect.kind(),
            self.report.seed,
            self.step,
            last.join("\n"),
            self.report.seed,
            self.report.steps
        );
    }

    async fn change_source(&mut self) {
        let catalog = self.dialect.catalog().await;
        match self.dialect.change(&mut self.rng, &catalog).await {
            Ok(ddl) => self.note("ddl", ddl),
            Err(refused) => self.note("ddl refused", refused),
        }
    }

    async fn hard_refresh_and_compare(&mut self) {
        let Some(status) = self.refresh("hard", &[]).await else {
            return;
        };
        let fresh = self
            .app
            .create_connection_with(&json!({
                "name": format!("oracle-fresh-{}", self.step), "type": self.dialect.kind(),
                "configuration": self.dialect.configuration(),
                "schema_filter": self.schema_filter, "table_allowlist": self.table_allowlist,
            }))
            .await;
        let fresh_status = self.finish(&fresh, &[]).await;
        let Some(fresh_status) = fresh_status else {
            self.fail("the fresh connection's refresh was not accepted");
        };
        if status["cache_status"] != "fresh" {
            // Only where there is nothing to read: every object in scope
            // fails (a scope of broken views), for a new connection too.
            if fresh_status["last_refresh_error"] != status["last_refresh_error"]
                || status["last_refresh_error"].is_null()
            {
                self.fail(&format!(
                    "a hard refresh left the cache {status}; a brand-new connection's: {fresh_status}"
                ));
            }
            self.note("compared", "both failed alike".into());
            return;
        }
        // An object the source fails to describe (a view whose table was
        // dropped) keeps its cached version, which a new connection cannot
        // have: both must fail the same objects, and the rest be equal.
        let failed = failures(&status);
        if failed != failures(&fresh_status) {
            self.fail(&format!(
                "the refresh failed {failed:?}, a brand-new connection's {:?}",
                failures(&fresh_status)
            ));
        }
        let without_failed = |objects: Vec<schemata_core::SchemaObject>| -> Vec<_> {
            objects
                .into_iter()
                .filter(|o| !failed.contains(&o.id().to_string()))
                .collect()
        };
        let cached = without_failed(self.app.cached_objects(&self.connection_id).await);
        let read = without_failed(self.app.cached_objects(&fresh).await);
        let lines = differences(&cached, &read);
        if !lines.is_empty() {
            self.fail(&format!(
                "after a hard refresh the cache differs from a brand-new connection's full read:\n{}",
                lines.join("\n")
            ));
        }
        if failed.is_empty() && status["schema_version"] != fresh_status["schema_version"] {
            self.fail(&format!(
                "equal objects, different versions: {} and {}",
                status["schema_version"], fresh_status["schema_version"]
            ));
        }
        let deleted = self.app.delete(&format!("/api/connections/{fresh}")).await;
        assert_eq!(deleted.status(), 204);
        self.report.comparisons += 1;
        self.note("compared", format!("{} objects equal", cached.len()));
    }

    async fn partial_refresh(&mut self) {
        let catalog = self.dialect.catalog().await;
        let mut query = vec![("hard_refresh", "false".to_owned())];
        if self.rng.chance(50) && !catalog.schemas.is_empty() {
            let schemas = self.rng.subset(&catalog.schemas, 2);
            query.push(("schemas", schemas.join(",")));
        } else {
            let ids: Vec<SchemaId> = catalog.objects.iter().map(|(id, _)| id.clone()).collect();
            if ids.is_empty() {
                return;
            }
            let tables: Vec<String> = self
                .rng
                .subset(&ids, 3)
                .iter()
                .map(ToString::to_string)
                .collect();
            query.push(("tables", tables.join(",")));
        }
        self.refresh("partial", &query).await;
    }

    /// Requests a refresh and drives it to its end; the status after it, or
    /// None when no run was queued.
    async fn refresh(&mut self, kind: &'static str, query: &[(&str, String)]) -> Option<Value> {
        let id = self.connection_id.clone();
        let status = self.finish(&id, query).await;
        self.note(kind, format!("{query:?} → {}", summary(status.as_ref())));
        status
    }

    async fn finish(&self, connection_id: &str, query: &[(&str, String)]) -> Option<Value> {
        let run_id = self.request(connection_id, query).await?;
        self.drive(run_id).await;
        Some(self.app.status(connection_id).await)
    }

    /// `POST …/refresh`; the run's id when it was queued.
    async fn request(&self, connection_id: &str, query: &[(&str, String)]) -> Option<Uuid> {
        let response = self
            .app
            .send(
                self.app
                    .client
                    .post(
                        self.app
                            .url(&format!("/api/connections/{connection_id}/schemas/refresh")),
                    )
                    .query(query)
                    .bearer_auth(&self.app.api_key),
            )
            .await
            .expect("POST refresh");
        let code = response.status();
        let body: Value = response.json().await.expect("JSON");
        if code != 202 {
            self.fail(&format!("a refresh request was answered {code}: {body}"));
        }
        body["data"]["job_id"].as_str().and_then(|j| j.parse().ok())
    }

    /// Runs the run's current delivery as the worker would, until the run
    /// has ended: a delivery deferred, skipped or lost with its worker is
    /// followed by the next, as the reaper and the queue would hand it on.
    async fn drive(&self, run_id: Uuid) {
        let deadline = Instant::now() + REFRESH_DEADLINE;
        loop {
            let (status, task_id, connection_id) = self.run_row(run_id).await;
            if !matches!(status.as_str(), "queued" | "running") {
                return;
            }
            if Instant::now() > deadline {
                self.fail(&format!("refresh run {run_id} did not end ({status})"));
            }
            let job = RefreshJob {
                run_id,
                connection_id,
            };
            match refresh(&self.ctx, job, &task_id).await {
                Ok(RefreshOutcome::Deferred | RefreshOutcome::Skipped) => {
                    // A lost worker's locks may take a moment to be let go.
                    schemata_store::runs::requeue_orphans(&self.app.pool)
                        .await
                        .expect("requeue orphans");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Ok(_) => {}
                Err(error) => self.fail(&format!("the refresh failed in our database: {error:#}")),
            }
        }
    }

    async fn run_row(&self, run_id: Uuid) -> (String, String, Uuid) {
        let (status, task_id, connection_id): (String, Option<String>, Uuid) =
            sqlx::query_as("SELECT status, task_id, connection_id FROM refresh_runs WHERE id = $1")
                .bind(run_id)
                .fetch_one(&self.app.pool)
                .await
                .expect("the run");
        (status, task_id.unwrap_or_default(), connection_id)
    }

    /// The run's current delivery, run on a task of its own (as a worker
    /// would), for a step to interrupt.
    async fn spawn_delivery(
        &self,
        run_id: Uuid,
    ) -> tokio::task::JoinHandle<anyhow::Result<RefreshOutcome>> {
        let (_, task_id, connection_id) = self.run_row(run_id).await;
        let ctx = self.ctx.clone();
        tokio::spawn(async move {
            let job = RefreshJob {
                run_id,
                connection_id,
            };
            refresh(&ctx, job, &task_id).await
        })
    }

    /// A refresh cancelled at a random moment: before its claim, mid-read or
    /// after it ended.
    async fn cancelled_refresh(&mut self) {
        let id = self.connection_id.clone();
        let Some(run_id) = self.request(&id, &[]).await else {
            return;
        };
        let running = self.spawn_delivery(run_id).await;
        tokio::time::sleep(Duration::from_millis(self.rng.below(40) as u64)).await;
        let cancel = self
            .app
            .delete(&format!("/api/connections/{id}/schemas/refreshes/{run_id}"))
            .await;
        let code = cancel.status();
        let _ = running.await;
        self.drive(run_id).await;
        let status = self.app.status(&id).await;
        self.note(
            "cancelled",
            format!("DELETE → {code}, {}", summary(Some(&status))),
        );
    }

    /// A refresh whose worker dies at a random moment (its task is dropped:
    /// the write rolls back, the claim session closes), then is taken over.
    async fn killed_refresh(&mut self) {
        let id = self.connection_id.clone();
        let Some(run_id) = self.request(&id, &[]).await else {
            return;
        };
        let running = self.spawn_delivery(run_id).await;
        tokio::time::sleep(Duration::from_millis(self.rng.below(40) as u64)).await;
        running.abort();
        let _ = running.await;
        self.drive(run_id).await;
        let status = self.app.status(&id).await;
        self.note("killed", summary(Some(&status)));
    }

    /// Another form of the same source's configuration: the cache must turn
    /// stale (it no longer answers to the configuration as given), and the
    /// next hard refresh compares as any other.
    async fn change_configuration(&mut self) {
        self.configuration_flips += 1;
        let configuration = if self.configuration_flips % 2 == 1 {
            self.dialect.other_configuration()
        } else {
            self.dialect.configuration()
        };
        let before = self.app.status(&self.connection_id).await;
        let patched = self
            .app
            .patch(
                &format!("/api/connections/{}", self.connection_id),
                &json!({ "configuration": configuration }),
            )
            .await;
        if patched.status() != 200 {
            let code = patched.status();
            let body = patched.text().await.unwrap_or_default();
            self.fail(&format!(
                "PATCH of the configuration was answered {code}: {body}"
            ));
        }
        let after = self.app.status(&self.connection_id).await;
        if before["cache_status"] == "fresh" && after["cache_status"] != "stale" {
            self.fail(&format!(
                "a new configuration left the cache {} (it was fresh)",
                after["cache_status"]
            ));
        }
        self.note(
            "configuration",
            format!("{configuration} → {}", after["cache_status"]),
        );
    }

    /// A scope change that lands while a refresh reads: whichever commits
    /// first, what is cached afterwards answers to the new scope.
    async fn change_scope_during_a_refresh(&mut self) {
        let id = self.connection_id.clone();
        let Some(run_id) = self.request(&id, &[]).await else {
            return;
        };
        let running = self.spawn_delivery(run_id).await;
        tokio::time::sleep(Duration::from_millis(self.rng.below(30) as u64)).await;
        self.change_scope().await;
        let _ = running.await;
        self.drive(run_id).await;
        let scope = CacheScope::parse(self.schema_filter.clone(), self.table_allowlist.clone())
            .expect("a scope the API accepted");
        for object in self.app.cached_objects(&self.connection_id).await {
            if !scope.admits(&object.id()) {
                self.fail(&format!(
                    "{} was cached by a refresh that raced the scope change",
                    object.id()
                ));
            }
        }
        let status = self.app.status(&id).await;
        self.note("raced", summary(Some(&status)));
    }

    /// New filters and allowlist, checked the moment the PATCH answers: no
    /// object outside them is listed, readable or sampled.
    async fn change_scope(&mut self) {
        let catalog = self.dialect.catalog().await;
        let schemas = self.dialect.filterable_schemas(&catalog);
        let schema_filter = if self.rng.chance(50) || schemas.is_empty() {
            vec![]
        } else {
            self.rng.subset(&schemas, 2)
        };
        let ids: Vec<SchemaId> = catalog.objects.iter().map(|(id, _)| id.clone()).collect();
        let table_allowlist: Vec<String> = if self.rng.chance(60) || ids.is_empty() {
            vec![]
        } else {
            self.rng
                .subset(&ids, 4)
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        let before = self.app.cached_objects(&self.connection_id).await;
        let patched = self
            .app
            .patch(
                &format!("/api/connections/{}", self.connection_id),
                &json!({"schema_filter": schema_filter, "table_allowlist": table_allowlist}),
            )
            .await;
        if patched.status() != 200 {
            let code = patched.status();
            let body = patched.text().await.unwrap_or_default();
            self.fail(&format!("PATCH of the scope was answered {code}: {body}"));
        }
        self.schema_filter = schema_filter;
        self.table_allowlist = table_allowlist;
        let scope = CacheScope::parse(self.schema_filter.clone(), self.table_allowlist.clone())
            .expect("a scope the API accepted");
        self.check_scope(&scope, &before).await;
        self.note(
            "scope",
            format!("{:?} {:?}", self.schema_filter, self.table_allowlist),
        );
    }

    async fn check_scope(&self, scope: &CacheScope, before: &[schemata_core::SchemaObject]) {
        let listed = self.app.all_objects(&self.connection_id).await;
        for object in &listed {
            let id = SchemaId::parse(object["id"].as_str().unwrap_or_default())
                .expect("listed ids parse");
            if !scope.admits(&id) {
                self.fail(&format!("{id} is listed outside the new scope"));
            }
        }
        let Some(outside) = before.iter().map(|o| o.id()).find(|id| !scope.admits(id)) else {
            return;
        };
        let encoded = percent_encoding::utf8_percent_encode(
            &outside.to_string(),
            percent_encoding::NON_ALPHANUMERIC,
        )
        .to_string();
        for path in ["", "/records"] {
            let response = self
                .app
                .get(&format!(
                    "/api/connections/{}/schemas/{encoded}{path}",
                    self.connection_id
                ))
                .await;
            if response.status() != 404 {
                self.fail(&format!(
                    "{outside}{path} answered {} outside the new scope",
                    response.status()
                ));
            }
        }
    }
}

/// The objects the last run failed to read, sorted.
fn failures(status: &Value) -> Vec<String> {
    let mut failed: Vec<String> = status["last_result"]["failures"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["object"].as_str().map(str::to_owned))
        .collect();
    failed.sort();
    failed
}

fn summary(status: Option<&Value>) -> String {
    match status {
        None => "no run".into(),
        Some(status) => format!(
            "{} {}",
            status["cache_status"].as_str().unwrap_or("?"),
            status["last_result"]["message"].as_str().unwrap_or("")
        ),
    }
}
