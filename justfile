# Everyday commands. The README's two commands work without just.

# Run everything locally: PostgreSQL, migrations, API, worker, demo source.
run:
    cargo run --bin schemata -- dev

# The test suite, against real PostgreSQL.
test:
    cargo test --workspace

# Faster test runs when cargo-nextest is installed.
nextest:
    cargo nextest run --workspace

# The operator page in headless Chromium (installed from Debian if missing);
# screenshots land in target/ui/.
ui-test:
    cargo test -p schemata-testkit --test it operator_page -- --nocapture
    @ls target/ui/

# The cache oracle: a seeded random walk of DDL, refreshes (hard, soft,
# partial, cancelled, killed) and scope changes on PostgreSQL, MariaDB and
# SQLite; after every hard refresh the cache must equal a fresh full read.
# `just fuzz-refresh 5000` walks further; `just fuzz-refresh 150 SEED` replays
# a seed a failure printed.
fuzz-refresh steps="2000" seed="":
    SCHEMATA_ORACLE_STEPS={{steps}} SCHEMATA_ORACLE_SEED={{seed}} cargo test -p schemata-testkit --test it cache_oracle -- --nocapture --test-threads 1

# Formatting and lints, as CI runs them.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

fmt:
    cargo fmt --all

# Refresh benchmark on pagila against pg_dump --schema-only (release build).
bench iterations="30":
    cargo run --release -p schemata-testkit --bin schemata-bench -- refresh {{iterations}}

# Queue benchmark: enqueue rate, status reads (wrk), pickup latency, drain;
# API and workers as processes (release build). Needs wrk.
bench-queue connections="4000" drain="1000":
    cargo build --release -p schemata-cli --bin schemata -p schemata-testkit --bin schemata-bench
    target/release/schemata-bench queue target/release/schemata {{connections}} {{drain}}

# Chaos: API and 2 workers as processes, 200 refreshes, a worker SIGKILLed
# mid-refresh, PostgreSQL stopped 15 s; fails unless nothing is lost, stuck,
# duplicated or half-written.
chaos connections="200" outage="15":
    cargo build -p schemata-cli --bin schemata -p schemata-testkit --bin schemata-chaos
    target/debug/schemata-chaos target/debug/schemata {{connections}} {{outage}}

# Auto-refresh at scale: the search for due connections among 100,000, and the
# steady state at twice the demand of TTL 900 s (lateness, cost per refresh), and capacity.
bench-scheduler connections="100000" seconds="600" workers="1" concurrency="16" capacity="60":
    cargo build --release -p schemata-cli --bin schemata -p schemata-testkit --bin schemata-bench
    target/release/schemata-bench scheduler {{connections}} {{seconds}} {{workers}} {{concurrency}} {{capacity}}

# Large catalogs (10,000 and 50,000 PostgreSQL tables, 5,000 MariaDB tables)
# against pg_dump / mysqldump; rewrites the table in docs/benchmarks.md.
bench-introspect *args="--large --write-docs":
    cargo build --release -p schemata-cli --bin schemata -p schemata-testkit --bin schemata-bench
    target/release/schemata-bench introspect {{args}}

# DynamoDB only: 500 tables on moto against a boto3 describe+scan loop.
bench-dynamodb:
    cargo build --release -p schemata-cli --bin schemata -p schemata-testkit --bin schemata-bench
    target/release/schemata-bench introspect --only-dynamodb

# Snowflake only: 2,000 tables on fakesnow against the Python connector.
bench-snowflake:
    cargo build --release -p schemata-cli --bin schemata -p schemata-testkit --bin schemata-bench
    target/release/schemata-bench introspect --only-snowflake

# Apply migrations to DATABASE_URL.
migrate:
    cargo run --bin schemata -- migrate

# Create an API key: just key acme all
key org scopes="all":
    cargo run --bin schemata -- keys create --org {{org}} --scopes {{scopes}}

# What CI runs.
ci:
    bash .ci/run
