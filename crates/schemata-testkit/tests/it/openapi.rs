//! The OpenAPI document: it covers every route the app serves (and no other),
//! its examples validate against their schemas, it is served with the
//! rendered page and its assets, and the response check that every other
//! test runs through `TestApp` does catch a drift.

use schemata_testkit::{TestApp, contract::contract};
use serde_json::{Value, json};
use std::collections::BTreeSet;

#[test]
fn every_route_the_app_serves_is_documented_and_nothing_else() {
    let served: BTreeSet<(String, String)> = schemata_api::served_routes()
        .into_iter()
        .map(|(path, method)| (path, method.to_ascii_lowercase()))
        .collect();
    let document = schemata_api::openapi_document();
    let mut documented = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete", "head", "options"] {
            if item.get(method).is_some() {
                documented.insert((path.clone(), method.to_owned()));
            }
        }
    }
    assert!(served.len() >= 26, "{served:?}");
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let not_served: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "served but not documented: {undocumented:?}"
    );
    assert!(
        not_served.is_empty(),
        "documented but not served: {not_served:?}"
    );
}

#[test]
fn every_operation_says_what_it_answers_and_how_it_is_authorized() {
    let document = schemata_api::openapi_document();
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            assert!(
                responses
                    .keys()
                    .any(|status| status.starts_with('2') || status.starts_with('3')),
                "{method} {path} documents no success"
            );
            assert!(responses.contains_key("default"), "{method} {path}");
            let secured = operation.get("security").is_some();
            assert_eq!(
                secured,
                path.starts_with("/api/") && path != "/api/openapi.json",
                "{method} {path}: security"
            );
        }
    }
}

/// Walks the document and validates every `example` against the schema it
/// sits in (schemas, parameters, request bodies and responses alike).
#[test]
fn every_example_in_the_document_validates() {
    let document = contract().document().clone();
    let mut checked = 0;
    let mut failures = Vec::new();
    walk(&document, "#", &mut |pointer, node| {
        let Some(example) = node.get("example") else {
            return;
        };
        // An example beside a schema (parameter, media type) or in one.
        let schema = node.get("schema").cloned().unwrap_or_else(|| {
            let mut schema = node.clone();
            schema.as_object_mut().unwrap().remove("example");
            schema
        });
        checked += 1;
        if let Err(error) = contract().validate_value(pointer, &schema, example) {
            failures.push(error);
        }
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 10, "only {checked} examples in the document");
}

fn walk(node: &Value, pointer: &str, visit: &mut impl FnMut(&str, &Value)) {
    match node {
        Value::Object(fields) => {
            // A `properties` map is keyed by names (a field may be called `example`).
            if !pointer.ends_with("/properties") {
                visit(pointer, node);
            }
            for (key, child) in fields {
                if key != "example" {
                    walk(child, &format!("{pointer}/{key}"), visit);
                }
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                walk(child, &format!("{pointer}/{index}"), visit);
            }
        }
        _ => {}
    }
}

#[test]
fn the_response_check_catches_a_field_the_document_does_not_know() {
    let connection =
        contract().document()["components"]["schemas"]["Connection"]["example"].clone();
    let schema = json!({ "$ref": "#/components/schemas/Connection" });
    contract()
        .validate_value("example", &schema, &connection)
        .expect("the example validates");
    let mut drifted = connection.clone();
    drifted["password"] = json!("hunter2");
    assert!(
        contract()
            .validate_value("drift", &schema, &drifted)
            .is_err()
    );
    let mut wrong_type = connection;
    wrong_type["refresh_ttl_seconds"] = json!("soon");
    assert!(
        contract()
            .validate_value("type", &schema, &wrong_type)
            .is_err()
    );
    // An undocumented status is a mismatch too.
    let error = contract()
        .check("GET", "/healthz", 201, Some("application/json"), b"{}")
        .unwrap_err();
    assert!(error.contains("does not list"), "{error}");
}

#[tokio::test]
async fn the_document_and_its_page_are_served_without_a_key_and_without_a_network() {
    let app = TestApp::spawn().await;
    let served: Value = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served, schemata_api::openapi_document());

    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let docs = no_redirects.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(docs.status(), 307);
    assert_eq!(docs.headers()["location"], "/docs/index.html");

    let page = app
        .client
        .get(app.url("/docs/index.html"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(
        !html.contains("https://"),
        "the page loads nothing from elsewhere"
    );

    let initializer = app
        .client
        .get(app.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(initializer.contains("/api/openapi.json"), "{initializer}");
    let bundle = app
        .client
        .get(app.url("/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(bundle.status(), 200);
    assert!(
        bundle.bytes().await.unwrap().len() > 100_000,
        "the embedded bundle"
    );

    let missing = app.get("/docs/nope.js").await;
    assert_eq!(missing.status(), 404);
}
