//! A SQLite database file: `{"path": "shop.db"}` or `{"url": "sqlite://shop.db"}`.
//! Where it may live is the access policy's business (`SCHEMATA_SQLITE_ROOT`);
//! here it is only text that cannot smuggle options.

use super::{Form, SourceConfigError, invalid, plain_text};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

/// What a path must escape to come back the same from its URL: the escape
/// itself and what would start parameters or a fragment.
const URL_RESERVED: &AsciiSet = &CONTROLS.add(b'%').add(b'?').add(b'#');
use serde_json::{Map, Value, json};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteFile {
    /// As given: relative paths are relative to the SQLite root.
    pub path: String,
    pub form: Form,
}

impl SqliteFile {
    pub(super) fn parse(object: &Map<String, Value>) -> Result<Self, SourceConfigError> {
        let unknown: Vec<&String> = object
            .keys()
            .filter(|k| !matches!(k.as_str(), "url" | "path"))
            .collect();
        if !unknown.is_empty() || object.len() != 1 {
            return Err(invalid(
                "a sqlite configuration is `{\"path\": \"file.db\"}` or `{\"url\": \"sqlite://file.db\"}`",
            ));
        }
        let (form, path) = if let Some(url) = object.get("url") {
            let url = url
                .as_str()
                .ok_or_else(|| invalid("`url` must be a string"))?;
            let rest = url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
                .ok_or_else(|| invalid("a sqlite `url` starts with `sqlite://`"))?;
            if rest.contains('?') || rest.contains('#') {
                return Err(invalid(
                    "sqlite URL parameters are not allowed: files are always opened read-only",
                ));
            }
            let path = percent_decode_str(rest)
                .decode_utf8()
                .map_err(|_| invalid("`url` is not valid UTF-8 once decoded"))?
                .into_owned();
            (Form::Url, path)
        } else {
            let path = object["path"]
                .as_str()
                .ok_or_else(|| invalid("`path` must be a string"))?;
            (Form::Fields, path.to_owned())
        };
        if path.is_empty() || path.starts_with(':') {
            return Err(invalid(
                "`path` must name a database file (in-memory databases have no schema to cache)",
            ));
        }
        plain_text("path", &path, 4096)?;
        Ok(Self { path, form })
    }

    pub(super) fn render(&self) -> Value {
        match self.form {
            Form::Url => json!({
                "url": format!("sqlite://{}", utf8_percent_encode(&self.path, URL_RESERVED))
            }),
            Form::Fields => json!({ "path": self.path }),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{SourceConfig, SourceKind};
    use serde_json::json;

    #[test]
    fn a_stored_url_reads_back_as_the_same_file() {
        for (url, path) in [
            ("sqlite://a%2520b.db", "a%20b.db"),
            ("sqlite://x%3Fmode=rwc.db", "x?mode=rwc.db"),
            ("sqlite://caf%C3%A9%23.db", "café#.db"),
            ("sqlite://plain.db", "plain.db"),
        ] {
            let parsed = SourceConfig::parse(SourceKind::Sqlite, &json!({"url": url})).unwrap();
            let again = SourceConfig::parse(SourceKind::Sqlite, &parsed.redacted()).unwrap();
            assert_eq!(again, parsed, "{url}");
            let SourceConfig::Sqlite(file) = again else {
                panic!("a sqlite file")
            };
            assert_eq!(file.path, path);
        }
    }

    #[test]
    fn sqlite_files_are_paths_without_options() {
        let ok =
            SourceConfig::parse(SourceKind::Sqlite, &json!({"url": "sqlite://shop.db"})).unwrap();
        assert_eq!(
            SourceConfig::parse(SourceKind::Sqlite, &ok.sealed_form()),
            Ok(ok.clone())
        );
        assert_eq!(ok.redacted(), json!({"url": "sqlite://shop.db"}));
        for bad in [
            json!({"url": "sqlite://shop.db?mode=rwc"}),
            json!({"url": "sqlite::memory:"}),
            json!({"path": ""}),
            json!({"path": "a\u{0}b"}),
            json!({"path": "x.db", "url": "sqlite://x.db"}),
            json!({"url": "postgres://x/y"}),
        ] {
            assert!(
                SourceConfig::parse(SourceKind::Sqlite, &bad).is_err(),
                "{bad}"
            );
        }
    }
}
