//! Random DDL on a PostgreSQL source: tables, views, materialized views,
//! schemas, columns and their types, nullability, defaults and comments,
//! keys, foreign keys, indexes, partitions and enum values, with names that
//! hold dots, quotes and capitals.

use super::{Catalog, Dialect, Names, Rng, double_quoted as q, qualified};
use crate::{TestDatabase, fresh_database};
use schemata_core::SchemaId;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

const TABLE_NAMES: [&str; 8] = ["t", "orders", "Users", "b.c", "q\"t", "items", "logs", "c"];
const SCHEMA_NAMES: [&str; 4] = ["s1", "a.b", "a", "Sales"];
const TYPES: [&str; 13] = [
    "int",
    "bigint",
    "text",
    "varchar(20)",
    "varchar(40)",
    "numeric(10,2)",
    "boolean",
    "date",
    "timestamptz",
    "jsonb",
    "uuid",
    "mood",
    "int[]",
];

pub struct PostgresSource {
    database: TestDatabase,
    conn: PgConnection,
    names: Names,
}

impl PostgresSource {
    pub async fn new() -> Self {
        let database = fresh_database("oracle").await;
        let mut conn = PgConnection::connect(database.url())
            .await
            .expect("connect to the oracle's source");
        sqlx::raw_sql(
            "CREATE TYPE mood AS ENUM ('sad', 'ok');
             CREATE TABLE t (id int PRIMARY KEY, name text NOT NULL DEFAULT 'x', feeling mood);
             CREATE TABLE orders (id bigint PRIMARY KEY, t_id int REFERENCES t, total numeric(10,2));
             CREATE SCHEMA s1;
             CREATE TABLE s1.\"b.c\" (id int, \"q\"\"c\" text);",
        )
        .execute(&mut conn)
        .await
        .expect("set up the oracle's source");
        Self {
            database,
            conn,
            names: Names::default(),
        }
    }

    /// A query's one text column; `binds` are its parameters in order.
    async fn strings(&mut self, sql: &str, binds: &[&str]) -> Vec<String> {
        let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()));
        for bind in binds {
            query = query.bind(*bind);
        }
        query.fetch_all(&mut self.conn).await.unwrap_or_default()
    }

    async fn columns(&mut self, id: &SchemaId) -> Vec<String> {
        self.strings(
            "SELECT attname::text FROM pg_attribute
             WHERE attrelid = (quote_ident($1) || '.' || quote_ident($2))::regclass
               AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            &[&id.schema, &id.name],
        )
        .await
    }

    async fn constraints(&mut self, id: &SchemaId, kind: &str) -> Vec<String> {
        self.strings(
            &format!(
                "SELECT conname::text FROM pg_constraint
                 WHERE conrelid = (quote_ident($1) || '.' || quote_ident($2))::regclass AND contype = '{kind}'"
            ),
            &[&id.schema, &id.name],
        )
        .await
    }

    fn column_definition(&mut self, rng: &mut Rng) -> String {
        let name = self
            .names
            .next(rng, &["id", "name", "Amount", "a.b", "x\"y", "at"]);
        let kind = rng.pick(&TYPES).copied().unwrap_or("int");
        let mut definition = format!("{} {kind}", q(&name));
        if rng.chance(30) {
            definition.push_str(" NOT NULL");
        }
        if rng.chance(20) && matches!(kind, "int" | "bigint" | "text") {
            definition.push_str(if kind == "text" {
                " DEFAULT 'd'"
            } else {
                " DEFAULT 0"
            });
        }
        definition
    }
}

impl Dialect for PostgresSource {
    fn kind(&self) -> &'static str {
        "postgresql"
    }

    fn configuration(&self) -> Value {
        json!({"url": self.database.url()})
    }

    fn other_configuration(&self) -> Value {
        super::discrete_fields(self.database.url())
    }

    async fn catalog(&mut self) -> Catalog {
        let schemas: Vec<String> = sqlx::query_scalar(
            "SELECT nspname::text FROM pg_namespace
             WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_%'
             ORDER BY 1",
        )
        .fetch_all(&mut self.conn)
        .await
        .unwrap_or_default();
        let objects: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT n.nspname::text, c.relname::text, c.relkind::text FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p', 'v', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
               AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1, 2",
        )
        .fetch_all(&mut self.conn)
        .await
        .unwrap_or_default();
        Catalog {
            schemas,
            objects: objects
                .into_iter()
                .map(|(s, n, k)| (SchemaId::new(s, n), matches!(k.as_str(), "r" | "p")))
                .collect(),
        }
    }

    async fn change(&mut self, rng: &mut Rng, catalog: &Catalog) -> Result<String, String> {
        let tables: Vec<SchemaId> = catalog.tables().into_iter().cloned().collect();
        let views: Vec<SchemaId> = catalog.views().into_iter().cloned().collect();
        let schema = rng
            .pick(&catalog.schemas)
            .cloned()
            .unwrap_or("public".into());
        // Grow while small, shrink while large.
        let many = catalog.objects.len() > 24;
        let Some(table) = rng
            .pick(&tables)
            .cloned()
            .filter(|_| !(tables.len() < 3 && rng.chance(60)))
        else {
            let name = self.names.next(rng, &TABLE_NAMES);
            let columns: Vec<String> = (0..1 + rng.below(4))
                .map(|_| self.column_definition(rng))
                .collect();
            return super::run_ddl(
                &mut self.conn,
                format!(
                    "CREATE TABLE {} ({})",
                    qualified(&SchemaId::new(schema, name)),
                    columns.join(", ")
                ),
            )
            .await;
        };
        let t = qualified(&table);
        let columns = self.columns(&table).await;
        let column = rng.pick(&columns).map(|c| q(c)).unwrap_or_else(|| q("id"));
        let sql = match rng.below(26) {
            0 | 1 if !many => {
                let name = self.names.next(rng, &TABLE_NAMES);
                let mut columns: Vec<String> = (0..1 + rng.below(4))
                    .map(|_| self.column_definition(rng))
                    .collect();
                if rng.chance(40) {
                    columns.push(format!(
                        "PRIMARY KEY ({})",
                        columns[0].split(' ').next().unwrap_or("id")
                    ));
                }
                format!(
                    "CREATE TABLE {} ({})",
                    qualified(&SchemaId::new(schema, name)),
                    columns.join(", ")
                )
            }
            0..=2 => format!("DROP TABLE {t} CASCADE"),
            3 => format!(
                "ALTER TABLE {t} RENAME TO {}",
                q(&self.names.next(rng, &TABLE_NAMES))
            ),
            4 => format!(
                "CREATE VIEW {} AS SELECT {column} FROM {t}",
                qualified(&SchemaId::new(
                    schema,
                    self.names.next(rng, &["v", "v.w", "View"])
                ))
            ),
            5 => format!(
                "CREATE MATERIALIZED VIEW {} AS SELECT * FROM {t}",
                qualified(&SchemaId::new(schema, self.names.next(rng, &["mv", "m.v"])))
            ),
            6 => match rng.pick(&views) {
                Some(view) => format!(
                    "DROP VIEW IF EXISTS {v} CASCADE; DROP MATERIALIZED VIEW IF EXISTS {v} CASCADE",
                    v = qualified(view)
                ),
                None => format!("DROP TABLE {t} CASCADE"),
            },
            7 => format!("CREATE SCHEMA {}", q(&self.names.next(rng, &SCHEMA_NAMES))),
            8 if schema != "public" => format!("DROP SCHEMA {} CASCADE", q(&schema)),
            8 | 9 if schema != "public" => {
                format!(
                    "ALTER SCHEMA {} RENAME TO {}",
                    q(&schema),
                    q(&self.names.next(rng, &SCHEMA_NAMES))
                )
            }
            10 => format!("ALTER TABLE {t} ADD COLUMN {}", self.column_definition(rng)),
            11 => format!("ALTER TABLE {t} DROP COLUMN {column} CASCADE"),
            12 => format!(
                "ALTER TABLE {t} RENAME COLUMN {column} TO {}",
                q(&self.names.next(rng, &["renamed", "r.n", "Re"]))
            ),
            13 => {
                let kind = rng
                    .pick(&["text", "varchar(100)", "bigint", "varchar(10)"])
                    .copied()
                    .unwrap_or("text");
                format!("ALTER TABLE {t} ALTER COLUMN {column} TYPE {kind} USING NULL")
            }
            14 => format!("ALTER TABLE {t} ALTER COLUMN {column} SET NOT NULL"),
            15 => format!("ALTER TABLE {t} ALTER COLUMN {column} DROP NOT NULL"),
            16 => match rng.below(2) {
                0 => format!("ALTER TABLE {t} ALTER COLUMN {column} SET DEFAULT NULL"),
                _ => format!("ALTER TABLE {t} ALTER COLUMN {column} DROP DEFAULT"),
            },
            17 => match rng.below(3) {
                0 => format!("COMMENT ON TABLE {t} IS 'c{}'", self.names.count()),
                1 => format!(
                    "COMMENT ON COLUMN {t}.{column} IS 'about {}'",
                    self.names.count()
                ),
                _ => format!("COMMENT ON TABLE {t} IS NULL"),
            },
            18 => match self.constraints(&table, "p").await.first() {
                Some(key) => format!("ALTER TABLE {t} DROP CONSTRAINT {} CASCADE", q(key)),
                None => format!("ALTER TABLE {t} ADD PRIMARY KEY ({column})"),
            },
            19 => match self.constraints(&table, "u").await.first() {
                Some(key) if rng.chance(50) => {
                    format!("ALTER TABLE {t} DROP CONSTRAINT {}", q(key))
                }
                _ => format!("ALTER TABLE {t} ADD UNIQUE ({column})"),
            },
            20 => match self.constraints(&table, "f").await.first() {
                Some(key) if rng.chance(50) => {
                    format!("ALTER TABLE {t} DROP CONSTRAINT {}", q(key))
                }
                _ => {
                    let target = rng.pick(&tables).cloned().unwrap_or(table.clone());
                    format!(
                        "ALTER TABLE {t} ADD FOREIGN KEY ({column}) REFERENCES {}",
                        qualified(&target)
                    )
                }
            },
            21 => match rng.below(2) {
                0 => format!(
                    "CREATE INDEX {} ON {t} ({column})",
                    q(&self.names.next(rng, &["ix", "i.x"]))
                ),
                _ => {
                    let indexes = self
                        .strings(
                            "SELECT indexrelid::regclass::text FROM pg_index
                             WHERE indrelid = (quote_ident($1) || '.' || quote_ident($2))::regclass AND NOT indisprimary",
                            &[&table.schema, &table.name],
                        )
                        .await;
                    match rng.pick(&indexes) {
                        Some(index) => format!("DROP INDEX {index}"),
                        None => format!("CREATE INDEX ON {t} ({column})"),
                    }
                }
            },
            22 => {
                let parent = qualified(&SchemaId::new(
                    &schema,
                    self.names.next(rng, &["events", "p.e"]),
                ));
                let year = 2000 + rng.below(5);
                format!(
                    "CREATE TABLE {parent} (id int, at date) PARTITION BY RANGE (at);
                     CREATE TABLE {part} PARTITION OF {parent} FOR VALUES FROM ('{year}-01-01') TO ('{next}-01-01')",
                    part = qualified(&SchemaId::new(&schema, format!("part_{}", self.names.count()))),
                    next = year + 1
                )
            }
            23 => {
                let parents = self
                    .strings(
                        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c
                         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'p'",
                        &[],
                    )
                    .await;
                let Some(parent) = rng.pick(&parents).cloned() else {
                    return super::run_ddl(
                        &mut self.conn,
                        format!("COMMENT ON TABLE {t} IS 'no partitions yet'"),
                    )
                    .await;
                };
                let year = 2000 + rng.below(8);
                match rng.below(2) {
                    0 => format!(
                        "CREATE TABLE {part} (id int, at date);
                         ALTER TABLE {parent} ATTACH PARTITION {part} FOR VALUES FROM ('{year}-01-01') TO ('{next}-01-01')",
                        part = qualified(&SchemaId::new(&schema, format!("attached_{}", self.names.count()))),
                        next = year + 1
                    ),
                    _ => {
                        let partitions = self
                            .strings(
                                "SELECT i.inhrelid::regclass::text FROM pg_inherits i
                                 WHERE i.inhparent = $1::regclass",
                                &[&parent],
                            )
                            .await;
                        match rng.pick(&partitions) {
                            Some(part) => format!("ALTER TABLE {parent} DETACH PARTITION {part}"),
                            None => format!("DROP TABLE {parent}"),
                        }
                    }
                }
            }
            24 => match rng.below(2) {
                0 => format!(
                    "ALTER TYPE mood ADD VALUE IF NOT EXISTS 'v{}'",
                    self.names.count()
                ),
                _ => format!(
                    "ALTER TYPE mood RENAME VALUE 'ok' TO 'fine{}'",
                    self.names.count()
                ),
            },
            _ if schema != table.schema => format!("ALTER TABLE {t} SET SCHEMA {}", q(&schema)),
            _ => format!(
                "ALTER TABLE {t} RENAME TO {}",
                q(&self.names.next(rng, &TABLE_NAMES))
            ),
        };
        super::run_ddl(&mut self.conn, sql).await
    }
}
