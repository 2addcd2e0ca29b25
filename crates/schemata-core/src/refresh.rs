use crate::SchemaId;
use serde::{Deserialize, Serialize};
use std::str::FromStr;
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
        let split = |raw: Option<&str>| -> Vec<String> {
            raw.unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let schemas = split(schemas);
        let tables = split(tables)
            .iter()
            .map(|t| SchemaId::parse(t))
            .collect::<Result<Vec<_>, _>>()?;
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

    /// Whether an object lies inside what this refresh covers.
    pub fn covers(&self, id: &SchemaId) -> bool {
        if !self.is_partial() {
            return true;
        }
        self.schemas.contains(&id.schema) || self.tables.contains(id)
    }
}

/// Lifecycle of one refresh run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

impl FromStr for RunStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown run status `{s}`"))
    }
}

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
        assert!(soft.covers(&SchemaId::new("a", "x")));
        assert!(soft.covers(&SchemaId::new("public", "users")));
        assert!(!soft.covers(&SchemaId::new("public", "orders")));
        assert!(RefreshOptions::parse(Some(false), None, Some("nodot")).is_err());
    }

    #[test]
    fn default_refresh_is_hard_and_covers_everything() {
        let options = RefreshOptions::parse(None, None, None).unwrap();
        assert!(options.hard_refresh && !options.is_partial());
        assert!(options.covers(&SchemaId::new("x", "y")));
    }
}
