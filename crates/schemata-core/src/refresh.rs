use crate::SchemaId;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The payload of a refresh job on the queue. Everything else lives on the run row,
/// so a job that runs twice reads the same instructions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshJob {
    pub run_id: Uuid,
    pub connection_id: Uuid,
}

/// How much of the cache a refresh may touch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshOptions {
    /// Remove cached objects that are gone from the source.
    pub hard_refresh: bool,
    /// Refresh only these schemas (soft refresh only).
    pub schemas: Vec<String>,
    /// Refresh only these objects (soft refresh only).
    pub tables: Vec<SchemaId>,
}

impl Default for RefreshOptions {
    fn default() -> Self {
        Self {
            hard_refresh: true,
            schemas: vec![],
            tables: vec![],
        }
    }
}

impl RefreshOptions {
    /// Builds options from query parameters; a partial refresh must be soft.
    pub fn parse(
        hard_refresh: Option<bool>,
        schemas: Option<&str>,
        tables: Option<&str>,
    ) -> Result<Self, String> {
        // Commas inside double quotes belong to their name (`b."t,2"`).
        let schemas = SchemaId::parse_schema_list(schemas.unwrap_or_default())?;
        let tables = SchemaId::parse_list(tables.unwrap_or_default())?;
        let hard_refresh = hard_refresh.unwrap_or(true);
        if hard_refresh && (!schemas.is_empty() || !tables.is_empty()) {
            return Err("`schemas` and `tables` are allowed only with hard_refresh=false: a hard refresh of part of a source would remove everything else".into());
        }
        Ok(Self {
            hard_refresh,
            schemas,
            tables,
        })
    }

    pub fn is_partial(&self) -> bool {
        !self.schemas.is_empty() || !self.tables.is_empty()
    }

    /// Whether a run with these options does everything `other` asks for: what
    /// decides whether a new request may join a run already queued or running.
    pub fn covers(&self, other: &RefreshOptions) -> bool {
        if self.hard_refresh && !self.is_partial() {
            return true;
        }
        if other.hard_refresh {
            return false;
        }
        if !self.is_partial() {
            return true;
        }
        other.is_partial()
            && other.schemas.iter().all(|s| self.schemas.contains(s))
            && other
                .tables
                .iter()
                .all(|t| self.schemas.contains(&t.schema) || self.tables.contains(t))
    }

    /// The smallest options that cover both: how a queued run is widened.
    pub fn merged_with(&self, other: &RefreshOptions) -> RefreshOptions {
        if self.hard_refresh || other.hard_refresh {
            return RefreshOptions::default();
        }
        if !self.is_partial() || !other.is_partial() {
            return RefreshOptions {
                hard_refresh: false,
                ..RefreshOptions::default()
            };
        }
        let mut merged = self.clone();
        for schema in &other.schemas {
            if !merged.schemas.contains(schema) {
                merged.schemas.push(schema.clone());
            }
        }
        for table in &other.tables {
            if !merged.tables.contains(table) {
                merged.tables.push(table.clone());
            }
        }
        merged
    }
}

/// Who asked for a run: a client, or the worker's scheduler (auto-refresh).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Api,
    Schedule,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Schedule => "schedule",
        }
    }
}

/// Lifecycle of one refresh run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Queued,
    Running,
    Succeeded,
    /// Finished, but some objects failed to introspect.
    Partial,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub const ALL: [RunStatus; 6] = [
        Self::Queued,
        Self::Running,
        Self::Succeeded,
        Self::Partial,
        Self::Failed,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Partial => "partial",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn is_active(self) -> bool {
        matches!(self, Self::Queued | Self::Running)
    }
}

impl crate::Named for RunStatus {
    const WHAT: &'static str = "run status";

    fn all() -> &'static [Self] {
        &Self::ALL
    }

    fn as_str(self) -> &'static str {
        self.as_str()
    }
}

crate::named_enum!(RunStatus);

impl crate::Named for Trigger {
    const WHAT: &'static str = "trigger";

    fn all() -> &'static [Self] {
        &[Self::Api, Self::Schedule]
    }

    fn as_str(self) -> &'static str {
        self.as_str()
    }
}

crate::named_enum!(Trigger);

/// The `last_result` of a refresh, as shown by the status endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefreshResult {
    pub job_id: Uuid,
    pub ok: bool,
    pub message: String,
    pub table_count: usize,
    pub view_count: usize,
    pub column_count: usize,
    pub failed_table_count: usize,
    pub deleted_count: usize,
    pub duration_ms: i64,
    pub schemas: Vec<SchemaSummary>,
    pub failures: Vec<RefreshFailure>,
    /// Objects the source read in full this time (the rest it knew unchanged).
    #[serde(default)]
    pub objects_read: usize,
    /// Objects whose cached version this run rewrote or removed.
    #[serde(default)]
    pub objects_written: usize,
    /// False when the source was unchanged and nothing was written.
    #[serde(default)]
    pub changed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchemaSummary {
    pub schema_name: String,
    pub tables_count: usize,
    pub views_count: usize,
}

/// An object, or the whole source (`object: "*"`), that could not be refreshed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefreshFailure {
    pub object: String,
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_refresh_must_be_soft() {
        assert!(RefreshOptions::parse(None, Some("public"), None).is_err());
        assert!(RefreshOptions::parse(Some(true), None, Some("public.users")).is_err());
        let soft = RefreshOptions::parse(Some(false), Some("a, b"), Some("public.users")).unwrap();
        assert_eq!(soft.schemas, ["a", "b"]);
        assert_eq!(soft.tables, [SchemaId::new("public", "users")]);
        assert!(RefreshOptions::parse(Some(false), None, Some("nodot")).is_err());
    }

    fn options(hard: bool, schemas: &str, tables: &str) -> RefreshOptions {
        RefreshOptions::parse(Some(hard), Some(schemas), Some(tables)).unwrap()
    }

    #[test]
    fn a_run_covers_a_request_only_when_it_does_all_the_request_asks() {
        let hard = RefreshOptions::default();
        let soft_all = options(false, "", "");
        let one_table = options(false, "", "public.users");
        let public = options(false, "public", "");
        for request in [&hard, &soft_all, &one_table, &public] {
            assert!(
                hard.covers(request),
                "a full hard refresh covers everything"
            );
        }
        assert!(
            !soft_all.covers(&hard),
            "soft never removes, so it cannot stand for hard"
        );
        assert!(!one_table.covers(&hard));
        assert!(soft_all.covers(&one_table) && soft_all.covers(&public));
        assert!(!one_table.covers(&soft_all));
        assert!(public.covers(&one_table), "public covers public.users");
        assert!(!one_table.covers(&public));
        assert!(!one_table.covers(&options(false, "", "public.orders")));
    }

    #[test]
    fn merged_options_cover_both_sides() {
        let one = options(false, "", "public.users");
        let two = options(false, "sales", "");
        let merged = one.merged_with(&two);
        assert!(merged.covers(&one) && merged.covers(&two));
        assert!(merged.is_partial() && !merged.hard_refresh);
        let with_hard = one.merged_with(&RefreshOptions::default());
        assert_eq!(with_hard, RefreshOptions::default());
        let with_soft_all = one.merged_with(&options(false, "", ""));
        assert!(!with_soft_all.hard_refresh && !with_soft_all.is_partial());
    }

    #[test]
    fn default_refresh_is_hard_and_full() {
        let options = RefreshOptions::parse(None, None, None).unwrap();
        assert!(options.hard_refresh && !options.is_partial());
    }
}
