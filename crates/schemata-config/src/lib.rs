//! Reading typed settings from environment variables: the one place every
//! crate's `Settings::from_env` gets its values from, read once at startup
//! (a binary's `main`, or the `serve_from_env` / `run_from_env` it calls).

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

/// Reads `name` from the environment when it is set, even to nothing: for a
/// setting whose empty value means something (an empty deny list).
pub fn env_set(name: &str) -> Option<String> {
    std::env::var(name).ok()
}
