//! One refresh's reading of a SQLite file. Objects are read one at a time with
//! SQLite's table-valued pragmas (in-process, so cheap), which isolates a view
//! that no longer resolves: it becomes a failure, the rest is cached.

use super::SCHEMA;
use crate::{
    Budget, Introspection, IntrospectionScope, Listing, ObjectSink, SourceError, SourceLimits,
    fetch::{Rows, fetch_rows, shape_only},
    limits::OBJECTS,
    send,
};
use schemata_core::{
    Field, FieldType, ForeignKey, Index, ObjectKind, Reference, RefreshFailure, SchemaId,
    SchemaObject, UniqueConstraint, annotate_keys,
};
use serde_json::json;
use sqlx::{Sqlite, SqliteConnection, sqlite::SqliteRow};
use std::{collections::HashMap, time::Duration};

/// Objects sent to the writer at a time.
const BATCH: usize = 500;

#[derive(sqlx::FromRow)]
struct ObjectRow {
    kind: String,
    name: String,
}

#[derive(sqlx::FromRow)]
struct ColumnRow {
    cid: i64,
    name: String,
    declared: Option<String>,
    not_null: i64,
    default_value: Option<String>,
    pk: i64,
    hidden: i64,
}

#[derive(sqlx::FromRow)]
struct ForeignRow {
    id: i64,
    target: String,
    from_column: String,
    to_column: Option<String>,
    on_update: String,
    on_delete: String,
}

#[derive(sqlx::FromRow)]
struct IndexRow {
    name: String,
    is_unique: i64,
    origin: String,
}

pub(super) async fn read(
    conn: &mut SqliteConnection,
    scope: &IntrospectionScope,
    limits: &SourceLimits,
    sink: ObjectSink,
) -> Result<Introspection, SourceError> {
    let mut reader = Reader {
        conn,
        budget: limits.budget(),
        deadline: limits.round_trip(),
    };
    let filter = scope.schema_filter.names();
    if !filter.is_empty() && !filter.iter().any(|s| s == SCHEMA) {
        return Ok(Introspection::Read(Listing::default()));
    }
    let listed = reader.objects(scope).await?;
    let details = reader.table_list().await.unwrap_or_default();
    let estimates = reader.row_estimates().await.unwrap_or_default();
    let mut present = Vec::new();
    let mut failures = Vec::new();
    let mut batch = Vec::new();
    for row in listed {
        let id = SchemaId::new(SCHEMA, &row.name);
        present.push(id.clone());
        match reader
            .object(&row, details.get(&row.name), estimates.get(&row.name))
            .await
        {
            Ok(object) => batch.push(object),
            Err(SourceError::Query(error)) => failures.push(RefreshFailure {
                object: id.to_string(),
                error,
            }),
            Err(other) => return Err(other),
        }
        if batch.len() >= BATCH {
            send(&sink, std::mem::take(&mut batch)).await?;
        }
    }
    send(&sink, batch).await?;
    Ok(Introspection::Read(Listing {
        present,
        failures,
        catalog_state: None,
    }))
}

struct Reader<'a> {
    conn: &'a mut SqliteConnection,
    budget: Budget,
    deadline: Duration,
}

impl Reader<'_> {
    /// Tables and views in scope (SQLite's own `sqlite_*` tables left out).
    async fn objects(&mut self, scope: &IntrospectionScope) -> Result<Vec<ObjectRow>, SourceError> {
        let mut sql = String::from(
            "SELECT type AS kind, name FROM sqlite_schema
             WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
        );
        let mut binds: Vec<String> = Vec::new();
        let mut names_in = |sql: &mut String, names: Vec<String>| {
            sql.push_str(&format!(
                " AND name IN ({})",
                vec!["?"; names.len().max(1)].join(", ")
            ));
            if names.is_empty() {
                binds.push("\u{1}".into());
            }
            binds.extend(names);
        };
        // Ids of another schema than `main` name nothing here.
        let names = |ids: &[SchemaId]| -> Vec<String> {
            ids.iter()
                .filter(|id| id.schema == SCHEMA)
                .map(|id| id.name.clone())
                .collect()
        };
        let allowlist = scope.table_allowlist.ids();
        if !allowlist.is_empty() {
            names_in(&mut sql, names(allowlist));
        }
        let options = &scope.options;
        if options.is_partial() && !options.schemas.iter().any(|s| s == SCHEMA) {
            names_in(&mut sql, names(&options.tables));
        }
        sql.push_str(" ORDER BY name");
        let max = self.budget.max_objects();
        self.fetch(sql, &binds, Rows::all(max, OBJECTS)).await
    }

    /// `WITHOUT ROWID` and `STRICT` per table (SQLite 3.37 and later).
    async fn table_list(&mut self) -> Result<HashMap<String, (bool, bool)>, SourceError> {
        let rows: Vec<(String, i64, i64)> = self
            .fetch(
                "SELECT name, wr, strict FROM pragma_table_list WHERE schema = 'main'".into(),
                &[],
                Rows::all(self.budget.max_objects(), OBJECTS),
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|(name, wr, strict)| (name, (wr != 0, strict != 0)))
            .collect())
    }

    /// Row counts ANALYZE left in `sqlite_stat1`, where it ran.
    async fn row_estimates(&mut self) -> Result<HashMap<String, i64>, SourceError> {
        let rows: Vec<(String, String)> = self
            .fetch(
                "SELECT tbl, stat FROM sqlite_stat1".into(),
                &[],
                Rows::all(self.budget.max_columns(), "statistics"),
            )
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(table, stat)| Some((table, stat.split(' ').next()?.parse().ok()?)))
            .collect())
    }

    async fn object(
        &mut self,
        row: &ObjectRow,
        table_list: Option<&(bool, bool)>,
        estimate: Option<&i64>,
    ) -> Result<SchemaObject, SourceError> {
        let kind = if row.kind == "view" {
            ObjectKind::View
        } else {
            ObjectKind::Table
        };
        let name = row.name.clone();
        let max_columns = self.budget.max_columns();
        let columns: Vec<ColumnRow> = self
            .fetch(
                "SELECT cid, name, type AS declared, \"notnull\" AS not_null, dflt_value AS default_value,
                        pk, hidden
                 FROM pragma_table_xinfo(?) ORDER BY cid"
                    .into(),
                std::slice::from_ref(&name),
                Rows::all(max_columns, "columns"),
            )
            .await?;
        let mut object = SchemaObject::new(SCHEMA, &name, kind);
        let (without_rowid, strict) = table_list.copied().unwrap_or_default();
        let mut keys: Vec<(i64, String)> = columns
            .iter()
            .filter(|c| c.pk > 0)
            .map(|c| (c.pk, c.name.clone()))
            .collect();
        keys.sort();
        object.primary_keys = keys.into_iter().map(|(_, n)| n).collect();
        let rowid_alias = object.primary_keys.len() == 1 && !without_rowid;
        for column in columns.into_iter().filter(|c| c.hidden != 1) {
            let declared = column.declared.unwrap_or_default();
            let mut field = Field::new(
                &column.name,
                i32::try_from(column.cid + 1).unwrap_or(i32::MAX),
                &declared,
                FieldType::from_sqlite(&declared),
            );
            field.nullable = column.not_null == 0 && column.pk == 0;
            field.default = column.default_value;
            field.is_generated = column.hidden >= 2;
            field.is_auto_increment =
                rowid_alias && column.pk == 1 && declared.eq_ignore_ascii_case("INTEGER");
            object.fields.push(field);
        }
        if kind == ObjectKind::Table {
            object.foreign_keys = self.foreign_keys(&name).await?;
            (object.indexes, object.unique_constraints) = self.indexes(&name).await?;
            object.row_estimate = estimate.copied();
            if without_rowid {
                object
                    .properties
                    .insert("without_rowid".into(), json!(true));
            }
            if strict {
                object.properties.insert("strict".into(), json!(true));
            }
        }
        object.normalize();
        annotate_keys(&mut object);
        Ok(object)
    }

    async fn foreign_keys(&mut self, table: &str) -> Result<Vec<ForeignKey>, SourceError> {
        let rows: Vec<ForeignRow> = self
            .fetch(
                "SELECT id, \"table\" AS target, \"from\" AS from_column, \"to\" AS to_column,
                        on_update, on_delete
                 FROM pragma_foreign_key_list(?) ORDER BY id, seq"
                    .into(),
                &[table.to_owned()],
                Rows::all(self.budget.max_columns(), "foreign key columns"),
            )
            .await?;
        let mut keys: Vec<(i64, ForeignKey)> = Vec::new();
        for row in rows {
            // `REFERENCES t` without columns means t's primary key.
            let target_column = match row.to_column {
                Some(column) => column,
                None => self.primary_key_column(&row.target, keys.len()).await?,
            };
            match keys.iter_mut().find(|(id, _)| *id == row.id) {
                Some((_, key)) => {
                    key.columns.push(row.from_column);
                    key.references.fields.push(target_column);
                }
                None => keys.push((
                    row.id,
                    ForeignKey {
                        name: format!("fk_{table}_{}", row.id),
                        columns: vec![row.from_column],
                        references: Reference {
                            schema_id: SchemaId::new(SCHEMA, &row.target).to_string(),
                            fields: vec![target_column],
                        },
                        on_delete: action(&row.on_delete),
                        on_update: action(&row.on_update),
                    },
                )),
            }
        }
        Ok(keys.into_iter().map(|(_, key)| key).collect())
    }

    async fn primary_key_column(
        &mut self,
        table: &str,
        position: usize,
    ) -> Result<String, SourceError> {
        let keys: Vec<(String,)> = self
            .fetch(
                "SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk".into(),
                &[table.to_owned()],
                Rows::all(self.budget.max_columns(), "columns"),
            )
            .await?;
        Ok(keys
            .into_iter()
            .nth(position)
            .map(|(name,)| name)
            .unwrap_or_else(|| "rowid".into()))
    }

    async fn indexes(
        &mut self,
        table: &str,
    ) -> Result<(Vec<Index>, Vec<UniqueConstraint>), SourceError> {
        let max = self.budget.max_columns();
        let listed: Vec<IndexRow> = self
            .fetch(
                "SELECT name, \"unique\" AS is_unique, origin FROM pragma_index_list(?)".into(),
                &[table.to_owned()],
                Rows::all(max, "indexes"),
            )
            .await?;
        let mut indexes = Vec::new();
        let mut uniques = Vec::new();
        for index in listed {
            let columns: Vec<(Option<String>,)> = self
                .fetch(
                    "SELECT name FROM pragma_index_info(?) ORDER BY seqno".into(),
                    std::slice::from_ref(&index.name),
                    Rows::all(max, "index columns"),
                )
                .await?;
            let columns: Vec<String> = columns.into_iter().filter_map(|(c,)| c).collect();
            if index.origin == "u" {
                uniques.push(UniqueConstraint {
                    name: index.name.clone(),
                    columns: columns.clone(),
                });
            }
            indexes.push(Index {
                definition: None,
                primary: index.origin == "pk",
                unique: index.is_unique != 0,
                name: index.name,
                columns,
            });
        }
        Ok((indexes, uniques))
    }

    async fn fetch<T>(
        &mut self,
        sql: String,
        binds: &[String],
        limit: Rows,
    ) -> Result<Vec<T>, SourceError>
    where
        T: for<'r> sqlx::FromRow<'r, SqliteRow> + Send + Unpin,
    {
        let mut query = sqlx::query::<Sqlite>(sqlx::AssertSqlSafe(sql));
        for value in binds {
            query = query.bind(value.clone());
        }
        fetch_rows(
            &mut *self.conn,
            query,
            &mut self.budget,
            self.deadline,
            limit,
            shape_only,
        )
        .await
    }
}

fn action(rule: &str) -> Option<String> {
    match rule {
        "" | "NO ACTION" => None,
        other => Some(other.to_owned()),
    }
}
