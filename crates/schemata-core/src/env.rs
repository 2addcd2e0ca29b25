//! Reading typed settings from environment variables: the one place binaries'
//! `Settings::from_env` get their values from.

use std::str::FromStr;

/// Reads `name` from the environment, or `default` when unset or blank.
pub fn env_or<T: FromStr>(name: &str, default: T) -> Result<T, String> {
    match std::env::var(name) {
        Ok(raw) if !raw.trim().is_empty() => raw
            .trim()
            .parse()
            .map_err(|_| format!("{name}=`{raw}` is not valid")),
        _ => Ok(default),
    }
}

/// Reads `name` from the environment; `None` when unset or blank.
pub fn env_opt(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}
