//! What users put on top of a detected object: label and type overrides of
//! detected fields, fields of their own, and a primary key of their choosing.
//! Kept apart from the snapshot, so no refresh can remove them; merged with it
//! on read into the effective view clients see.

use crate::{Field, FieldType, SchemaObject};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A row of `field_overrides`: an override of a detected field
/// (`source_field` set) or a user field (`source_field` none).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldOverride {
    /// The field's id: the detected field's name, or the user field's id.
    pub field_id: String,
    pub source_field: Option<String>,
    /// A user field's name (defaults to its id).
    pub display_name: Option<String>,
    pub label: Option<String>,
    pub field_type: Option<FieldType>,
    pub path: Option<String>,
    /// The detected field's `remote_type` when the override was made.
    pub source_type_at_override: Option<String>,
    pub example: Option<Value>,
    pub definition: Option<Value>,
}

/// Everything users set on one object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectOverrides {
    pub fields: Vec<FieldOverride>,
    pub primary_keys: Option<Vec<String>>,
}

/// Why an override no longer matches the source under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = FieldConflict))]
#[serde(rename_all = "snake_case")]
pub enum Conflict {
    SourceFieldRemoved,
    SourceTypeChanged,
    /// A user field whose id the source has since given a detected field.
    DetectedFieldExists,
}

/// A field as clients see it: detected, overridden, or the user's own.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectiveField {
    pub id: String,
    pub name: String,
    pub label: Option<String>,
    pub field_type: FieldType,
    /// The detected field (its type, nullability, association…), if any.
    pub detected: Option<Field>,
    pub user_managed: bool,
    pub path: Option<String>,
    pub conflict: Option<Conflict>,
    pub is_primary_key: bool,
    /// Whether the source reports it as part of the primary key.
    pub source_primary_key: bool,
    /// The override's say on it, when a primary key override is set.
    pub primary_key_override: Option<bool>,
    pub example: Option<Value>,
    pub definition: Option<Value>,
}

impl EffectiveField {
    /// Whether a primary key may name it: it exists (a type change does not
    /// matter to a key).
    pub fn can_be_a_key(&self) -> bool {
        self.conflict != Some(Conflict::SourceFieldRemoved)
    }
}

/// An object with the user's overrides applied.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectiveObject {
    pub fields: Vec<EffectiveField>,
    pub primary_keys: Vec<String>,
    pub detected_primary_keys: Vec<String>,
    /// Fields of a primary key override the object no longer has.
    pub primary_key_conflict: Option<Conflict>,
}

impl ObjectOverrides {
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.primary_keys.is_none()
    }

    /// The override of detected field `name`, if any.
    fn of_detected(&self, name: &str) -> Option<&FieldOverride> {
        self.fields
            .iter()
            .find(|o| o.source_field.as_deref() == Some(name))
    }
}

/// Applies `overrides` to `object`: detected fields in source order (with their
/// overrides), then overrides whose source field is gone (flagged), then user
/// fields.
pub fn effective(object: &SchemaObject, overrides: &ObjectOverrides) -> EffectiveObject {
    let primary_keys = overrides
        .primary_keys
        .clone()
        .unwrap_or_else(|| object.primary_keys.clone());
    let mut fields: Vec<EffectiveField> = object
        .fields
        .iter()
        .map(|detected| {
            let over = overrides.of_detected(&detected.name);
            let conflict = over.and_then(|o| {
                let at_override = o.source_type_at_override.as_deref()?;
                (at_override != detected.remote_type).then_some(Conflict::SourceTypeChanged)
            });
            EffectiveField {
                id: detected.name.clone(),
                name: detected.name.clone(),
                label: over.and_then(|o| o.label.clone()),
                field_type: over
                    .and_then(|o| o.field_type)
                    .unwrap_or(detected.field_type),
                detected: Some(detected.clone()),
                user_managed: over.is_some(),
                path: over.and_then(|o| o.path.clone()),
                conflict,
                is_primary_key: primary_keys.contains(&detected.name),
                source_primary_key: object.primary_keys.contains(&detected.name),
                primary_key_override: overrides
                    .primary_keys
                    .as_ref()
                    .map(|keys| keys.contains(&detected.name)),
                example: over.and_then(|o| o.example.clone()),
                definition: over.and_then(|o| o.definition.clone()),
            }
        })
        .collect();
    let detected_names: Vec<&str> = object.fields.iter().map(|f| f.name.as_str()).collect();
    for over in &overrides.fields {
        let orphaned = over
            .source_field
            .as_deref()
            .is_some_and(|name| !detected_names.contains(&name));
        if over.source_field.is_some() && !orphaned {
            continue;
        }
        fields.push(EffectiveField {
            id: over.field_id.clone(),
            name: over
                .display_name
                .clone()
                .unwrap_or_else(|| over.field_id.clone()),
            label: over.label.clone(),
            field_type: over.field_type.unwrap_or(FieldType::Unknown),
            detected: None,
            user_managed: true,
            path: over.path.clone(),
            conflict: if orphaned {
                Some(Conflict::SourceFieldRemoved)
            } else if detected_names.contains(&over.field_id.as_str()) {
                Some(Conflict::DetectedFieldExists)
            } else {
                None
            },
            is_primary_key: primary_keys.contains(&over.field_id),
            source_primary_key: false,
            primary_key_override: overrides
                .primary_keys
                .as_ref()
                .map(|keys| keys.contains(&over.field_id)),
            example: over.example.clone(),
            definition: over.definition.clone(),
        });
    }
    let primary_key_conflict = overrides.primary_keys.as_ref().and_then(|keys| {
        keys.iter()
            .any(|key| !fields.iter().any(|f| &f.id == key && f.can_be_a_key()))
            .then_some(Conflict::SourceFieldRemoved)
    });
    EffectiveObject {
        fields,
        primary_keys,
        detected_primary_keys: object.primary_keys.clone(),
        primary_key_conflict,
    }
}

/// The version clients see: the detected cache's version, and when users set
/// anything, a hash of it with a canonical listing of their overrides. Equal
/// content gives an equal version, whenever and wherever it is computed.
pub fn effective_version(detected: &str, overrides_listing: Option<&str>) -> String {
    match overrides_listing {
        None | Some("") => detected.to_owned(),
        Some(listing) => {
            let mut hasher = Sha256::new();
            hasher.update(detected.as_bytes());
            hasher.update([0]);
            hasher.update(listing.as_bytes());
            format!("sha256:{}", hex::encode(hasher.finalize()))
        }
    }
}

/// A type given by a client, ours or Polytomic's (`object` is our `json`).
pub fn parse_field_type(raw: &str) -> Option<FieldType> {
    match raw {
        "object" => Some(FieldType::Json),
        other => FieldType::parse(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::tests::{field, table};

    fn over(source: Option<&str>, id: &str) -> FieldOverride {
        FieldOverride {
            field_id: id.into(),
            source_field: source.map(Into::into),
            display_name: None,
            label: Some("Label".into()),
            field_type: Some(FieldType::String),
            path: None,
            source_type_at_override: source.map(|_| "integer".into()),
            example: None,
            definition: None,
        }
    }

    #[test]
    fn overrides_apply_and_flag_what_the_source_changed_under_them() {
        let mut object = table(
            "public",
            "t",
            vec![field("id", 1, "integer"), field("code", 2, "text")],
        );
        object.primary_keys = vec!["id".into()];
        let overrides = ObjectOverrides {
            fields: vec![
                over(Some("id"), "id"),
                over(Some("code"), "code"),
                over(Some("gone"), "gone"),
                over(None, "score"),
            ],
            primary_keys: Some(vec!["code".into(), "gone".into()]),
        };
        let view = effective(&object, &overrides);
        let ids: Vec<&str> = view.fields.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["id", "code", "gone", "score"]);
        assert_eq!(view.fields[0].conflict, None, "id is still an integer");
        assert_eq!(view.fields[0].field_type, FieldType::String);
        assert_eq!(
            view.fields[1].conflict,
            Some(Conflict::SourceTypeChanged),
            "code was integer when overridden, text now"
        );
        assert_eq!(view.fields[2].conflict, Some(Conflict::SourceFieldRemoved));
        assert_eq!(view.fields[3].conflict, None, "user fields have no source");
        assert_eq!(view.primary_keys, ["code", "gone"]);
        assert_eq!(view.detected_primary_keys, ["id"]);
        assert!(!view.fields[0].is_primary_key && view.fields[0].source_primary_key);
        assert_eq!(view.fields[1].primary_key_override, Some(true));
        assert_eq!(
            view.primary_key_conflict,
            Some(Conflict::SourceFieldRemoved)
        );
    }

    #[test]
    fn a_user_field_the_source_later_detects_is_flagged_and_a_retyped_key_is_no_conflict() {
        let object = table(
            "public",
            "t",
            vec![field("id", 1, "bigint"), field("score", 2, "integer")],
        );
        let overrides = ObjectOverrides {
            fields: vec![over(Some("id"), "id"), over(None, "score")],
            primary_keys: Some(vec!["id".into()]),
        };
        let view = effective(&object, &overrides);
        assert_eq!(view.fields[0].conflict, Some(Conflict::SourceTypeChanged));
        assert_eq!(view.fields[2].conflict, Some(Conflict::DetectedFieldExists));
        assert_eq!(view.primary_key_conflict, None, "id still exists");
    }

    #[test]
    fn no_overrides_is_the_detected_object() {
        let object = table("public", "t", vec![field("id", 1, "integer")]);
        let view = effective(&object, &ObjectOverrides::default());
        assert!(!view.fields[0].user_managed && view.fields[0].label.is_none());
        assert_eq!(view.fields[0].primary_key_override, None);
        assert_eq!(effective_version("sha256:a", None), "sha256:a");
        assert_ne!(effective_version("sha256:a", Some("x")), "sha256:a");
        assert_eq!(
            effective_version("sha256:a", Some("x")),
            effective_version("sha256:a", Some("x"))
        );
    }

    #[test]
    fn polytomic_object_is_our_json() {
        assert_eq!(parse_field_type("object"), Some(FieldType::Json));
        assert_eq!(parse_field_type("datetime"), Some(FieldType::Datetime));
        assert_eq!(parse_field_type("varchar"), None);
    }
}
