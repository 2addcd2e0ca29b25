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

/// One element of a `LIKE` pattern.
#[derive(Clone, Copy, PartialEq)]
enum Token {
    Any,
    One,
    Char(char),
}

/// SQL `LIKE` with `\` escapes, as schema grants are matched. Dynamic
/// programming over pattern and text, O(pattern × text): the patterns come
/// from the source, and backtracking on a run of `%` is exponential.
fn like(pattern: &str, text: &str) -> bool {
    let mut tokens = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        tokens.push(match c {
            '%' => Token::Any,
            '_' => Token::One,
            '\\' => Token::Char(chars.next().unwrap_or('\\')),
            c => Token::Char(c),
        });
    }
    let text: Vec<char> = text.chars().collect();
    // matched[j]: the tokens so far match the first j characters of text.
    let mut matched = vec![false; text.len() + 1];
    matched[0] = true;
    for token in tokens {
        let mut next = vec![false; text.len() + 1];
        for j in 0..=text.len() {
            next[j] = match token {
                Token::Any => matched[j] || (j > 0 && next[j - 1]),
                Token::One => j > 0 && matched[j - 1],
                Token::Char(c) => j > 0 && matched[j - 1] && text[j - 1] == c,
            };
        }
        matched = next;
    }
    matched[text.len()]
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
    fn like_matches_as_sql_does_and_never_backtracks() {
        for (pattern, text, expected) in [
            ("shop", "shop", true),
            ("shop", "shops", false),
            ("sh_p", "shop", true),
            ("sh%", "sh", true),
            ("%op", "shop", true),
            ("%o%p%", "shop", true),
            ("%x%", "shop", false),
            ("a\\%b", "a%b", true),
            ("a\\%b", "axb", false),
            ("", "", true),
            ("%", "", true),
        ] {
            assert_eq!(like(pattern, text), expected, "{pattern} ~ {text}");
        }
        // A source's hostile grant: forty wildcards against a long name (with
        // backtracking, this would not finish in any lifetime).
        assert!(!like(&format!("{}z", "%".repeat(40)), &"a".repeat(64)));
    }

    #[test]
    fn grantees_are_quoted_like_information_schema() {
        assert_eq!(grantee("reader@127.0.0.1"), "'reader'@'127.0.0.1'");
        assert_eq!(grantee("odd@name@%"), "'odd@name'@'%'");
    }
}
