use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// The kind of database a connection points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Postgresql,
    /// MySQL and MariaDB.
    Mysql,
    Sqlite,
    Dynamodb,
}

impl SourceKind {
    pub const ALL: [SourceKind; 4] = [Self::Postgresql, Self::Mysql, Self::Sqlite, Self::Dynamodb];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Postgresql => "postgresql",
            Self::Mysql => "mysql",
            Self::Sqlite => "sqlite",
            Self::Dynamodb => "dynamodb",
        }
    }

    /// The discrete fields a configuration of this kind may use instead of `url`.
    pub fn discrete_fields(self) -> &'static str {
        match self {
            Self::Sqlite => "path",
            Self::Dynamodb => {
                "region, access_key_id, secret_access_key, session_token, endpoint, table_prefix"
            }
            _ => "host, port, database, user, password, sslmode",
        }
    }

    /// The schema every object lives in when the source has no schemas of its own.
    pub fn default_schema(self) -> Option<&'static str> {
        match self {
            Self::Sqlite => Some("main"),
            // One connection reads one region's tables: a fixed schema keeps
            // their ids stable if it is pointed at a replica region.
            Self::Dynamodb => Some("default"),
            _ => None,
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SourceKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown source type `{s}`; expected one of postgresql, mysql, sqlite, dynamodb"
                )
            })
    }
}
