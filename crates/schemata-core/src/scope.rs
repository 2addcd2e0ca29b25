use serde::{Deserialize, Serialize};

/// A permission carried by an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Scope {
    #[serde(rename = "connections:read")]
    ConnectionsRead,
    #[serde(rename = "connections:write")]
    ConnectionsWrite,
    #[serde(rename = "schemas:read")]
    SchemasRead,
    #[serde(rename = "schemas:write")]
    SchemasWrite,
}

impl Scope {
    pub const ALL: [Scope; 4] = [
        Self::ConnectionsRead,
        Self::ConnectionsWrite,
        Self::SchemasRead,
        Self::SchemasWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConnectionsRead => "connections:read",
            Self::ConnectionsWrite => "connections:write",
            Self::SchemasRead => "schemas:read",
            Self::SchemasWrite => "schemas:write",
        }
    }

    /// Parses a comma-separated list such as `connections:read,schemas:write`; `all` means every scope.
    pub fn parse_list(list: &str) -> Result<Vec<Scope>, String> {
        if list.trim() == "all" {
            return Ok(Self::ALL.to_vec());
        }
        let mut scopes = Vec::new();
        for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let scope = part
                .parse()
                .map_err(|e: crate::UnknownName| e.to_string())?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        if scopes.is_empty() {
            return Err("at least one scope is required".into());
        }
        Ok(scopes)
    }
}

impl Scope {
    /// `a,b,c` for messages.
    pub fn list_text(scopes: &[Scope]) -> String {
        scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl crate::Named for Scope {
    const WHAT: &'static str = "scope";

    fn all() -> &'static [Self] {
        &Self::ALL
    }

    fn as_str(self) -> &'static str {
        self.as_str()
    }
}

crate::named_enum!(Scope);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_lists_parse_and_reject_unknown_names() {
        assert_eq!(Scope::parse_list("all").unwrap().len(), 4);
        assert_eq!(
            Scope::parse_list("schemas:read, schemas:read,connections:write").unwrap(),
            vec![Scope::SchemasRead, Scope::ConnectionsWrite]
        );
        assert!(Scope::parse_list("schemas:admin").is_err());
        assert!(Scope::parse_list(" , ").is_err());
    }
}
