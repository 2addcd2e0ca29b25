//! Request metrics, by route pattern (never by raw path: ids would make every
//! request a series of its own), method and status.

use std::time::Duration;

/// Records one served request.
pub(crate) fn observe(method: &str, route: Option<String>, status: u16, elapsed: Duration) {
    let route = route.unwrap_or_else(|| "unmatched".into());
    metrics::counter!(
        "schemata_http_requests_total",
        "method" => method.to_owned(), "route" => route.clone(), "status" => status.to_string()
    )
    .increment(1);
    metrics::histogram!(
        "schemata_http_request_duration_seconds",
        "method" => method.to_owned(), "route" => route
    )
    .record(elapsed.as_secs_f64());
}
