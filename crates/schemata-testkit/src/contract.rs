//! Every response a test sees through [`crate::TestApp`] is checked against
//! the OpenAPI document: its path and method must be documented, its status
//! listed (or covered by `default`), and a JSON body must validate against the
//! schema of that response. A handler that drifts from the document fails the
//! test that exercised it.

use serde_json::{Map, Value, json};
use std::{
    collections::HashMap,
    sync::{Arc, LazyLock, Mutex},
};

/// The document and the validators compiled from it so far.
pub struct Contract {
    document: Value,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

static CONTRACT: LazyLock<Contract> =
    LazyLock::new(|| Contract::new(schemata_api::openapi_document()));

/// The contract of this build of the API.
pub fn contract() -> &'static Contract {
    &CONTRACT
}

impl Contract {
    pub fn new(document: Value) -> Self {
        Self {
            document,
            validators: Mutex::new(HashMap::new()),
        }
    }

    pub fn document(&self) -> &Value {
        &self.document
    }

    /// The documented path template a request path falls under: the one with
    /// the most literal segments, as the router prefers them.
    pub fn template_of(&self, path: &str) -> Option<String> {
        let path = path.split('?').next().unwrap_or(path);
        let segments: Vec<&str> = path.split('/').collect();
        self.document["paths"]
            .as_object()?
            .keys()
            .filter_map(|template| {
                let parts: Vec<&str> = template.split('/').collect();
                if parts.len() != segments.len() {
                    return None;
                }
                let mut literal = 0;
                for (part, segment) in parts.iter().zip(&segments) {
                    if part.starts_with('{') && part.ends_with('}') {
                        if segment.is_empty() {
                            return None;
                        }
                    } else if part == segment {
                        literal += 1;
                    } else {
                        return None;
                    }
                }
                Some((literal, template.clone()))
            })
            .max_by_key(|(literal, _)| *literal)
            .map(|(_, template)| template)
    }

    /// Checks one response; `Err` says what does not match.
    pub fn check(
        &self,
        method: &str,
        path: &str,
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<(), String> {
        let Some(template) = self.template_of(path) else {
            // Unknown paths answer the error envelope (404) like any route.
            return self.check_error_body(status, body, path);
        };
        let operation = &self.document["paths"][&template][method.to_ascii_lowercase()];
        if operation.is_null() {
            // A method a route does not serve answers 405 in the envelope.
            return if status == 405 {
                self.check_error_body(status, body, path)
            } else {
                Err(format!(
                    "{method} {template} is not in the OpenAPI document (answered {status})"
                ))
            };
        }
        let responses = &operation["responses"];
        let (key, response) = match responses.get(status.to_string()) {
            Some(response) => (status.to_string(), response),
            None => match responses.get("default") {
                Some(response) if status >= 400 => ("default".to_owned(), response),
                _ => {
                    return Err(format!(
                        "{method} {template} answered {status}, which the OpenAPI document does not list"
                    ));
                }
            },
        };
        let Some(schema) = response["content"]["application/json"].get("schema") else {
            return Ok(());
        };
        let json_sent = content_type.is_some_and(|c| c.starts_with("application/json"));
        if !json_sent {
            return Err(format!(
                "{method} {template} {status}: documented as JSON, sent {content_type:?}"
            ));
        }
        let id = format!("{method} {template} {key}");
        self.validate(&id, schema, body)
    }

    fn check_error_body(&self, status: u16, body: &[u8], path: &str) -> Result<(), String> {
        if status < 400 {
            return Err(format!(
                "{path} is not in the OpenAPI document (answered {status})"
            ));
        }
        let schema = json!({ "$ref": "#/components/schemas/ErrorEnvelope" });
        self.validate("error envelope", &schema, body)
    }

    /// Validates `body` against `schema`, resolving `#/components/…` in the document.
    pub fn validate(&self, id: &str, schema: &Value, body: &[u8]) -> Result<(), String> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| format!("{id}: the body is not JSON ({e})"))?;
        self.validate_value(id, schema, &value)
    }

    pub fn validate_value(&self, id: &str, schema: &Value, value: &Value) -> Result<(), String> {
        let validator = self.validator(id, schema)?;
        let errors: Vec<String> = validator
            .iter_errors(value)
            .take(5)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{id}: the body does not match the OpenAPI document:\n  {}\nbody: {}",
                errors.join("\n  "),
                value.to_string().chars().take(2000).collect::<String>()
            ))
        }
    }

    fn validator(&self, id: &str, schema: &Value) -> Result<Arc<jsonschema::Validator>, String> {
        let key = format!("{id}\n{schema}");
        if let Some(found) = self.validators.lock().unwrap().get(&key) {
            return Ok(found.clone());
        }
        let mut root = Map::new();
        root.insert(
            "$schema".into(),
            "https://json-schema.org/draft/2020-12/schema".into(),
        );
        root.insert("components".into(), self.document["components"].clone());
        match schema {
            Value::Object(fields) => root.extend(fields.clone()),
            other => {
                root.insert("allOf".into(), json!([other]));
            }
        }
        let validator = jsonschema::validator_for(&Value::Object(root))
            .map_err(|e| format!("{id}: the document's schema does not compile: {e}"))?;
        let validator = Arc::new(validator);
        self.validators
            .lock()
            .unwrap()
            .insert(key, validator.clone());
        Ok(validator)
    }
}
