//! 2,000 Snowflake tables on fakesnow: our refreshes against Snowflake's own
//! Python connector running the same catalog statements a first refresh
//! sends (`INFORMATION_SCHEMA.TABLES`, `SHOW VIEWS`, the three `SHOW … KEYS`,
//! `INFORMATION_SCHEMA.COLUMNS`) on the same emulator, every row fetched.

use crate::introspect::{Line, Runs, Service, measure};
use anyhow::ensure;
use schemata_testkit::snowflake::{FakeSnow, database_name, venv};
use serde_json::json;
use std::{path::Path, process::Command, time::Instant};

const SCHEMAS: usize = 4;

const REFERENCE: &str = r#"
import sys, snowflake.connector
endpoint, database, schemas = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
host, port = endpoint.rsplit("//", 1)[1].split(":")
conn = snowflake.connector.connect(user="bench", password="bench", account="acme",
                                   host=host, port=int(port), protocol="http")
cur = conn.cursor()
db = '"' + database + '"'
rows = 0
def run(sql):
    global rows
    cur.execute(sql)
    rows += len(cur.fetchall())
run(f"SELECT * FROM {db}.INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA <> 'INFORMATION_SCHEMA'")
run(f"SHOW VIEWS IN DATABASE {db}")
for kind in ("PRIMARY", "UNIQUE", "IMPORTED"):
    try:
        run(f"SHOW {kind} KEYS IN DATABASE {db}")
    except snowflake.connector.errors.Error:
        for schema in schemas:
            run(f'SHOW {kind} KEYS IN SCHEMA {db}."{schema}"')
run(f"SELECT * FROM {db}.INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA <> 'INFORMATION_SCHEMA'")
print(rows)
"#;

pub(crate) async fn measure_catalog(
    service: &Service,
    binary: &Path,
    workspace: &Path,
    tables: usize,
) -> anyhow::Result<Vec<Line>> {
    let server = FakeSnow::shared().await;
    let database = database_name();
    let catalog = format!("Snowflake (fakesnow), {tables} tables");
    eprintln!("generating {catalog}…");
    let schemas: Vec<String> = (1..=SCHEMAS).map(|s| format!("S{s}")).collect();
    let mut sql = String::new();
    for (s, schema) in schemas.iter().enumerate() {
        sql.push_str(&format!("CREATE SCHEMA {schema};\n"));
        for t in (0..tables).filter(|t| t % SCHEMAS == s) {
            sql.push_str(&format!(
                "CREATE TABLE {schema}.T{t} (ID NUMBER(10,0) PRIMARY KEY, NAME VARCHAR(50) NOT NULL, \
                 AMOUNT NUMBER(12,2), PLACED_AT TIMESTAMP_NTZ, DOC VARIANT);\n"
            ));
        }
        sql.push_str(&format!(
            "CREATE VIEW {schema}.V AS SELECT ID, NAME FROM {schema}.T{s};\n"
        ));
    }
    server.database(&database, &sql).await;
    let python = venv().join("bin/python");
    eprintln!("snowflake-connector-python, the same statements…");
    let mut reference = Runs(vec![]);
    for _ in 0..3 {
        let started = Instant::now();
        let output = Command::new(&python)
            .args([
                "-c",
                REFERENCE,
                &server.endpoint,
                &database,
                &schemas.join(","),
            ])
            .output()?;
        ensure!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        reference.0.push(started.elapsed());
    }
    let worker = service.worker(binary, workspace, "snowflake").await;
    let configuration = json!({
        "account": "acme", "user": "bench", "password": "bench",
        "database": database, "endpoint": server.endpoint,
    });
    measure(
        service,
        &worker,
        ("snowflake", "snowflake", &configuration),
        &catalog,
        reference,
        "Python connector, same statements",
        async |run| {
            server
                .execute(&[&format!(
                    "ALTER TABLE \"{database}\".S1.T0 ADD COLUMN ADDED_{run} INT"
                )])
                .await
                .map_err(anyhow::Error::msg)?;
            Ok(())
        },
        0,
    )
    .await
}
