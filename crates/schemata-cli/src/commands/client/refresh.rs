//! `schemata refresh CONNECTION [--wait]`: asks for a refresh, and with
//! `--wait` follows it to the end: a progress bar on a terminal, plain lines
//! otherwise, then the result and the change set. Exit code: 0 fresh,
//! 1 failed, 2 partial, 3 timed out.

use super::{
    api::{Api, ApiFailure},
    output::{cell, print_json},
};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use std::{
    io::IsTerminal,
    time::{Duration, Instant},
};

const POLL: Duration = Duration::from_millis(250);

#[derive(Args)]
pub struct RefreshArgs {
    /// The connection's id or name.
    connection: String,
    /// A soft refresh: only what changed (required with --schemas/--tables).
    #[arg(long)]
    soft: bool,
    /// Only these schemas, comma-separated (soft).
    #[arg(long)]
    schemas: Option<String>,
    /// Only these `schema.table` entries, comma-separated (soft).
    #[arg(long)]
    tables: Option<String>,
    /// Follow the refresh to its end.
    #[arg(long)]
    wait: bool,
    /// Give up waiting after this many seconds (exit 3).
    #[arg(long, default_value_t = 600)]
    timeout: u64,
}

pub async fn run(api: &Api, json_out: bool, args: RefreshArgs) -> Result<i32, ApiFailure> {
    let id = api.resolve(&args.connection).await?;
    let mut query = Vec::new();
    if args.soft || args.schemas.is_some() || args.tables.is_some() {
        query.push("hard_refresh=false".to_owned());
    }
    for (name, value) in [("schemas", &args.schemas), ("tables", &args.tables)] {
        if let Some(value) = value {
            query.push(format!("{name}={}", encode(value)));
        }
    }
    let path = format!(
        "/api/connections/{id}/schemas/refresh{}{}",
        if query.is_empty() { "" } else { "?" },
        query.join("&")
    );
    let asked = api.post(&path, None).await?;
    let data = &asked.body["data"];
    if asked.status == 200 {
        // Disabled (skipped), or fresh enough: no run.
        if json_out {
            print_json(data);
        } else {
            println!(
                "{}",
                data["message"]
                    .as_str()
                    .unwrap_or("The cache is fresh enough; no refresh needed.")
            );
        }
        return Ok(0);
    }
    let job = cell(&data["job_id"]);
    if !args.wait {
        if json_out {
            print_json(data);
        } else {
            let how = if data["coalesced"] == true {
                "joined"
            } else {
                "queued"
            };
            println!(
                "Refresh {job} {how} ({}). Follow it: schemata refresh {} --wait, or GET {}",
                cell(&data["status"]),
                args.connection,
                asked.location.as_deref().unwrap_or("…/schemas/status")
            );
        }
        return Ok(0);
    }
    follow(api, &id, &job, Duration::from_secs(args.timeout), json_out).await
}

/// Polls the status until run `job` is no longer active, then reports it.
async fn follow(
    api: &Api,
    id: &str,
    job: &str,
    timeout: Duration,
    json_out: bool,
) -> Result<i32, ApiFailure> {
    let deadline = Instant::now() + timeout;
    let progress = Progress::new(json_out);
    loop {
        let status = api
            .get(&format!("/api/connections/{id}/schemas/status"))
            .await?;
        let active = ["current_job", "next_job"]
            .iter()
            .map(|k| &status["data"][*k])
            .find(|j| j["job_id"] == job)
            .cloned();
        let Some(active) = active else {
            progress.finish();
            break;
        };
        progress.show(&active);
        if Instant::now() >= deadline {
            progress.finish();
            eprintln!(
                "Still {} after {} s; it goes on without us.",
                cell(&active["status"]),
                timeout.as_secs()
            );
            return Ok(3);
        }
        tokio::time::sleep(POLL).await;
    }
    let run = api
        .get(&format!("/api/connections/{id}/schemas/refreshes/{job}"))
        .await?;
    let run = &run["data"];
    if json_out {
        print_json(run);
    } else {
        summarize(run);
    }
    Ok(match run["status"].as_str() {
        Some("succeeded") => 0,
        Some("partial") => 2,
        _ => 1,
    })
}

/// A bar on a terminal; plain lines, one per change, elsewhere; nothing with --json.
struct Progress {
    bar: Option<ProgressBar>,
    plain: bool,
    last: std::cell::RefCell<String>,
}

impl Progress {
    fn new(json_out: bool) -> Self {
        let terminal = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
        // A spinner until the run knows how many objects it reads: a bar of
        // 0/0 would be drawn full.
        let bar = (!json_out && terminal).then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg:<22} ?/? objects  {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Self {
            bar,
            plain: !json_out && !terminal,
            last: std::cell::RefCell::new(String::new()),
        }
    }

    fn show(&self, job: &Value) {
        let phase = match (job["status"].as_str(), job["attempt"].as_i64()) {
            (Some("running"), Some(attempt)) if attempt > 1 => {
                format!("running, attempt {attempt}")
            }
            (Some(status), _) => status.to_owned(),
            _ => "waiting".to_owned(),
        };
        let done = job["progress"]["objects_done"].as_u64().unwrap_or(0);
        let total = job["progress"]["objects_total"].as_u64();
        if let Some(bar) = &self.bar {
            bar.set_message(phase);
            if let Some(total) = total.filter(|t| *t > 0)
                && bar.length() != Some(total)
            {
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} {msg:<22} [{bar:30}] {pos}/{len} objects  {elapsed}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                bar.set_length(total);
            }
            bar.set_position(done);
        } else if self.plain {
            let line = match total {
                Some(total) => format!("{phase}: {done}/{total} objects"),
                None => phase,
            };
            if *self.last.borrow() != line {
                println!("{line}");
                *self.last.borrow_mut() = line;
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The run's outcome and what it changed, for a person.
fn summarize(run: &Value) {
    let result = &run["result"];
    println!(
        "Refresh {} {}{}",
        cell(&run["job_id"]),
        cell(&run["status"]),
        result["duration_ms"]
            .as_i64()
            .map(|ms| format!(" in {ms} ms"))
            .unwrap_or_default()
    );
    if let Some(message) = result["message"].as_str() {
        println!("  {message}");
    } else if let Some(error) = run["error"].as_str() {
        println!("  {error}");
    }
    for failure in result["failures"].as_array().into_iter().flatten() {
        println!(
            "  ! {}: {}",
            cell(&failure["object"]),
            cell(&failure["error"])
        );
    }
    let changes = &run["changes"];
    let listed = |key: &str| changes[key].as_array().cloned().unwrap_or_default();
    let (added, removed, changed) = (
        listed("objects_added"),
        listed("objects_removed"),
        listed("objects_changed"),
    );
    if added.is_empty() && removed.is_empty() && changed.is_empty() {
        println!("  No changes.");
        return;
    }
    println!(
        "  Changes: {} added, {} removed, {} changed{}",
        added.len(),
        removed.len(),
        changed.len(),
        if changes["breaking"] == true {
            " (breaking)"
        } else {
            ""
        }
    );
    for object in &added {
        println!("    + {}", cell(object));
    }
    for object in &removed {
        println!("    - {}", cell(object));
    }
    for object in &changed {
        let names = |key: &str| {
            object[key]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| f.as_str().map_or_else(|| cell(&f["field"]), str::to_owned))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut parts = Vec::new();
        for (sign, key) in [
            ("+", "fields_added"),
            ("-", "fields_removed"),
            ("~", "fields_changed"),
        ] {
            let listed = names(key);
            if !listed.is_empty() {
                parts.push(format!("{sign}{listed}"));
            }
        }
        println!("    ~ {}: {}", cell(&object["schema_id"]), parts.join("  "));
    }
    for reason in changes["breaking_reasons"].as_array().into_iter().flatten() {
        println!("  breaking: {}", cell(reason));
    }
}

/// Percent-encodes a query value.
fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
