//! What a connection's own state says: whether Schemata may touch its
//! source, and what the last health check found.

use serde::{Deserialize, Serialize};

/// `disabled`: Schemata leaves the source alone (no refresh, no sample).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ConnectionStatus {
    Active,
    Disabled,
}

impl crate::Named for ConnectionStatus {
    const WHAT: &'static str = "connection status";

    fn all() -> &'static [Self] {
        &[Self::Active, Self::Disabled]
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }
}

crate::named_enum!(ConnectionStatus);

/// What the last health check of a connection's source found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Unknown,
    Healthy,
    Unhealthy,
}

impl crate::Named for HealthStatus {
    const WHAT: &'static str = "health status";

    fn all() -> &'static [Self] {
        &[Self::Unknown, Self::Healthy, Self::Unhealthy]
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Healthy => "healthy",
            Self::Unhealthy => "unhealthy",
        }
    }
}

crate::named_enum!(HealthStatus);

impl HealthStatus {
    pub fn of(healthy: bool) -> Self {
        if healthy {
            Self::Healthy
        } else {
            Self::Unhealthy
        }
    }
}
