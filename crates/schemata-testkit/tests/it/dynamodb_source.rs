//! DynamoDB sources against a real emulator (moto in server mode): key
//! schemas, GSIs and LSIs, TTL and streams, attributes inferred from a bounded
//! sample (mixed types, sparse attributes), a table the key may not read, and
//! fingerprints that spare unchanged tables a new sample.

use schemata_sources::{AwsCredentials, PolicySettings};
use schemata_testkit::{
    TestApp,
    dynamodb::{DenyingProxy, DynamoServer, StsProxy},
};
use serde_json::{Value, json};

fn prefix() -> String {
    format!("t{}_", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

async fn orders_table(server: &DynamoServer, name: &str) {
    server
        .create_table(json!({
            "TableName": name,
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [
                {"AttributeName": "customer", "AttributeType": "S"},
                {"AttributeName": "order_no", "AttributeType": "N"},
                {"AttributeName": "placed", "AttributeType": "S"},
                {"AttributeName": "status", "AttributeType": "S"}
            ],
            "KeySchema": [
                {"AttributeName": "customer", "KeyType": "HASH"},
                {"AttributeName": "order_no", "KeyType": "RANGE"}
            ],
            "GlobalSecondaryIndexes": [{
                "IndexName": "by_status",
                "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["total"]}
            }],
            "LocalSecondaryIndexes": [{
                "IndexName": "by_placed",
                "KeySchema": [
                    {"AttributeName": "customer", "KeyType": "HASH"},
                    {"AttributeName": "placed", "KeyType": "RANGE"}
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"}
            }],
            "StreamSpecification": {"StreamEnabled": true, "StreamViewType": "NEW_IMAGE"}
        }))
        .await;
    server
        .call(
            "UpdateTimeToLive",
            json!({"TableName": name, "TimeToLiveSpecification": {"Enabled": true, "AttributeName": "expires_at"}}),
        )
        .await
        .unwrap();
    server
        .put_items(
            name,
            vec![
                json!({"customer": {"S": "ada"}, "order_no": {"N": "1"}, "placed": {"S": "2026-11-01"}, "status": {"S": "paid"}, "total": {"N": "12.5"}, "coupon": {"S": "WELCOME"}}),
                json!({"customer": {"S": "ada"}, "order_no": {"N": "2"}, "placed": {"S": "2026-11-02"}, "status": {"S": "paid"}, "total": {"S": "n/a"}}),
                json!({"customer": {"S": "bob"}, "order_no": {"N": "1"}, "placed": {"S": "2026-11-03"}, "status": {"S": "open"}, "total": {"N": "3"}, "lines": {"L": [{"S": "x"}]}}),
                json!({"customer": {"S": "cyd"}, "order_no": {"N": "1"}, "placed": {"S": "2026-11-04"}, "status": {"S": "open"}, "total": {"N": "7"}, "meta": {"M": {"gift": {"BOOL": true}}}}),
            ],
        )
        .await;
}

async fn connection(app: &TestApp, endpoint: &str, prefix: &str) -> String {
    app.create_source(
        "dynamo",
        "dynamodb",
        json!({
            "region": "us-east-1",
            "access_key_id": "AKIATESTING",
            "secret_access_key": "TestingSecret-77",
            "endpoint": endpoint,
            "table_prefix": prefix,
        }),
    )
    .await
}

async fn object(app: &TestApp, id: &str, schema_id: &str) -> Value {
    let response = app
        .get(&format!("/api/connections/{id}/schemas/{schema_id}"))
        .await;
    assert_eq!(response.status(), 200, "{schema_id}");
    response.json::<Value>().await.unwrap()["data"].clone()
}

#[tokio::test]
async fn tables_keys_indexes_and_sampled_attributes_are_cached() {
    let server = DynamoServer::shared().await;
    let app = TestApp::spawn().await;
    let prefix = prefix();
    let orders = format!("{prefix}orders");
    orders_table(server, &orders).await;
    let id = connection(&app, &server.endpoint, &prefix).await;
    let shown: Value = app
        .get(&format!("/api/connections/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        shown["data"]["configuration"]["secret_access_key"],
        "********"
    );
    assert_eq!(app.check_health(&id).await["health"], "healthy");

    let worker = app.spawn_worker();
    assert_eq!(app.request_refresh(&id).await.status(), 202);
    let status = app.wait_for_refresh(&id).await;
    assert_eq!(status["cache_status"], "fresh", "{status}");
    eprintln!("status: {}", serde_json::to_string_pretty(&status).unwrap());

    let listed: Value = app
        .get(&format!("/api/connections/{id}/schemas"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"][0]["id"], format!("default.{orders}"));
    assert_eq!(listed["data"][0]["kind"], "table");
    assert_eq!(listed["data"][0]["row_estimate"], 4);

    let table = object(&app, &id, &format!("default.{orders}")).await;
    eprintln!(
        "fields: {}",
        serde_json::to_string_pretty(&table["fields"]).unwrap()
    );
    assert_eq!(table["primary_keys"], json!(["customer", "order_no"]));
    let field = |name: &str| {
        table["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no field {name}"))
    };
    let names: Vec<&str> = table["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        &names[..2],
        ["customer", "order_no"],
        "keys first, in key order"
    );
    assert_eq!(field("order_no")["remote_type"], "N");
    assert_eq!(field("order_no")["type"], "number");
    assert_eq!(field("order_no")["nullable"], false);
    let total = field("total");
    assert_eq!(total["remote_type"], "S|N");
    assert_eq!(total["type"], "json");
    assert_eq!(total["coverage"], 1.0);
    let coupon = field("coupon");
    assert_eq!(
        (coupon["type"].clone(), coupon["nullable"].clone()),
        (json!("string"), json!(true))
    );
    assert_eq!(coupon["coverage"], 0.3, "1 of 4 items, in tenths");
    assert_eq!(field("lines")["type"], "array");
    assert_eq!(field("meta")["type"], "json");

    let indexes = table["indexes"].as_array().unwrap();
    let index = |name: &str| indexes.iter().find(|i| i["name"] == name).cloned().unwrap();
    assert_eq!(
        index("by_status")["definition"],
        "GSI HASH(status) PROJECTION INCLUDE(total)"
    );
    assert_eq!(
        index("by_placed")["definition"],
        "LSI HASH(customer) RANGE(placed) PROJECTION KEYS_ONLY"
    );

    let records: Value = app
        .get(&format!(
            "/api/connections/{id}/schemas/default.{orders}/records?limit=2"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(records["data"].as_array().unwrap().len(), 2);
    assert!(records["data"][0]["order_no"].is_number(), "{records}");
    worker.stop().await;
}

#[tokio::test]
async fn a_table_the_key_may_not_read_makes_the_run_partial_and_samples_stay_bounded() {
    let server = DynamoServer::shared().await;
    let app = TestApp::spawn().await;
    let prefix = prefix();
    let orders = format!("{prefix}orders");
    let secret = format!("{prefix}secret");
    let events = format!("{prefix}events");
    orders_table(server, &orders).await;
    for name in [&secret, &events] {
        server
            .create_table(json!({
                "TableName": name, "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "N"}],
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}]
            }))
            .await;
    }
    // 10,000 items, each with an attribute no other item has: a refresh that
    // read them all would list 10,001 fields.
    let items: Vec<Value> = (0..10_000)
        .map(|i| json!({"id": {"N": i.to_string()}, format!("only_{i}"): {"S": "x"}}))
        .collect();
    server.put_items(&events, items).await;

    let proxy = DenyingProxy::start(&server.endpoint, &secret).await;
    let id = connection(&app, &proxy.endpoint, &prefix).await;
    let worker = app.spawn_worker();
    assert_eq!(app.request_refresh(&id).await.status(), 202);
    let status = app.wait_for_refresh(&id).await;
    assert_eq!(status["cache_status"], "fresh", "{status}");
    let result = &status["last_result"];
    assert_eq!(result["ok"], false, "{result}");
    assert_eq!(result["failed_table_count"], 1);
    let failure = &result["failures"][0];
    assert_eq!(failure["object"], format!("default.{secret}"));
    assert!(
        failure["error"]
            .as_str()
            .unwrap()
            .starts_with("AccessDeniedException: User:"),
        "{failure}"
    );

    let big = object(&app, &id, &format!("default.{events}")).await;
    assert_eq!(big["row_estimate"], 10_000);
    let fields = big["fields"].as_array().unwrap().len();
    assert_eq!(
        fields, 101,
        "the key and the 100 sampled items' own attributes"
    );
    let scans = |table: &str| -> Vec<usize> {
        proxy
            .calls()
            .into_iter()
            .filter(|c| c.operation == "Scan" && c.table == table)
            .map(|c| c.items)
            .collect()
    };
    assert_eq!(
        scans(&events).iter().sum::<usize>(),
        100,
        "{:?}",
        scans(&events)
    );

    // Unchanged tables are not sampled again.
    let calls_before = proxy.calls().len();
    assert_eq!(app.request_refresh(&id).await.status(), 202);
    let again = app.wait_for_refresh(&id).await;
    assert_eq!(again["schema_version"], status["schema_version"]);
    let since = proxy.calls()[calls_before..].to_vec();
    assert!(
        since.iter().all(|c| c.operation != "Scan"),
        "nothing was sampled again: {since:?}"
    );

    // A selective soft refresh reads only the table it names.
    let calls_before = proxy.calls().len();
    let selective = app
        .post_empty(&format!(
            "/api/connections/{id}/schemas/refresh?hard_refresh=false&tables=default.{events}"
        ))
        .await;
    assert_eq!(selective.status(), 202);
    app.wait_for_refresh(&id).await;
    let described: Vec<String> = proxy.calls()[calls_before..]
        .iter()
        .filter(|c| c.operation == "DescribeTable")
        .map(|c| c.table.clone())
        .collect();
    assert_eq!(described, std::slice::from_ref(&events));

    // A changed table is sampled again, and its diff says so.
    server
        .put_items(&orders, vec![json!({"customer": {"S": "dee"}, "order_no": {"N": "9"}, "placed": {"S": "x"}, "status": {"S": "new"}, "gift_note": {"S": "hi"}})])
        .await;
    assert_eq!(app.request_refresh(&id).await.status(), 202);
    let changed = app.wait_for_refresh(&id).await;
    assert_ne!(changed["schema_version"], status["schema_version"]);
    let runs: Value = app
        .get(&format!("/api/connections/{id}/schemas/refreshes?limit=1"))
        .await
        .json()
        .await
        .unwrap();
    let changes = &runs["data"][0]["changes"]["objects_changed"][0];
    assert_eq!(changes["schema_id"], format!("default.{orders}"));
    assert!(
        changes["fields_added"]
            .as_array()
            .unwrap()
            .contains(&json!("gift_note")),
        "{changes}"
    );
    worker.stop().await;
}

#[tokio::test]
async fn the_endpoint_passes_the_access_policy_and_secrets_stay_sealed() {
    let server = DynamoServer::shared().await;
    let app = TestApp::spawn_with(|s| {
        s.sources.policy = schemata_sources::PolicySettings {
            deny_networks: schemata_sources::PolicySettings::parse_networks("127.0.0.0/8").unwrap(),
            sqlite_root: None,
            ..schemata_sources::PolicySettings::local_development()
        }
    })
    .await;
    let proxy = DenyingProxy::start(&server.endpoint, "none").await;
    let id = connection(&app, &proxy.endpoint, &prefix()).await;
    let health = app.check_health(&id).await;
    assert_eq!(health["health"], "unhealthy");
    assert_eq!(health["message"], "refused by policy");
    assert!(proxy.calls().is_empty(), "nothing reached the endpoint");

    // The stored secret is never shown, and `********` cannot carry it elsewhere.
    let shown: Value = app
        .get(&format!("/api/connections/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(!shown.to_string().contains("TestingSecret-77"), "{shown}");
    let moved = app
        .patch(
            &format!("/api/connections/{id}"),
            &json!({"configuration": {
                "region": "us-east-1", "access_key_id": "AKIATESTING",
                "secret_access_key": "********", "endpoint": "http://collector.example:8000"
            }}),
        )
        .await;
    assert_eq!(moved.status(), 400);
}

#[tokio::test]
async fn the_servers_own_credentials_are_lent_only_when_the_operator_says_so() {
    let asking = json!({"region": "us-east-1", "credentials": "environment"});
    // Default: refused before anything is sent, with a message saying why.
    let app = TestApp::spawn().await;
    let id = app
        .create_source("ambient", "dynamodb", asking.clone())
        .await;
    let health = app.check_health(&id).await;
    assert_eq!(health["health"], "unhealthy");
    assert!(
        health["message"]
            .as_str()
            .unwrap()
            .contains("SCHEMATA_DYNAMODB_ENVIRONMENT_CREDENTIALS is off"),
        "{health}"
    );
    let shown: Value = app
        .get(&format!("/api/connections/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["data"]["configuration"], asking);
    // Lent (single-tenant), the server's keys still go to AWS endpoints only.
    let lending = TestApp::spawn_with(|s| {
        s.sources.policy.aws_credentials = Some(schemata_sources::AwsCredentials {
            access_key_id: "AKIAOPERATOR".into(),
            secret_access_key: "OperatorSecret-1".into(),
            session_token: None,
        })
    })
    .await;
    let elsewhere = lending
        .post(
            "/api/connections",
            &json!({"name": "x", "type": "dynamodb", "configuration": {
                "region": "us-east-1", "credentials": "environment",
                "endpoint": "http://collector.example:8000"}}),
        )
        .await;
    assert_eq!(elsewhere.status(), 400);
}

/// DynamoSQL's form: a role and a region. Schemata generates the external
/// id, assumes the role with its own identity (never lent to the
/// connection), caches the credentials, and a role that does not trust the
/// id is an unhealthy connection with AWS's reason.
#[tokio::test]
async fn a_connection_assumes_its_role_with_the_external_id_schemata_generated() {
    let server = DynamoServer::shared().await;
    let prefix = prefix();
    orders_table(server, &format!("{prefix}orders")).await;
    let aws = StsProxy::start(&server.endpoint).await;
    let deployment = |policy: &mut PolicySettings| {
        policy.role_identity = Some(AwsCredentials {
            access_key_id: "AKIADEPLOYMENT".into(),
            secret_access_key: "deployment-secret-91".into(),
            session_token: None,
        });
        policy.sts_endpoint = Some(aws.endpoint.clone());
    };
    let app = TestApp::spawn_with(|s| deployment(&mut s.sources.policy)).await;
    let role_arn = "arn:aws:iam::123456789012:role/schemata-reader";
    let configuration = json!({"region": "us-east-1", "role_arn": role_arn,
        "endpoint": aws.endpoint, "table_prefix": prefix});

    // The caller cannot choose the id (it could borrow another tenant's).
    let mut chosen = configuration.clone();
    chosen["external_id"] = json!("someone-elses-id");
    let refused = app
        .post(
            "/api/connections",
            &json!({"name": "x", "type": "dynamodb", "configuration": chosen}),
        )
        .await;
    assert_eq!(refused.status(), 400);

    let id = app
        .create_source("role", "dynamodb", configuration.clone())
        .await;
    let shown: Value = app
        .get(&format!("/api/connections/{id}"))
        .await
        .json()
        .await
        .unwrap();
    let external_id = shown["data"]["configuration"]["external_id"]
        .as_str()
        .expect("the external id is shown")
        .to_owned();
    assert_eq!(shown["data"]["configuration"]["role_arn"], role_arn);

    // Before the owner puts the id in the role's trust policy: AWS's reason.
    let health = app.check_health(&id).await;
    assert_eq!(health["health"], "unhealthy", "{health}");
    let message = health["message"].as_str().unwrap();
    assert!(
        message.contains("AssumeRole refused: AccessDenied"),
        "{message}"
    );

    aws.trust(&external_id);
    assert_eq!(app.check_health(&id).await["health"], "healthy");
    let mut settings = app.worker_settings();
    deployment(&mut settings.sources.policy);
    let _worker = app.spawn_worker_with(settings);
    assert_eq!(app.request_refresh(&id).await.status(), 202);
    let status = app.wait_for_refresh(&id).await;
    assert_eq!(status["cache_status"], "fresh", "{status}");
    let table = object(&app, &id, &format!("default.{prefix}orders")).await;
    assert_eq!(table["primary_keys"], json!(["customer", "order_no"]));

    // A second connection to the same role has an id of its own, which the
    // role does not trust: the confused deputy has nothing to borrow.
    let other = app.create_source("other", "dynamodb", configuration).await;
    assert_eq!(app.check_health(&other).await["health"], "unhealthy");

    let requests = aws.requests();
    let assumed: Vec<_> = requests
        .iter()
        .filter(|r| r.action == "AssumeRole")
        .collect();
    let granted: Vec<_> = assumed.iter().filter(|r| r.granted).collect();
    assert_eq!(granted.len(), 1, "cached after the first: {assumed:#?}");
    for request in &assumed {
        assert_eq!(request.signed_by, "AKIADEPLOYMENT");
        assert_eq!(request.parameters["RoleArn"], role_arn);
        assert!(request.parameters["RoleSessionName"].starts_with("schemata-"));
        assert!(request.parameters["RoleSessionName"].len() <= 64);
    }
    assert_eq!(granted[0].parameters["ExternalId"], external_id);
    assert_eq!(
        granted[0].parameters["RoleSessionName"],
        format!("schemata-{}", external_id.trim_start_matches("schemata-"))
    );
    let dynamodb: Vec<_> = requests
        .iter()
        .filter(|r| r.action != "AssumeRole")
        .collect();
    assert!(!dynamodb.is_empty());
    assert!(
        dynamodb
            .iter()
            .all(|r| r.signed_by != "AKIADEPLOYMENT" && !r.signed_by.is_empty()),
        "DynamoDB sees the role's credentials only: {dynamodb:#?}"
    );
}
