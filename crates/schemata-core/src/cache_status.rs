use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The state of a connection's schema cache, as clients see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum CacheStatus {
    /// Never refreshed.
    None,
    /// A refresh is queued or running.
    Refreshing,
    Fresh,
    /// Older than the connection's `refresh_ttl_seconds`, or read under a
    /// configuration or scope the connection no longer has. Never stored:
    /// derived on read.
    Stale,
    /// The last refresh failed; the previous cache is still served.
    Error,
}

impl CacheStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Refreshing => "refreshing",
            Self::Fresh => "fresh",
            Self::Stale => "stale",
            Self::Error => "error",
        }
    }

    /// What a client sees: a stored `fresh` turns `stale` once the TTL has passed.
    pub fn as_seen_at(
        self,
        now: DateTime<Utc>,
        last_refresh_finished: Option<DateTime<Utc>>,
        refresh_ttl_seconds: Option<i32>,
    ) -> Self {
        match (self, last_refresh_finished, refresh_ttl_seconds) {
            (Self::Fresh, Some(finished), Some(ttl))
                if now.signed_duration_since(finished).num_seconds() > i64::from(ttl) =>
            {
                Self::Stale
            }
            (status, _, _) => status,
        }
    }
}

impl CacheStatus {
    /// A fresh cache the connection's configuration or scope moved away
    /// from (`invalidated`) is `stale` whatever its age.
    pub fn invalidated(self, invalidated: bool) -> Self {
        match self {
            Self::Fresh if invalidated => Self::Stale,
            status => status,
        }
    }
}

impl crate::Named for CacheStatus {
    const WHAT: &'static str = "cache status";

    fn all() -> &'static [Self] {
        &[
            Self::None,
            Self::Refreshing,
            Self::Fresh,
            Self::Stale,
            Self::Error,
        ]
    }

    fn as_str(self) -> &'static str {
        self.as_str()
    }
}

crate::named_enum!(CacheStatus);

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn fresh_cache_turns_stale_only_after_its_ttl() {
        let now = Utc::now();
        let finished = Some(now - Duration::seconds(100));
        assert_eq!(
            CacheStatus::Fresh.as_seen_at(now, finished, Some(60)),
            CacheStatus::Stale
        );
        assert_eq!(
            CacheStatus::Fresh.as_seen_at(now, finished, Some(600)),
            CacheStatus::Fresh
        );
        assert_eq!(
            CacheStatus::Fresh.as_seen_at(now, finished, None),
            CacheStatus::Fresh
        );
        assert_eq!(
            CacheStatus::Error.as_seen_at(now, finished, Some(1)),
            CacheStatus::Error
        );
    }
}
