//! Benchmarks, separate from the tests: they print figures and compare with a
//! reference measured in the same run; they assert nothing.
//!
//! - `schemata-bench refresh [ITERATIONS] [FIXTURE]`: one fixture, repeatedly.
//! - `schemata-bench introspect [--large] [--skip-mariadb] [--only-dynamodb] [--only-snowflake] [--write-docs]`:
//!   large PostgreSQL and MariaDB catalogs against `pg_dump` / `mysqldump`,
//!   500 DynamoDB tables on moto against a boto3 `describe_table` loop, and
//!   2,000 Snowflake tables on fakesnow against the Python connector.
//! - `schemata-bench scheduler [CONNECTIONS] [SECONDS] [WORKERS] [CONCURRENCY] [CAPACITY_SECONDS]`: the
//!   auto-refresh scheduler's search and the refreshes a second a worker sustains.
//! - `schemata-bench queue [SCHEMATA_BINARY] [CONNECTIONS] [DRAIN]`: enqueue
//!   rate, status reads, pickup latency and drain, API and workers as processes.

mod catalogs;
mod dynamodb_catalog;
mod introspect;
mod queue;
mod refresh;
mod scheduler;
mod snowflake_catalog;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    schemata_testkit::install_tls();
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("refresh") => refresh::run(args.collect()).await,
        Some("introspect") => introspect::run(args.collect()).await,
        Some("scheduler") => scheduler::run(args.collect()).await,
        Some("queue") => queue::run(args.collect()).await,
        _ => {
            eprintln!(
                "usage: schemata-bench refresh [ITERATIONS] [FIXTURE] | introspect [--large] [--skip-mariadb] [--only-dynamodb] [--only-snowflake] [--write-docs] | scheduler [CONNECTIONS] [SECONDS] [WORKERS] [CONCURRENCY] [CAPACITY_SECONDS] | queue [SCHEMATA_BINARY] [CONNECTIONS] [DRAIN]"
            );
            std::process::exit(2);
        }
    }
}
