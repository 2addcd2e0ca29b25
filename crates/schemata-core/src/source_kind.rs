use serde::{Deserialize, Serialize};

/// The kind of database a connection points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = SourceType))]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Postgresql,
    /// MySQL and MariaDB.
    Mysql,
    Sqlite,
    Dynamodb,
    Snowflake,
}

impl SourceKind {
    pub const ALL: [SourceKind; 5] = [
        Self::Postgresql,
        Self::Mysql,
        Self::Sqlite,
        Self::Dynamodb,
        Self::Snowflake,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Postgresql => "postgresql",
            Self::Mysql => "mysql",
            Self::Sqlite => "sqlite",
            Self::Dynamodb => "dynamodb",
            Self::Snowflake => "snowflake",
        }
    }

    /// The discrete fields a configuration of this kind may use instead of `url`.
    pub fn discrete_fields(self) -> &'static str {
        match self {
            Self::Sqlite => "path",
            Self::Dynamodb => {
                "region, access_key_id, secret_access_key, session_token, role_arn, endpoint, table_prefix"
            }
            Self::Snowflake => {
                "account, user, password, private_key, private_key_passphrase, warehouse, role, database, endpoint"
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

impl crate::Named for SourceKind {
    const WHAT: &'static str = "source type";

    fn all() -> &'static [Self] {
        &Self::ALL
    }

    fn as_str(self) -> &'static str {
        self.as_str()
    }
}

crate::named_enum!(SourceKind);
