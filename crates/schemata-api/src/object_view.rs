//! The JSON of one cached object as clients see it: detected fields with the
//! user's overrides applied, user fields, and Polytomic's names beside ours.

use schemata_core::{EffectiveField, EffectiveObject, SchemaObject};
use serde_json::{Value, json};

pub(crate) fn detail(object: &SchemaObject, view: &EffectiveObject) -> Value {
    let mut value = json!({
        "id": object.id().to_string(),
        "schema": object.schema,
        "name": object.name,
        "kind": object.kind,
        "field_count": view.fields.len(),
        "row_estimate": object.row_estimate,
        "partition_count": object.partition_count,
        "comment": object.comment,
    });
    value["fields"] = view.fields.iter().map(field).collect();
    value["primary_keys"] = json!(view.primary_keys);
    value["detected_primary_keys"] = json!(view.detected_primary_keys);
    value["primary_key_conflict"] = json!(view.primary_key_conflict);
    value["indexes"] = json!(object.indexes);
    value["foreign_keys"] = json!(object.foreign_keys);
    value["unique_constraints"] = json!(object.unique_constraints);
    if !object.properties.is_empty() {
        value["properties"] = json!(object.properties);
    }
    value
}

pub(crate) fn field(field: &EffectiveField) -> Value {
    let detected = field.detected.as_ref();
    let association = detected.and_then(|d| d.association.as_ref()).map(|a| {
        json!({
            "schema_id": a.schema_id,
            "field": a.field,
            // Polytomic's names for the same.
            "reference_to": [a.schema_id],
            "referenced_field": a.field,
        })
    });
    let mut value = json!({
        "id": field.id,
        "name": field.name,
        "type": field.field_type,
        "remote_type": detected.map(|d| &d.remote_type),
        "detected_type": detected.map(|d| d.field_type),
        "nullable": detected.is_none_or(|d| d.nullable),
        "default": detected.and_then(|d| d.default.as_ref()),
        "ordinal": detected.map(|d| d.ordinal),
        "is_primary_key": field.is_primary_key,
        "source_primary_key": field.source_primary_key,
        "user_managed": field.user_managed,
        "label": field.label,
        "path": field.path,
        "conflict": field.conflict,
        "association": association,
        "comment": detected.and_then(|d| d.comment.as_ref()),
        "is_generated": detected.is_some_and(|d| d.is_generated),
        "generation_expression": detected.and_then(|d| d.generation_expression.as_ref()),
        "is_auto_increment": detected.is_some_and(|d| d.is_auto_increment),
        "enum_values": detected.and_then(|d| d.enum_values.as_ref()),
        "coverage": detected.and_then(|d| d.coverage),
    });
    // Polytomic omits these when unset.
    if let Some(over) = field.primary_key_override {
        value["primary_key_override"] = json!(over);
    }
    if let Some(example) = &field.example {
        value["example"] = example.clone();
    }
    if let Some(definition) = &field.definition {
        value["definition"] = definition.clone();
    }
    value
}
