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
}

impl SourceKind {
    pub const ALL: [SourceKind; 3] = [Self::Postgresql, Self::Mysql, Self::Sqlite];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Postgresql => "postgresql",
            Self::Mysql => "mysql",
            Self::Sqlite => "sqlite",
        }
    }

    /// The discrete fields a configuration of this kind may use instead of `url`.
    pub fn discrete_fields(self) -> &'static str {
        match self {
            Self::Sqlite => "path",
            _ => "host, port, database, user, password, sslmode",
        }
    }

    /// The schema every object lives in when the source has no schemas of its own.
    pub fn default_schema(self) -> Option<&'static str> {
        match self {
            Self::Sqlite => Some("main"),
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
                format!("unknown source type `{s}`; expected one of postgresql, mysql, sqlite")
            })
    }
}
