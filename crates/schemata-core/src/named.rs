//! Closed sets of names (a source type, a run status…) as enums: each knows
//! its spelling, and a name outside the set is an [`UnknownName`] error
//! rather than a string to compare.

/// A name that is not one of a closed set's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}`; expected one of {expected}")]
pub struct UnknownName {
    /// What the set names (`source type`, `run status`…).
    pub what: &'static str,
    pub value: String,
    /// The set's names, comma-separated.
    pub expected: String,
}

/// An enum spelt as one of a fixed list of names.
pub trait Named: Copy + 'static {
    /// What the names name, for messages.
    const WHAT: &'static str;
    fn all() -> &'static [Self];
    fn as_str(self) -> &'static str;

    fn parse_name(value: &str) -> Result<Self, UnknownName> {
        Self::all()
            .iter()
            .copied()
            .find(|item| item.as_str() == value)
            .ok_or_else(|| UnknownName {
                what: Self::WHAT,
                value: value.chars().take(64).collect(),
                expected: Self::all()
                    .iter()
                    .map(|item| item.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

/// `FromStr`, `TryFrom<String>` (what `sqlx`'s `try_from` decodes through)
/// and `Display` for a [`Named`] enum.
#[macro_export]
macro_rules! named_enum {
    ($type:ty) => {
        impl ::std::str::FromStr for $type {
            type Err = $crate::UnknownName;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                <Self as $crate::Named>::parse_name(value)
            }
        }

        impl ::std::convert::TryFrom<String> for $type {
            type Error = $crate::UnknownName;

            fn try_from(value: String) -> Result<Self, $crate::UnknownName> {
                <Self as $crate::Named>::parse_name(&value)
            }
        }

        impl ::std::fmt::Display for $type {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str($crate::Named::as_str(*self))
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use crate::{Named, RunStatus, SourceKind};

    #[test]
    fn names_round_trip_and_strangers_say_what_was_expected() {
        for kind in SourceKind::ALL {
            assert_eq!(kind.as_str().parse::<SourceKind>().unwrap(), kind);
        }
        let error = "oracle".parse::<SourceKind>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown source type `oracle`; expected one of postgresql, mysql, sqlite, dynamodb, snowflake"
        );
        assert_eq!(
            RunStatus::try_from("running".to_owned()),
            Ok(RunStatus::Running)
        );
        assert!(
            RunStatus::parse_name(&"x".repeat(1000))
                .unwrap_err()
                .value
                .len()
                <= 64
        );
    }
}
