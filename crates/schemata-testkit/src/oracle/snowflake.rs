//! Random DDL on a Snowflake database (fakesnow): schemas, tables, views,
//! columns added, dropped and renamed, comments and primary keys, with names
//! that hold dots, quotes and capitals (fakesnow cannot hold a dot in a
//! schema's name). What the source holds is read the way a refresh reads it.

use super::{Catalog, Dialect, Names, Rng, double_quoted as q};
use crate::snowflake::{FakeSnow, database_name};
use schemata_core::{ObjectKind, SchemaId, SourceConfig, SourceKind};
use schemata_sources::{
    AccessPolicy, IntrospectionScope, PolicySettings, SourceLimits, connect, introspect_all,
};
use serde_json::{Value, json};
use std::collections::BTreeSet;

const SCHEMA_NAMES: [&str; 4] = ["SALES", "Mixed", "lower", "S"];
const TABLE_NAMES: [&str; 7] = ["T", "ORDERS", "Users", "b.c", "q\"t", "items", "LOGS"];
const COLUMN_NAMES: [&str; 6] = ["ID", "NAME", "Amount", "a.b", "AT", "q\"c"];
const TYPES: [&str; 10] = [
    "NUMBER(10,0)",
    "NUMBER(12,2)",
    "VARCHAR(20)",
    "TEXT",
    "BOOLEAN",
    "DATE",
    "TIMESTAMP_NTZ",
    "VARIANT",
    "FLOAT",
    "TIME",
];

pub struct SnowflakeSource {
    server: &'static FakeSnow,
    database: String,
    /// Schemas, empty ones included (a refresh lists objects, not schemas).
    schemas: BTreeSet<String>,
    names: Names,
    policy: AccessPolicy,
}

impl SnowflakeSource {
    pub async fn new() -> Self {
        let server = FakeSnow::shared().await;
        let database = database_name();
        server
            .database(
                &database,
                "CREATE SCHEMA SALES;
                 CREATE TABLE SALES.T (ID NUMBER(10,0) PRIMARY KEY, NAME VARCHAR(20) NOT NULL DEFAULT 'x');
                 CREATE TABLE SALES.\"b.c\" (ID NUMBER(10,0), \"q\"\"c\" TEXT);
                 CREATE VIEW SALES.V AS SELECT ID FROM SALES.T",
            )
            .await;
        let policy = AccessPolicy::build(
            &PolicySettings::local_development(),
            "postgres://u@127.0.0.1:1/none",
        )
        .await
        .expect("a policy");
        Self {
            server,
            database,
            schemas: BTreeSet::from(["SALES".to_owned()]),
            names: Names::default(),
            policy,
        }
    }

    fn qualified(&self, id: &SchemaId) -> String {
        format!("{}.{}.{}", q(&self.database), q(&id.schema), q(&id.name))
    }

    fn schema(&self, schema: &str) -> String {
        format!("{}.{}", q(&self.database), q(schema))
    }

    fn column(&mut self, rng: &mut Rng) -> String {
        let name = self.names.next(rng, &COLUMN_NAMES);
        let kind = rng.pick(&TYPES).copied().unwrap_or("TEXT");
        let mut definition = format!("{} {kind}", q(&name));
        if rng.chance(20) {
            definition.push_str(" NOT NULL");
        }
        definition
    }

    async fn run(&self, statements: Vec<String>) -> Result<String, String> {
        let text = statements.join("; ");
        let refs: Vec<&str> = statements.iter().map(String::as_str).collect();
        self.server
            .execute(&refs)
            .await
            .map(|_| text.clone())
            .map_err(|e| format!("{text} ({e})"))
    }

    /// The objects a refresh reads now, with each table's columns.
    async fn objects(&self) -> Vec<(SchemaId, ObjectKind, Vec<String>)> {
        let config = SourceConfig::parse(SourceKind::Snowflake, &self.configuration())
            .expect("the oracle's configuration parses");
        let source = connect(
            SourceKind::Snowflake,
            &config,
            SourceLimits::default(),
            &self.policy,
        )
        .expect("a source");
        match introspect_all(&source, &IntrospectionScope::default()).await {
            Ok((_, objects)) => objects
                .into_iter()
                .map(|o| {
                    let columns = o.fields.iter().map(|f| f.name.clone()).collect();
                    (o.id(), o.kind, columns)
                })
                .collect(),
            Err(_) => vec![],
        }
    }
}

impl Dialect for SnowflakeSource {
    fn kind(&self) -> &'static str {
        "snowflake"
    }

    fn configuration(&self) -> Value {
        json!({"account": "acme", "user": "oracle", "password": "oracle-password",
               "database": self.database, "endpoint": self.server.endpoint})
    }

    /// The same database, named as a quoted identifier.
    fn other_configuration(&self) -> Value {
        let mut other = self.configuration();
        other["database"] = json!(q(&self.database));
        other
    }

    async fn catalog(&mut self) -> Catalog {
        let objects = self.objects().await;
        let mut schemas = self.schemas.clone();
        schemas.extend(objects.iter().map(|(id, _, _)| id.schema.clone()));
        Catalog {
            schemas: schemas.into_iter().collect(),
            objects: objects
                .into_iter()
                .map(|(id, kind, _)| (id, kind == ObjectKind::Table))
                .collect(),
        }
    }

    async fn change(&mut self, rng: &mut Rng, catalog: &Catalog) -> Result<String, String> {
        let tables: Vec<SchemaId> = catalog.tables().into_iter().cloned().collect();
        let views: Vec<SchemaId> = catalog.views().into_iter().cloned().collect();
        let schemas: Vec<String> = catalog.schemas.clone();
        let schema = rng.pick(&schemas).cloned().unwrap_or("SALES".into());
        let many = catalog.objects.len() > 20;
        let new_table = |source: &mut Self, rng: &mut Rng, schema: &str| {
            let columns: Vec<String> = (0..1 + rng.below(4)).map(|_| source.column(rng)).collect();
            let name = source.names.next(rng, &TABLE_NAMES);
            format!(
                "CREATE TABLE {} ({})",
                source.qualified(&SchemaId::new(schema, name)),
                columns.join(", ")
            )
        };
        let Some(table) = rng
            .pick(&tables)
            .cloned()
            .filter(|_| !(tables.len() < 3 && rng.chance(60)))
        else {
            let sql = new_table(self, rng, &schema);
            return self.run(vec![sql]).await;
        };
        let t = self.qualified(&table);
        // A view over a table that changes shape may no longer bind: the
        // views of the table's schema go first.
        let views_first: Vec<String> = views
            .iter()
            .filter(|v| v.schema == table.schema)
            .map(|v| format!("DROP VIEW {}", self.qualified(v)))
            .collect();
        let columns = self
            .objects()
            .await
            .into_iter()
            .find(|(id, _, _)| *id == table)
            .map(|(_, _, columns)| columns)
            .unwrap_or_default();
        let column = rng.pick(&columns).cloned().unwrap_or("ID".into());
        let c = q(&column);
        let with_views_dropped = |statement: String| {
            let mut all = views_first.clone();
            all.push(statement);
            all
        };
        let statements = match rng.below(13) {
            0 | 1 if !many => vec![new_table(self, rng, &schema)],
            0..=2 => with_views_dropped(format!("DROP TABLE {t}")),
            3 => {
                let name = self.names.next(rng, &TABLE_NAMES);
                with_views_dropped(format!(
                    "ALTER TABLE {t} RENAME TO {}",
                    self.qualified(&SchemaId::new(&table.schema, name))
                ))
            }
            4 => {
                let name = self.names.next(rng, &["V", "v.w", "View"]);
                vec![format!(
                    "CREATE VIEW {} AS SELECT {c} FROM {t}",
                    self.qualified(&SchemaId::new(&table.schema, name))
                )]
            }
            5 => match rng.pick(&views) {
                Some(view) => vec![format!("DROP VIEW {}", self.qualified(view))],
                None => {
                    let name = self.names.next(rng, &["V"]);
                    vec![format!(
                        "CREATE VIEW {} AS SELECT * FROM {t}",
                        self.qualified(&SchemaId::new(&table.schema, name))
                    )]
                }
            },
            6 => {
                let definition = self.column(rng);
                with_views_dropped(format!("ALTER TABLE {t} ADD COLUMN {definition}"))
            }
            7 if columns.len() > 1 => {
                with_views_dropped(format!("ALTER TABLE {t} DROP COLUMN {c}"))
            }
            7 | 8 => {
                let name = self.names.next(rng, &["RENAMED", "r.n", "Re"]);
                with_views_dropped(format!("ALTER TABLE {t} RENAME COLUMN {c} TO {}", q(&name)))
            }
            9 => vec![format!(
                "COMMENT ON TABLE {t} IS 'comment {}'",
                self.names.count()
            )],
            10 => vec![format!("ALTER TABLE {t} ADD PRIMARY KEY ({c})")],
            11 => {
                let name = self.names.next(rng, &SCHEMA_NAMES);
                let result = self
                    .run(vec![format!("CREATE SCHEMA {}", self.schema(&name))])
                    .await;
                if result.is_ok() {
                    self.schemas.insert(name);
                }
                return result;
            }
            _ => {
                let victim = rng.pick(&schemas).cloned().unwrap_or_default();
                if victim == "SALES" {
                    let sql = new_table(self, rng, &victim);
                    return self.run(vec![sql]).await;
                }
                let result = self
                    .run(vec![format!(
                        "DROP SCHEMA {} CASCADE",
                        self.schema(&victim)
                    )])
                    .await;
                if result.is_ok() {
                    self.schemas.remove(&victim);
                }
                return result;
            }
        };
        self.run(statements).await
    }
}
