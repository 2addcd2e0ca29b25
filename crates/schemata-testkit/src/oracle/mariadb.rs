//! Random DDL on a MariaDB database: tables, views, columns and their types,
//! nullability, defaults, comments, keys, foreign keys, indexes and enum
//! values, with names that hold quotes and capitals (MariaDB's table names
//! cannot hold dots).

use super::{Catalog, Dialect, Names, Rng};
use crate::{MysqlDatabase, mysql_database};
use schemata_core::SchemaId;
use serde_json::{Value, json};
use sqlx::{Connection, MySqlConnection};

const TABLE_NAMES: [&str; 6] = ["t", "orders", "Users", "q\"t", "items", "Logs"];
const TYPES: [&str; 12] = [
    "INT",
    "BIGINT",
    "VARCHAR(20)",
    "TEXT",
    "DECIMAL(10,2)",
    "TINYINT(1)",
    "DATE",
    "DATETIME",
    "JSON",
    "ENUM('a','b')",
    "SET('x','y')",
    "INT UNSIGNED",
];

pub struct MariaDbSource {
    database: MysqlDatabase,
    conn: MySqlConnection,
    names: Names,
}

/// `name` as a MariaDB identifier.
fn q(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

impl MariaDbSource {
    pub async fn new() -> Self {
        let database = mysql_database(
            "CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL DEFAULT 'x', kind ENUM('a','b'));
             CREATE TABLE orders (id BIGINT PRIMARY KEY, t_id INT, FOREIGN KEY (t_id) REFERENCES t (id));",
        )
        .await;
        let conn = MySqlConnection::connect(database.url())
            .await
            .expect("connect to the oracle's MariaDB database");
        Self {
            database,
            conn,
            names: Names::default(),
        }
    }

    /// (name, column type) of a table's columns.
    async fn columns(&mut self, table: &str) -> Vec<(String, String)> {
        sqlx::query_as(
            "SELECT CAST(COLUMN_NAME AS CHAR), CAST(COLUMN_TYPE AS CHAR) FROM information_schema.COLUMNS
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
        )
        .bind(table)
        .fetch_all(&mut self.conn)
        .await
        .unwrap_or_default()
    }

    async fn constraints(&mut self, table: &str, kind: &str) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT CAST(CONSTRAINT_NAME AS CHAR) FROM information_schema.TABLE_CONSTRAINTS
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND CONSTRAINT_TYPE = ?",
        )
        .bind(table)
        .bind(kind)
        .fetch_all(&mut self.conn)
        .await
        .unwrap_or_default()
    }

    async fn indexes(&mut self, table: &str) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT DISTINCT CAST(INDEX_NAME AS CHAR) FROM information_schema.STATISTICS
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME <> 'PRIMARY'",
        )
        .bind(table)
        .fetch_all(&mut self.conn)
        .await
        .unwrap_or_default()
    }

    fn column_definition(&mut self, rng: &mut Rng) -> String {
        let name = self
            .names
            .next(rng, &["id", "name", "Amount", "x\"y", "at"]);
        let kind = rng.pick(&TYPES).copied().unwrap_or("INT");
        let mut definition = format!("{} {kind}", q(&name));
        if rng.chance(30) {
            definition.push_str(" NOT NULL");
        }
        if rng.chance(20) && matches!(kind, "INT" | "BIGINT" | "VARCHAR(20)") {
            definition.push_str(" DEFAULT '1'");
        }
        if rng.chance(20) {
            definition.push_str(&format!(" COMMENT 'col {}'", self.names.count()));
        }
        definition
    }
}

impl Dialect for MariaDbSource {
    fn kind(&self) -> &'static str {
        "mysql"
    }

    fn configuration(&self) -> Value {
        json!({"url": self.database.url()})
    }

    fn other_configuration(&self) -> Value {
        let mut fields = super::discrete_fields(self.database.url());
        fields["port"] = json!(
            url::Url::parse(self.database.url())
                .ok()
                .and_then(|u| u.port())
                .unwrap_or(3306)
        );
        fields
    }

    /// The URL's database scopes the connection: a filter names it or nothing.
    fn filterable_schemas(&self, _catalog: &Catalog) -> Vec<String> {
        vec![self.database.name().to_owned()]
    }

    async fn catalog(&mut self) -> Catalog {
        let objects: Vec<(String, String)> = sqlx::query_as(
            "SELECT CAST(TABLE_NAME AS CHAR), CAST(TABLE_TYPE AS CHAR) FROM information_schema.TABLES
             WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME",
        )
        .fetch_all(&mut self.conn)
        .await
        .unwrap_or_default();
        let schema = self.database.name().to_owned();
        Catalog {
            schemas: vec![schema.clone()],
            objects: objects
                .into_iter()
                .map(|(name, kind)| (SchemaId::new(&schema, name), kind != "VIEW"))
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
                .map(|_| self.column_definition(rng))
                .collect();
            let name = self.names.next(rng, &TABLE_NAMES);
            return super::run_ddl(
                &mut self.conn,
                format!(
                    "CREATE TABLE {} ({}) ENGINE=InnoDB",
                    q(&name),
                    columns.join(", ")
                ),
            )
            .await;
        };
        let t = q(&table);
        let columns = self.columns(&table).await;
        let (column, column_type) = rng
            .pick(&columns)
            .cloned()
            .unwrap_or(("id".into(), "INT".into()));
        let c = q(&column);
        let sql = match rng.below(20) {
            0 | 1 if !many => {
                let columns: Vec<String> = (0..1 + rng.below(4))
                    .map(|_| self.column_definition(rng))
                    .collect();
                let name = self.names.next(rng, &TABLE_NAMES);
                format!(
                    "CREATE TABLE {} ({}) ENGINE=InnoDB",
                    q(&name),
                    columns.join(", ")
                )
            }
            0..=2 => format!("DROP TABLE {t}"),
            3 => format!(
                "RENAME TABLE {t} TO {}",
                q(&self.names.next(rng, &TABLE_NAMES))
            ),
            4 => format!(
                "CREATE VIEW {} AS SELECT {c} FROM {t}",
                q(&self.names.next(rng, &["v", "View"]))
            ),
            5 => match rng.pick(&views) {
                Some(view) => format!("DROP VIEW {}", q(view)),
                None => format!(
                    "CREATE VIEW {} AS SELECT * FROM {t}",
                    q(&self.names.next(rng, &["v"]))
                ),
            },
            6 => format!("ALTER TABLE {t} ADD COLUMN {}", self.column_definition(rng)),
            7 => format!("ALTER TABLE {t} DROP COLUMN {c}"),
            8 => format!(
                "ALTER TABLE {t} RENAME COLUMN {c} TO {}",
                q(&self.names.next(rng, &["renamed", "Re"]))
            ),
            9 => {
                let kind = rng.pick(&TYPES).copied().unwrap_or("TEXT");
                format!("ALTER TABLE {t} MODIFY COLUMN {c} {kind}")
            }
            10 => match rng.below(2) {
                0 => format!("ALTER TABLE {t} MODIFY COLUMN {c} {column_type} NOT NULL"),
                _ => format!("ALTER TABLE {t} MODIFY COLUMN {c} {column_type} NULL"),
            },
            11 => match rng.below(2) {
                0 => format!("ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT NULL"),
                _ => format!("ALTER TABLE {t} ALTER COLUMN {c} DROP DEFAULT"),
            },
            12 => match rng.below(2) {
                0 => format!("ALTER TABLE {t} COMMENT = 'c{}'", self.names.count()),
                _ => format!(
                    "ALTER TABLE {t} MODIFY COLUMN {c} {column_type} COMMENT 'about {}'",
                    self.names.count()
                ),
            },
            13 => match self.constraints(&table, "PRIMARY KEY").await.first() {
                Some(_) => format!("ALTER TABLE {t} DROP PRIMARY KEY"),
                None => format!("ALTER TABLE {t} ADD PRIMARY KEY ({c})"),
            },
            14 => match self.constraints(&table, "UNIQUE").await.first() {
                Some(key) if rng.chance(50) => format!("ALTER TABLE {t} DROP INDEX {}", q(key)),
                _ => format!("ALTER TABLE {t} ADD UNIQUE ({c})"),
            },
            15 => match self.constraints(&table, "FOREIGN KEY").await.first() {
                Some(key) if rng.chance(50) => {
                    format!("ALTER TABLE {t} DROP FOREIGN KEY {}", q(key))
                }
                _ => {
                    let target = rng.pick(&tables).cloned().unwrap_or(table.clone());
                    let target_columns = self.columns(&target).await;
                    let target_column = target_columns
                        .first()
                        .map_or_else(|| q("id"), |(name, _)| q(name));
                    format!(
                        "ALTER TABLE {t} ADD FOREIGN KEY ({c}) REFERENCES {} ({target_column})",
                        q(&target)
                    )
                }
            },
            16 => match rng.below(2) {
                0 => format!(
                    "CREATE INDEX {} ON {t} ({c})",
                    q(&self.names.next(rng, &["ix", "Ix"]))
                ),
                _ => match rng.pick(&self.indexes(&table).await).cloned() {
                    Some(index) => format!("DROP INDEX {} ON {t}", q(&index)),
                    None => format!(
                        "CREATE INDEX {} ON {t} ({c})",
                        q(&self.names.next(rng, &["ix"]))
                    ),
                },
            },
            17 => format!(
                "ALTER TABLE {t} MODIFY COLUMN {c} ENUM('a','b','v{}')",
                self.names.count()
            ),
            _ => format!(
                "ALTER TABLE {t} RENAME TO {}",
                q(&self.names.next(rng, &TABLE_NAMES))
            ),
        };
        super::run_ddl(&mut self.conn, sql).await
    }
}
