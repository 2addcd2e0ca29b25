//! 500 DynamoDB tables on moto: our refreshes against the plainest client
//! doing the same reads a first refresh does, a boto3 loop of `list_tables`,
//! then `describe_table`, `describe_time_to_live` and a 100-item `scan` per
//! table, on the same emulator.

use crate::introspect::{Line, Runs, Service, measure};
use anyhow::ensure;
use schemata_testkit::dynamodb::DynamoServer;
use serde_json::{Value, json};
use std::{path::Path, process::Command, time::Instant};

const REFERENCE: &str = r#"
import sys, boto3
client = boto3.client("dynamodb", endpoint_url=sys.argv[1], region_name="us-east-1",
                      aws_access_key_id="AKIABENCH", aws_secret_access_key="bench")
names, start = [], None
while True:
    page = client.list_tables(**({"ExclusiveStartTableName": start} if start else {}))
    names += page["TableNames"]
    start = page.get("LastEvaluatedTableName")
    if not start:
        break
for name in names:
    client.describe_table(TableName=name)
    client.describe_time_to_live(TableName=name)
    client.scan(TableName=name, Limit=100)
print(len(names))
"#;

pub(crate) async fn measure_catalog(
    service: &Service,
    binary: &Path,
    workspace: &Path,
    tables: usize,
) -> anyhow::Result<Vec<Line>> {
    let server = DynamoServer::shared().await;
    let catalog = format!("DynamoDB (moto), {tables} tables");
    eprintln!("generating {catalog}…");
    for n in 0..tables {
        let name = format!("bench_{n:04}");
        server
            .create_table(json!({
                "TableName": name, "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "N"},
                    {"AttributeName": "kind", "AttributeType": "S"}
                ],
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                "GlobalSecondaryIndexes": [{"IndexName": "by_kind",
                    "KeySchema": [{"AttributeName": "kind", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"}}]
            }))
            .await;
        let items: Vec<Value> = (0..20)
            .map(|i| {
                json!({"pk": {"S": format!("p{i}")}, "sk": {"N": i.to_string()}, "kind": {"S": "a"},
                       "amount": if i % 3 == 0 { json!({"S": "n/a"}) } else { json!({"N": "1.5"}) },
                       format!("sparse_{}", i % 4): {"BOOL": true}})
            })
            .collect();
        server.put_items(&name, items).await;
    }
    let python = workspace.join("target/moto/bin/python");
    eprintln!("boto3 list_tables + describe + scan loop…");
    let mut reference = Runs(vec![]);
    for _ in 0..3 {
        let started = Instant::now();
        let output = Command::new(&python)
            .args(["-c", REFERENCE, &server.endpoint])
            .output()?;
        ensure!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        reference.0.push(started.elapsed());
    }
    let worker = service.worker(binary, workspace, "dynamodb").await;
    let configuration = json!({
        "region": "us-east-1", "access_key_id": "AKIABENCH",
        "secret_access_key": "bench", "endpoint": server.endpoint,
    });
    measure(
        service,
        &worker,
        ("dynamodb", "dynamodb", &configuration),
        &catalog,
        reference,
        "boto3 describe+scan loop",
        async |run| {
            let item = json!({"pk": {"S": format!("new{run}")}, "sk": {"N": "0"}, "kind": {"S": "b"},
                              format!("added_{run}"): {"S": "x"}});
            server.put_items(&format!("bench_{:04}", tables / 2), vec![item]).await;
            Ok(())
        },
        0,
    )
    .await
}
