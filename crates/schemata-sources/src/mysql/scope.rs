//! Turning a refresh's scope into `information_schema` filters: a list of
//! schemas for `TABLE_SCHEMA IN (…)` and, when tables are named, a list for
//! the schema ids `IN (…)` (see `quoted_part`), always as bound parameters.

use crate::IntrospectionScope;

/// Schemas MySQL and MariaDB keep for themselves: never cached.
pub(super) const SYSTEM_SCHEMAS: [&str; 4] =
    ["mysql", "performance_schema", "sys", "information_schema"];

/// The filter every catalog query of one refresh applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Filter {
    pub schemas: Vec<String>,
    /// `schema.table` entries the objects must be among (allowlist), if any.
    pub allowlist: Vec<String>,
    /// A partial refresh: objects of these schemas or these tables only.
    pub only_schemas: Vec<String>,
    pub only_tables: Vec<String>,
}

impl Filter {
    /// `available` are the server's user schemas; `database` the connection's own.
    pub fn new(scope: &IntrospectionScope, available: &[String], database: Option<&str>) -> Self {
        // A database in the URL scopes the connection: the filter can narrow
        // it to nothing, never reach another (the API refuses such a filter;
        // this holds whatever is stored).
        let wanted: Vec<String> = match database {
            Some(database) => scope
                .schema_filter
                .admits(database)
                .then(|| database.to_owned())
                .into_iter()
                .collect(),
            None if !scope.schema_filter.names().is_empty() => scope.schema_filter.names().to_vec(),
            None => available.to_vec(),
        };
        let schemas = wanted
            .into_iter()
            .filter(|s| available.contains(s) && !SYSTEM_SCHEMAS.contains(&s.as_str()))
            .collect();
        Self {
            schemas,
            allowlist: scope.table_allowlist.entries(),
            only_schemas: scope.options.schemas.clone(),
            only_tables: scope
                .options
                .tables
                .iter()
                .map(ToString::to_string)
                .collect(),
        }
    }

    /// `WHERE …` over the given columns, and the values to bind in order.
    pub fn clause(&self, schema: &str, table: &str) -> (String, Vec<String>) {
        // Byte for byte: information_schema's collation would let `ORDERS`
        // name `orders` (or `Shop` name `shop`), and names match exactly. The
        // plain comparison stays first: it is what lets the server open only
        // the named databases' directories.
        let (mut clause, mut binds) = schema_in(schema, &self.schemas);
        let qualified = format!(
            "BINARY CONCAT({}, '.', {})",
            quoted_part(schema),
            quoted_part(table)
        );
        if !self.allowlist.is_empty() {
            clause.push_str(&format!(
                " AND {qualified} IN ({})",
                placeholders(self.allowlist.len())
            ));
            binds.extend(self.allowlist.iter().cloned());
        }
        if !self.only_schemas.is_empty() || !self.only_tables.is_empty() {
            // `IN ()` is not SQL: an empty list gets a value no name can be.
            clause.push_str(&format!(
                " AND (BINARY {schema} IN ({}) OR {qualified} IN ({}))",
                placeholders(self.only_schemas.len().max(1)),
                placeholders(self.only_tables.len().max(1))
            ));
            for list in [&self.only_schemas, &self.only_tables] {
                if list.is_empty() {
                    binds.push("\u{1}".into());
                } else {
                    binds.extend(list.iter().cloned());
                }
            }
        }
        (clause, binds)
    }

    pub fn is_empty(&self) -> bool {
        self.schemas.is_empty()
    }
}

/// A part of a schema id as `schemata_core::SchemaId` writes it: in double
/// quotes, `"` doubled, when it holds `.` or `"`.
fn quoted_part(column: &str) -> String {
    format!(
        "IF(LOCATE('.', {column}) > 0 OR LOCATE('\"', {column}) > 0, \
         CONCAT('\"', REPLACE({column}, '\"', '\"\"'), '\"'), {column})"
    )
}

/// `column IN (…)` over `schemas`, exactly (see `Filter::clause`), and its binds.
pub(super) fn schema_in(column: &str, schemas: &[String]) -> (String, Vec<String>) {
    let marks = placeholders(schemas.len());
    (
        format!("{column} IN ({marks}) AND BINARY {column} IN ({marks})"),
        [schemas, schemas].concat(),
    )
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemata_core::{RefreshOptions, SchemaFilter, TableAllowlist};

    fn scope(filter: &[&str], allowlist: &[&str], options: RefreshOptions) -> IntrospectionScope {
        IntrospectionScope {
            schema_filter: SchemaFilter::parse(filter.iter().map(|s| s.to_string()).collect())
                .unwrap(),
            table_allowlist: TableAllowlist::parse(
                allowlist.iter().map(|s| s.to_string()).collect(),
            )
            .unwrap(),
            options,
            ..IntrospectionScope::default()
        }
    }

    #[test]
    fn the_schemas_are_the_database_else_the_filter_else_every_user_schema() {
        let available = vec!["shop".to_string(), "crm".into(), "mysql".into()];
        let all = RefreshOptions::default();
        assert!(
            Filter::new(
                &scope(&["crm", "gone"], &[], all.clone()),
                &available,
                Some("shop")
            )
            .schemas
            .is_empty(),
            "a filter never reaches past the URL's database"
        );
        assert_eq!(
            Filter::new(
                &scope(&["shop"], &[], all.clone()),
                &available,
                Some("shop")
            )
            .schemas,
            ["shop"]
        );
        assert_eq!(
            Filter::new(&scope(&["crm", "gone"], &[], all.clone()), &available, None).schemas,
            ["crm"]
        );
        assert_eq!(
            Filter::new(&scope(&[], &[], all.clone()), &available, Some("shop")).schemas,
            ["shop"]
        );
        assert_eq!(
            Filter::new(&scope(&[], &[], all), &available, None).schemas,
            ["shop", "crm"]
        );
    }

    #[test]
    fn every_value_is_a_placeholder() {
        let partial = RefreshOptions::parse(Some(false), None, Some("shop.orders")).unwrap();
        let filter = Filter::new(
            &scope(&["shop"], &["shop.orders"], partial),
            &["shop".into()],
            None,
        );
        let (clause, binds) = filter.clause("TABLE_SCHEMA", "TABLE_NAME");
        assert_eq!(clause.matches('?').count(), binds.len());
        assert!(!clause.contains("shop"), "{clause}");
        assert_eq!(
            binds,
            ["shop", "shop", "shop.orders", "\u{1}", "shop.orders"]
        );
    }
}
