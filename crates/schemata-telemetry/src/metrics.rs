//! Prometheus metrics: one global recorder per process, rendered by the
//! `/metrics` route of the API and of the worker.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// Histogram buckets in seconds: from a cached read (1 ms) to a large
/// refresh (minutes).
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0, 300.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the global recorder (once per process; later calls return the
/// same handle) and returns what renders it.
pub fn recorder() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets(&BUCKETS)
                .expect("the buckets are not empty");
            match builder.install_recorder() {
                Ok(handle) => handle,
                // Another recorder is installed (an embedding program's):
                // ours still renders what is recorded through it.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

/// The Prometheus text of this process, with the refresh queue's depth
/// (queued, running) as read from the database at scrape time, when it could
/// be read.
///
/// The depth is written into this scrape's text, not into a process-wide
/// gauge: two scrapes at once (two servers in one process, on two databases)
/// must each show their own.
pub fn render_with_queue_depth(depth: Option<(i64, i64)>) -> String {
    let mut text = recorder().render();
    if let Some((queued, running)) = depth {
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!(
            "# HELP schemata_refresh_runs Refresh runs by status, read from the database at scrape time.\n\
             # TYPE schemata_refresh_runs gauge\n\
             schemata_refresh_runs{{status=\"queued\"}} {queued}\n\
             schemata_refresh_runs{{status=\"running\"}} {running}\n"
        ));
    }
    text
}
