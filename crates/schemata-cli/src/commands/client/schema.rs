//! `schemata schema CONNECTION [SCHEMA_ID]` and `schemata runs CONNECTION`.

use super::{
    api::{Api, ApiFailure},
    output::{cell, print_json, table},
};
use serde_json::Value;

/// The cached objects, or one object's fields.
pub async fn objects(
    api: &Api,
    json_out: bool,
    connection: &str,
    object: Option<&str>,
) -> Result<i32, ApiFailure> {
    let id = api.resolve(connection).await?;
    if let Some(object) = object {
        // A path segment, not a form value: a space is %20, never `+`; the
        // quotes of an id like `a."b.c"` travel encoded.
        let encoded =
            percent_encoding::utf8_percent_encode(object, percent_encoding::NON_ALPHANUMERIC);
        let found = api
            .get(&format!("/api/connections/{id}/schemas/{encoded}"))
            .await?;
        let data = &found["data"];
        if json_out {
            print_json(data);
            return Ok(0);
        }
        println!(
            "{} ({}, {} fields, primary key: {})",
            cell(&data["id"]),
            cell(&data["kind"]),
            cell(&data["field_count"]),
            data["primary_keys"]
                .as_array()
                .filter(|k| !k.is_empty())
                .map_or_else(
                    || "none".to_owned(),
                    |k| k.iter().map(cell).collect::<Vec<_>>().join(", ")
                )
        );
        let rows: Vec<Vec<String>> = data["fields"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| {
                vec![
                    cell(&f["name"]),
                    cell(&f["type"]),
                    cell(&f["remote_type"]),
                    if f["nullable"] == true { "yes" } else { "no" }.to_owned(),
                    if f["is_primary_key"] == true {
                        "pk"
                    } else {
                        ""
                    }
                    .to_owned(),
                ]
            })
            .collect();
        println!(
            "{}",
            table(&["FIELD", "TYPE", "REMOTE TYPE", "NULL", "KEY"], &rows)
        );
        return Ok(0);
    }
    let all = api.all(&format!("/api/connections/{id}/schemas")).await?;
    if json_out {
        print_json(&Value::Array(all));
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|o| {
            vec![
                cell(&o["id"]),
                cell(&o["kind"]),
                cell(&o["field_count"]),
                cell(&o["row_estimate"]),
            ]
        })
        .collect();
    println!("{}", table(&["OBJECT", "KIND", "FIELDS", "ROWS"], &rows));
    Ok(0)
}

/// The connection's refresh history, newest first (one page).
pub async fn runs(api: &Api, json_out: bool, connection: &str) -> Result<i32, ApiFailure> {
    let id = api.resolve(connection).await?;
    let page = api
        .get(&format!("/api/connections/{id}/schemas/refreshes?limit=50"))
        .await?;
    if json_out {
        print_json(&page["data"]);
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = page["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let changes = &r["changes"];
            let count = |k: &str| changes[k].as_array().map_or(0, Vec::len);
            vec![
                cell(&r["job_id"]),
                cell(&r["status"]),
                cell(&r["trigger"]),
                cell(&r["queued_at"]),
                r["result"]["duration_ms"]
                    .as_i64()
                    .map_or_else(|| "-".to_owned(), |ms| format!("{ms} ms")),
                if changes.is_null() {
                    "-".to_owned()
                } else {
                    format!(
                        "+{} -{} ~{}{}",
                        count("objects_added"),
                        count("objects_removed"),
                        count("objects_changed"),
                        if changes["breaking"] == true {
                            " breaking"
                        } else {
                            ""
                        }
                    )
                },
            ]
        })
        .collect();
    println!(
        "{}",
        table(
            &["JOB", "STATUS", "TRIGGER", "QUEUED", "TOOK", "CHANGES"],
            &rows
        )
    );
    Ok(0)
}
