//! Which tables the connection's account may SELECT from. `information_schema`
//! shows tables on which the account holds any privilege, so a table it may
//! only insert into is listed: it is reported as a failure, not cached.

use std::collections::HashSet;

/// The SELECT grants of the current account (and its current role).
#[derive(Debug, Default)]
pub(super) struct Grants {
    pub global: bool,
    /// Schema-level grants; MySQL allows `_` and `%` wildcards in them.
    pub schemas: Vec<String>,
    pub tables: HashSet<(String, String)>,
}

impl Grants {
    pub fn can_select(&self, schema: &str, table: &str) -> bool {
        self.global
            || self.tables.contains(&(schema.to_owned(), table.to_owned()))
            || self.schemas.iter().any(|pattern| like(pattern, schema))
    }
}

/// `'user'@'host'` as information_schema spells grantees, from `CURRENT_USER()`.
pub(super) fn grantee(current_user: &str) -> String {
    match current_user.rsplit_once('@') {
        Some((user, host)) => format!("'{user}'@'{host}'"),
        None => format!("'{current_user}'@'%'"),
    }
}

/// SQL `LIKE` with `\` escapes, as schema grants are matched.
fn like(pattern: &str, text: &str) -> bool {
    fn matches(pattern: &[char], text: &[char]) -> bool {
        match pattern.split_first() {
            None => text.is_empty(),
            Some(('%', rest)) => (0..=text.len()).any(|i| matches(rest, &text[i..])),
            Some(('_', rest)) => !text.is_empty() && matches(rest, &text[1..]),
            Some(('\\', rest)) if !rest.is_empty() => {
                text.first() == Some(&rest[0]) && matches(&rest[1..], &text[1..])
            }
            Some((c, rest)) => text.first() == Some(c) && matches(rest, &text[1..]),
        }
    }
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    matches(&pattern, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_at_every_level_allow_select() {
        let mut grants = Grants::default();
        assert!(!grants.can_select("shop", "orders"));
        grants.tables.insert(("shop".into(), "orders".into()));
        assert!(grants.can_select("shop", "orders"));
        assert!(!grants.can_select("shop", "invoices"));
        grants.schemas.push("test\\_%".into());
        assert!(grants.can_select("test_a", "x"));
        assert!(
            !grants.can_select("testa", "x"),
            "escaped underscore is literal"
        );
        grants.global = true;
        assert!(grants.can_select("any", "thing"));
    }

    #[test]
    fn grantees_are_quoted_like_information_schema() {
        assert_eq!(grantee("reader@127.0.0.1"), "'reader'@'127.0.0.1'");
        assert_eq!(grantee("odd@name@%"), "'odd@name'@'%'");
    }
}
