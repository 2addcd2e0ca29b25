//! A table as `DescribeTable` (and `DescribeTimeToLive`) tell it: the key
//! schema, the secondary indexes with their projections, the stream and TTL
//! settings; and a fingerprint of what a sample cannot change.

use schemata_core::{Index, ObjectKind, SchemaObject};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// What `DescribeTable` says about one table.
#[derive(Debug, Clone)]
pub(crate) struct Described {
    pub name: String,
    /// Partition key, then sort key, each with its declared type (`S`, `N`, `B`).
    pub keys: Vec<(String, String)>,
    /// Key attributes of the secondary indexes, with their declared types.
    pub index_keys: Vec<(String, String)>,
    pub item_count: Option<i64>,
    indexes: Vec<Index>,
    properties: Map<String, Value>,
}

impl Described {
    pub fn from_answer(table: &Value, ttl: Option<&Value>) -> Self {
        let declared = |name: &str| {
            table["AttributeDefinitions"]
                .as_array()
                .and_then(|defs| defs.iter().find(|d| d["AttributeName"] == name))
                .and_then(|d| d["AttributeType"].as_str())
                .unwrap_or("S")
                .to_owned()
        };
        let keys: Vec<(String, String)> = key_names(&table["KeySchema"])
            .into_iter()
            .map(|name| {
                let kind = declared(&name);
                (name, kind)
            })
            .collect();
        let mut indexes = vec![Index {
            name: "PRIMARY".into(),
            columns: keys.iter().map(|(k, _)| k.clone()).collect(),
            unique: true,
            primary: true,
            definition: None,
        }];
        for (list, kind) in [
            ("GlobalSecondaryIndexes", "GSI"),
            ("LocalSecondaryIndexes", "LSI"),
        ] {
            for index in table[list].as_array().into_iter().flatten() {
                let columns = key_names(&index["KeySchema"]);
                let projection = &index["Projection"];
                let mut projected = projection["ProjectionType"]
                    .as_str()
                    .unwrap_or("ALL")
                    .to_owned();
                if let Some(extra) = projection["NonKeyAttributes"].as_array() {
                    let names: Vec<&str> = extra.iter().filter_map(Value::as_str).collect();
                    projected = format!("{projected}({})", names.join(", "));
                }
                let key = match columns.as_slice() {
                    [hash] => format!("HASH({hash})"),
                    [hash, range, ..] => format!("HASH({hash}) RANGE({range})"),
                    [] => String::new(),
                };
                indexes.push(Index {
                    name: index["IndexName"].as_str().unwrap_or_default().to_owned(),
                    columns,
                    unique: false,
                    primary: false,
                    definition: Some(format!("{kind} {key} PROJECTION {projected}")),
                });
            }
        }
        let index_keys: Vec<(String, String)> = indexes
            .iter()
            .skip(1)
            .flat_map(|i| i.columns.iter())
            .filter(|c| !keys.iter().any(|(k, _)| k == *c))
            .map(|c| (c.clone(), declared(c)))
            .collect();
        let mut properties = Map::new();
        if let Some(mode) = table["BillingModeSummary"]["BillingMode"].as_str() {
            properties.insert("billing_mode".into(), json!(mode));
        }
        let stream = &table["StreamSpecification"];
        if stream["StreamEnabled"] == json!(true) {
            properties.insert(
                "stream".into(),
                json!({"enabled": true, "view_type": stream["StreamViewType"]}),
            );
        }
        if let Some(ttl) = ttl.map(|t| &t["TimeToLiveDescription"])
            && matches!(
                ttl["TimeToLiveStatus"].as_str(),
                Some("ENABLED" | "ENABLING")
            )
        {
            properties.insert("ttl_attribute".into(), ttl["AttributeName"].clone());
        }
        Self {
            name: table["TableName"].as_str().unwrap_or_default().to_owned(),
            keys,
            index_keys,
            item_count: table["ItemCount"].as_i64(),
            indexes,
            properties,
        }
    }

    /// An object with everything but the sampled fields.
    pub fn object(&self, schema: &str) -> SchemaObject {
        let mut object = SchemaObject::new(schema, &self.name, ObjectKind::Table);
        object.row_estimate = self.item_count;
        object.primary_keys = self.keys.iter().map(|(k, _)| k.clone()).collect();
        object.indexes = self.indexes.clone();
        object.properties = self.properties.clone();
        object
    }

    /// Changes when the key schema, an index, the stream, the TTL or the item
    /// count does: the cue to sample the table again.
    pub fn fingerprint(&self) -> String {
        let shape = json!([
            self.keys,
            self.indexes_json(),
            self.properties,
            self.item_count
        ]);
        format!("sha256:{}", hex::encode(Sha256::digest(shape.to_string())))
    }

    fn indexes_json(&self) -> Value {
        serde_json::to_value(&self.indexes).unwrap_or(Value::Null)
    }
}

/// `[{"AttributeName": "pk", "KeyType": "HASH"}, …]` → names, HASH first.
fn key_names(schema: &Value) -> Vec<String> {
    let mut keys: Vec<(bool, String)> = schema
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| {
            Some((
                k["KeyType"] != "HASH",
                k["AttributeName"].as_str()?.to_owned(),
            ))
        })
        .collect();
    keys.sort_by_key(|(not_hash, _)| *not_hash);
    keys.into_iter().map(|(_, name)| name).collect()
}
