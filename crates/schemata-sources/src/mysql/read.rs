//! One refresh's reading of a MySQL or MariaDB catalog.

use super::{
    Flavor,
    assemble::{
        Catalog, ColumnRow, CountRow, ForeignRow, IndexRow, NamedRow, RuleRow, TableRow, assemble,
    },
    privileges::{Grants, grantee},
    scope::{Filter, SYSTEM_SCHEMAS},
};
use crate::{
    Budget, Introspection, IntrospectionScope, Listing, ObjectSink, SourceError, SourceLimits,
    fetch::{Rows, fetch_rows, wire_bytes},
    limits::OBJECTS,
    send,
};
use schemata_core::SchemaId;
use sqlx::{MySql, MySqlConnection, mysql::MySqlRow};
use std::{collections::HashMap, time::Duration};

/// Objects sent to the writer at a time.
const BATCH: usize = 1000;

pub(super) async fn read(
    conn: &mut MySqlConnection,
    _flavor: Flavor,
    scope: &IntrospectionScope,
    limits: &SourceLimits,
    database: Option<&str>,
    sink: ObjectSink,
) -> Result<Introspection, SourceError> {
    let mut reader = Reader {
        conn,
        budget: limits.budget(),
        deadline: limits.round_trip(),
    };
    let available: Vec<String> = reader
        .fetch_strings(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA".into(),
            vec![],
        )
        .await?
        .into_iter()
        .filter(|s| !SYSTEM_SCHEMAS.contains(&s.as_str()))
        .collect();
    let filter = Filter::new(scope, &available, database);
    if filter.is_empty() {
        return Ok(Introspection::Read(Listing::default()));
    }
    let catalog = reader.catalog(&filter).await?;
    let present: Vec<SchemaId> = catalog
        .tables
        .iter()
        .map(|t| SchemaId::new(&t.schema_name, &t.name))
        .collect();
    let (objects, failures) = assemble(catalog);
    let mut objects = objects.into_iter().peekable();
    while objects.peek().is_some() {
        send(&sink, objects.by_ref().take(BATCH).collect()).await?;
    }
    Ok(Introspection::Read(Listing {
        present,
        failures,
        catalog_state: None,
    }))
}

struct Reader<'a> {
    conn: &'a mut MySqlConnection,
    budget: Budget,
    deadline: Duration,
}

impl Reader<'_> {
    async fn catalog(&mut self, filter: &Filter) -> Result<Catalog, SourceError> {
        let max_objects = self.budget.max_objects();
        let max_columns = self.budget.max_columns();
        let (tables_where, binds) = filter.clause("TABLE_SCHEMA", "TABLE_NAME");
        let tables: Vec<TableRow> = self
            .fetch(
                format!(
                    "SELECT TABLE_SCHEMA AS schema_name, TABLE_NAME AS name, TABLE_TYPE AS table_type,
                            ENGINE AS engine, CAST(TABLE_ROWS AS SIGNED) AS row_estimate,
                            LEFT(TABLE_COMMENT, 8193) AS comment, TABLE_COLLATION AS collation,
                            CREATE_OPTIONS AS create_options
                     FROM information_schema.TABLES
                     WHERE {tables_where} AND TABLE_TYPE IN ('BASE TABLE', 'VIEW', 'SYSTEM VERSIONED')"
                ),
                &binds,
                Rows::all(max_objects, OBJECTS),
            )
            .await?;
        let columns: Vec<ColumnRow> = self
            .fetch(
                format!(
                    "SELECT TABLE_SCHEMA AS schema_name, TABLE_NAME AS table_name, COLUMN_NAME AS name,
                            CAST(ORDINAL_POSITION AS SIGNED) AS ordinal, LEFT(COLUMN_DEFAULT, 8193) AS default_value,
                            IS_NULLABLE AS nullable, DATA_TYPE AS data_type, COLUMN_TYPE AS column_type,
                            EXTRA AS extra, LEFT(COLUMN_COMMENT, 8193) AS comment,
                            LEFT(GENERATION_EXPRESSION, 8193) AS generation_expression
                     FROM information_schema.COLUMNS WHERE {tables_where}"
                ),
                &binds,
                Rows::all(max_columns, "columns"),
            )
            .await?;
        // A view that no longer resolves has no columns, and says why in a warning.
        let broken_views = self.broken_views().await?;
        let indexes: Vec<IndexRow> = self
            .fetch(
                format!(
                    "SELECT TABLE_SCHEMA AS schema_name, TABLE_NAME AS table_name, INDEX_NAME AS name,
                            CAST(NON_UNIQUE AS SIGNED) AS non_unique, COLUMN_NAME AS column_name
                     FROM information_schema.STATISTICS WHERE {tables_where}
                     ORDER BY TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX"
                ),
                &binds,
                Rows::all(max_columns, "index columns"),
            )
            .await?;
        let foreign_keys: Vec<ForeignRow> = self
            .fetch(
                format!(
                    "SELECT TABLE_SCHEMA AS schema_name, TABLE_NAME AS table_name, CONSTRAINT_NAME AS name,
                            COLUMN_NAME AS column_name, REFERENCED_TABLE_SCHEMA AS target_schema,
                            REFERENCED_TABLE_NAME AS target_table, REFERENCED_COLUMN_NAME AS target_column
                     FROM information_schema.KEY_COLUMN_USAGE
                     WHERE {tables_where} AND REFERENCED_TABLE_NAME IS NOT NULL
                     ORDER BY TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION"
                ),
                &binds,
                Rows::all(max_columns, "foreign key columns"),
            )
            .await?;
        let (schemas_where, schema_binds) = schema_clause(filter, "CONSTRAINT_SCHEMA");
        let rules: Vec<RuleRow> = self
            .fetch(
                format!(
                    "SELECT CONSTRAINT_SCHEMA AS schema_name, CONSTRAINT_NAME AS name,
                            UPDATE_RULE AS update_rule, DELETE_RULE AS delete_rule
                     FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE {schemas_where}"
                ),
                &schema_binds,
                Rows::all(max_columns, "foreign keys"),
            )
            .await?;
        let uniques: Vec<NamedRow> = self
            .fetch(
                format!(
                    "SELECT TABLE_SCHEMA AS schema_name, TABLE_NAME AS table_name, CONSTRAINT_NAME AS name
                     FROM information_schema.TABLE_CONSTRAINTS
                     WHERE {tables_where} AND CONSTRAINT_TYPE = 'UNIQUE'"
                ),
                &binds,
                Rows::all(max_columns, "unique constraints"),
            )
            .await?;
        let partitions: Vec<CountRow> = self
            .fetch(
                format!(
                    "SELECT TABLE_SCHEMA AS schema_name, TABLE_NAME AS table_name, COUNT(*) AS n
                     FROM information_schema.PARTITIONS
                     WHERE {tables_where} AND PARTITION_NAME IS NOT NULL
                     GROUP BY TABLE_SCHEMA, TABLE_NAME"
                ),
                &binds,
                Rows::all(max_objects, OBJECTS),
            )
            .await?;
        let grants = self.grants(filter).await.ok();
        Ok(Catalog {
            tables,
            columns,
            indexes,
            foreign_keys,
            rules,
            uniques,
            partitions,
            broken_views,
            grants,
        })
    }

    /// Views the last COLUMNS query could not resolve (warning 1356).
    async fn broken_views(&mut self) -> Result<HashMap<(String, String), String>, SourceError> {
        let warnings: Vec<(String, u32, String)> = self
            .fetch("SHOW WARNINGS".into(), &[], Rows::all(65_535, "warnings"))
            .await?;
        Ok(warnings
            .into_iter()
            .filter(|(_, code, _)| *code == 1356)
            .filter_map(|(_, _, message)| {
                let named = message.strip_prefix("View '")?.split_once('\'')?.0;
                let (schema, view) = named.split_once('.')?;
                Some((
                    (schema.to_owned(), view.to_owned()),
                    crate::error::bounded(&message),
                ))
            })
            .collect())
    }

    /// The current account's SELECT grants, its current role's included.
    async fn grants(&mut self, filter: &Filter) -> Result<Grants, SourceError> {
        let user: Vec<String> = self
            .fetch_strings("SELECT CURRENT_USER()".into(), vec![])
            .await?;
        let mut grantees: Vec<String> = user.iter().map(|u| grantee(u)).collect();
        if let Ok(roles) = self
            .fetch_strings("SELECT COALESCE(CURRENT_ROLE(), '')".into(), vec![])
            .await
        {
            for role in roles.into_iter().filter(|r| !r.is_empty() && r != "NONE") {
                if role.starts_with('`') {
                    // MySQL: `role`@`host`, possibly several, comma-separated.
                    grantees.extend(role.split(',').map(|r| r.trim().replace('`', "'")));
                } else {
                    // MariaDB: the bare role name.
                    grantees.extend([format!("'{role}'"), format!("'{role}'@''")]);
                }
            }
        }
        let marks = vec!["?"; grantees.len()].join(", ");
        let global = self
            .fetch_strings(
                format!(
                    "SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES
                     WHERE GRANTEE IN ({marks}) AND PRIVILEGE_TYPE = 'SELECT'"
                ),
                grantees.clone(),
            )
            .await?;
        let schemas = self
            .fetch_strings(
                format!(
                    "SELECT TABLE_SCHEMA FROM information_schema.SCHEMA_PRIVILEGES
                     WHERE GRANTEE IN ({marks}) AND PRIVILEGE_TYPE = 'SELECT'"
                ),
                grantees.clone(),
            )
            .await?;
        let (tables_where, mut binds) = filter.clause("TABLE_SCHEMA", "TABLE_NAME");
        binds.extend(grantees.iter().cloned());
        let tables: Vec<(String, String)> = self
            .fetch(
                format!(
                    "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLE_PRIVILEGES
                     WHERE {tables_where} AND GRANTEE IN ({marks}) AND PRIVILEGE_TYPE = 'SELECT'
                     UNION
                     SELECT DISTINCT TABLE_SCHEMA, TABLE_NAME FROM information_schema.COLUMN_PRIVILEGES
                     WHERE {tables_where} AND GRANTEE IN ({marks}) AND PRIVILEGE_TYPE = 'SELECT'"
                ),
                &[binds.clone(), binds].concat(),
                Rows::all(self.budget.max_objects(), OBJECTS),
            )
            .await?;
        Ok(Grants {
            global: !global.is_empty(),
            schemas,
            tables: tables.into_iter().collect(),
        })
    }

    async fn fetch_strings(
        &mut self,
        sql: String,
        binds: Vec<String>,
    ) -> Result<Vec<String>, SourceError> {
        let rows: Vec<(String,)> = self
            .fetch(sql, &binds, Rows::all(self.budget.max_objects(), OBJECTS))
            .await?;
        Ok(rows.into_iter().map(|(s,)| s).collect())
    }

    /// Runs `sql` with its placeholders bound to `binds`, under the budget.
    async fn fetch<T>(
        &mut self,
        sql: String,
        binds: &[String],
        limit: Rows,
    ) -> Result<Vec<T>, SourceError>
    where
        T: for<'r> sqlx::FromRow<'r, MySqlRow> + Send + Unpin,
    {
        let mut query = sqlx::query::<MySql>(sqlx::AssertSqlSafe(sql));
        for value in binds {
            query = query.bind(value);
        }
        fetch_rows(
            &mut *self.conn,
            query,
            &mut self.budget,
            self.deadline,
            limit,
            wire_bytes,
        )
        .await
    }
}

/// `column IN (…)` over the filter's schemas, for tables without a table name.
fn schema_clause(filter: &Filter, column: &str) -> (String, Vec<String>) {
    super::scope::schema_in(column, &filter.schemas)
}
