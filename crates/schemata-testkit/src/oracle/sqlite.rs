//! Random DDL on a SQLite file: tables, views, columns added, dropped and
//! renamed, indexes, and the rest (keys, foreign keys, types, nullability,
//! defaults) by rebuilding a table as SQLite's own documentation does, with
//! names that hold dots, quotes and capitals.

use super::{Catalog, Dialect, Names, Rng, double_quoted as q};
use crate::TestApp;
use schemata_core::SchemaId;
use serde_json::{Value, json};
use sqlx::{ConnectOptions, SqliteConnection, sqlite::SqliteConnectOptions};

const SCHEMA: &str = "main";
const TABLE_NAMES: [&str; 7] = ["t", "orders", "Users", "b.c", "q\"t", "items", "logs"];
const TYPES: [&str; 9] = [
    "INTEGER",
    "TEXT",
    "REAL",
    "BLOB",
    "NUMERIC",
    "VARCHAR(20)",
    "DATETIME",
    "BOOLEAN",
    "DECIMAL(10,2)",
];

pub struct SqliteSource {
    path: String,
    conn: SqliteConnection,
    names: Names,
}

impl SqliteSource {
    pub async fn new(app: &TestApp) -> Self {
        let path = app
            .sqlite_file(
                "oracle.db",
                "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT 'x');
                 CREATE TABLE orders (id INTEGER PRIMARY KEY, t_id INTEGER REFERENCES t (id));
                 CREATE TABLE \"b.c\" (id INTEGER, \"q\"\"c\" TEXT);",
            )
            .await;
        let conn = SqliteConnectOptions::new()
            .filename(app.sqlite_root.join(&path))
            .connect()
            .await
            .expect("open the oracle's SQLite file");
        Self {
            path,
            conn,
            names: Names::default(),
        }
    }

    async fn columns(&mut self, table: &str) -> Vec<String> {
        sqlx::query_scalar("SELECT name FROM pragma_table_info(?) ORDER BY cid")
            .bind(table)
            .fetch_all(&mut self.conn)
            .await
            .unwrap_or_default()
    }

    async fn indexes(&mut self, table: &str) -> Vec<String> {
        sqlx::query_scalar("SELECT name FROM pragma_index_list(?) WHERE origin = 'c'")
            .bind(table)
            .fetch_all(&mut self.conn)
            .await
            .unwrap_or_default()
    }

    fn column_definition(&mut self, rng: &mut Rng, name: Option<&str>) -> String {
        let name = name.map_or_else(
            || self.names.next(rng, &["id", "name", "Amount", "a.b", "at"]),
            str::to_owned,
        );
        let kind = rng.pick(&TYPES).copied().unwrap_or("TEXT");
        let mut definition = format!("{} {kind}", q(&name));
        if rng.chance(25) {
            definition.push_str(" NOT NULL DEFAULT 0");
        } else if rng.chance(15) {
            definition.push_str(" DEFAULT 'd'");
        }
        definition
    }

    /// A new definition of `table`: its columns with random types and
    /// constraints, a random key and maybe a foreign key, swapped in.
    fn rebuild(
        &mut self,
        rng: &mut Rng,
        table: &str,
        columns: &[String],
        tables: &[String],
    ) -> String {
        let mut parts: Vec<String> = columns
            .iter()
            .map(|c| self.column_definition(rng, Some(c)))
            .collect();
        if let Some(key) = rng.pick(columns).filter(|_| rng.chance(60)) {
            parts.push(format!("PRIMARY KEY ({})", q(key)));
        }
        if let (Some(column), Some(target)) = (rng.pick(columns), rng.pick(tables))
            && rng.chance(50)
        {
            parts.push(format!(
                "FOREIGN KEY ({}) REFERENCES {}",
                q(column),
                q(target)
            ));
        }
        if let Some(column) = rng.pick(columns).filter(|_| rng.chance(30)) {
            parts.push(format!("UNIQUE ({})", q(column)));
        }
        let staged = format!("oracle_rebuild_{}", self.names.count());
        format!(
            "PRAGMA foreign_keys = OFF; CREATE TABLE {s} ({}); DROP TABLE {t}; ALTER TABLE {s} RENAME TO {t}",
            parts.join(", "),
            s = q(&staged),
            t = q(table)
        )
    }
}

impl Dialect for SqliteSource {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn configuration(&self) -> Value {
        json!({"path": self.path})
    }

    fn other_configuration(&self) -> Value {
        json!({"url": format!("sqlite://{}", self.path)})
    }

    async fn catalog(&mut self) -> Catalog {
        let objects: Vec<(String, String)> = sqlx::query_as(
            "SELECT name, type FROM sqlite_schema WHERE type IN ('table', 'view')
             AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
        )
        .fetch_all(&mut self.conn)
        .await
        .unwrap_or_default();
        Catalog {
            schemas: vec![SCHEMA.into()],
            objects: objects
                .into_iter()
                .map(|(name, kind)| (SchemaId::new(SCHEMA, name), kind == "table"))
                .collect(),
        }
    }

    async fn change(&mut self, rng: &mut Rng, catalog: &Catalog) -> Result<String, String> {
        let tables: Vec<String> = catalog.tables().iter().map(|id| id.name.clone()).collect();
        let views: Vec<String> = catalog.views().iter().map(|id| id.name.clone()).collect();
        let many = catalog.objects.len() > 20;
        let Some(table) = rng
            .pick(&tables)
            .cloned()
            .filter(|_| !(tables.len() < 3 && rng.chance(60)))
        else {
            let columns: Vec<String> = (0..1 + rng.below(4))
                .map(|_| self.column_definition(rng, None))
                .collect();
            let name = self.names.next(rng, &TABLE_NAMES);
            return super::run_ddl(
                &mut self.conn,
                format!("CREATE TABLE {} ({})", q(&name), columns.join(", ")),
            )
            .await;
        };
        let t = q(&table);
        let columns = self.columns(&table).await;
        let column = rng.pick(&columns).cloned().unwrap_or("id".into());
        let c = q(&column);
        let sql = match rng.below(12) {
            0 | 1 if !many => {
                let columns: Vec<String> = (0..1 + rng.below(4))
                    .map(|_| self.column_definition(rng, None))
                    .collect();
                let name = self.names.next(rng, &TABLE_NAMES);
                format!("CREATE TABLE {} ({})", q(&name), columns.join(", "))
            }
            0..=2 => format!("DROP TABLE {t}"),
            3 => format!(
                "ALTER TABLE {t} RENAME TO {}",
                q(&self.names.next(rng, &TABLE_NAMES))
            ),
            4 => format!(
                "CREATE VIEW {} AS SELECT {c} FROM {t}",
                q(&self.names.next(rng, &["v", "v.w", "View"]))
            ),
            5 => match rng.pick(&views) {
                Some(view) => format!("DROP VIEW {}", q(view)),
                None => format!(
                    "CREATE VIEW {} AS SELECT * FROM {t}",
                    q(&self.names.next(rng, &["v"]))
                ),
            },
            6 => format!(
                "ALTER TABLE {t} ADD COLUMN {}",
                self.column_definition(rng, None)
            ),
            7 => format!("ALTER TABLE {t} DROP COLUMN {c}"),
            8 => format!(
                "ALTER TABLE {t} RENAME COLUMN {c} TO {}",
                q(&self.names.next(rng, &["renamed", "r.n", "Re"]))
            ),
            9 => match rng.pick(&self.indexes(&table).await).cloned() {
                Some(index) if rng.chance(50) => format!("DROP INDEX {}", q(&index)),
                _ => format!(
                    "CREATE {}INDEX {} ON {t} ({c})",
                    if rng.chance(30) { "UNIQUE " } else { "" },
                    q(&self.names.next(rng, &["ix", "i.x"]))
                ),
            },
            _ => self.rebuild(rng, &table, &columns, &tables),
        };
        super::run_ddl(&mut self.conn, sql).await
    }
}
