//! The cached schema as clients read it: objects in a list, one object with
//! its fields (overrides applied, Polytomic's names beside ours), and the
//! bodies that add user fields and override keys.

use schemata_core::{
    self as core, Conflict, EffectiveField, EffectiveObject, FieldType, ObjectKind, SchemaId,
    SchemaObject,
};
use schemata_store::cache;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// A cached object in a list: no fields.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "id": "public.customer",
    "schema": "public",
    "name": "customer",
    "kind": "table",
    "field_count": 10,
    "row_estimate": 599,
    "partition_count": null,
    "comment": null
}))]
pub(crate) struct ObjectSummary {
    /// The schema id, `{schema_id}` of the object's routes: `schema.name`,
    /// a part holding `.` or `"` double-quoted.
    id: String,
    schema: String,
    name: String,
    kind: ObjectKind,
    field_count: i64,
    row_estimate: Option<i64>,
    partition_count: Option<i32>,
    comment: Option<String>,
}

impl From<&cache::ObjectSummary> for ObjectSummary {
    fn from(object: &cache::ObjectSummary) -> Self {
        Self {
            id: SchemaId::new(&object.schema_name, &object.name).to_string(),
            schema: object.schema_name.clone(),
            name: object.name.clone(),
            kind: object.kind,
            field_count: i64::from(object.field_count),
            row_estimate: object.row_estimate,
            partition_count: object.partition_count,
            comment: object.comment.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Association {
    schema_id: String,
    field: String,
    /// Polytomic's name for `schema_id`.
    reference_to: Vec<String>,
    /// Polytomic's name for `field`.
    referenced_field: String,
}

/// A field as clients see it: detected by a refresh, overridden, or added by a user.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "id": "email",
    "name": "email",
    "type": "string",
    "remote_type": "character varying(50)",
    "detected_type": "string",
    "nullable": true,
    "default": null,
    "ordinal": 5,
    "is_primary_key": false,
    "source_primary_key": false,
    "user_managed": false,
    "label": null,
    "path": null,
    "conflict": null,
    "association": null,
    "comment": null,
    "is_generated": false,
    "generation_expression": null,
    "is_auto_increment": false,
    "enum_values": null,
    "coverage": null
}))]
pub(crate) struct Field {
    id: String,
    name: String,
    #[serde(rename = "type")]
    field_type: FieldType,
    /// The source's own type; null for a user field.
    remote_type: Option<String>,
    detected_type: Option<FieldType>,
    nullable: bool,
    default: Option<String>,
    ordinal: Option<i32>,
    is_primary_key: bool,
    source_primary_key: bool,
    user_managed: bool,
    label: Option<String>,
    path: Option<String>,
    conflict: Option<Conflict>,
    association: Option<Association>,
    comment: Option<String>,
    is_generated: bool,
    generation_expression: Option<String>,
    is_auto_increment: bool,
    enum_values: Option<Vec<String>>,
    /// DynamoDB: the share of sampled items that had this attribute (0 to 1,
    /// two decimals); null for sources with a declared schema.
    coverage: Option<f64>,
    /// Present when the primary key was set by a user: whether this field is in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    primary_key_override: Option<bool>,
    /// A user field's example value.
    #[serde(skip_serializing_if = "Option::is_none")]
    example: Option<Value>,
    /// A user field's definition.
    #[serde(skip_serializing_if = "Option::is_none")]
    definition: Option<Value>,
}

impl From<&EffectiveField> for Field {
    fn from(field: &EffectiveField) -> Self {
        let detected = field.detected.as_ref();
        Self {
            id: field.id.clone(),
            name: field.name.clone(),
            field_type: field.field_type,
            remote_type: detected.map(|d| d.remote_type.clone()),
            detected_type: detected.map(|d| d.field_type),
            nullable: detected.is_none_or(|d| d.nullable),
            default: detected.and_then(|d| d.default.clone()),
            ordinal: detected.map(|d| d.ordinal),
            is_primary_key: field.is_primary_key,
            source_primary_key: field.source_primary_key,
            user_managed: field.user_managed,
            label: field.label.clone(),
            path: field.path.clone(),
            conflict: field.conflict,
            association: detected
                .and_then(|d| d.association.as_ref())
                .map(|a| Association {
                    schema_id: a.schema_id.clone(),
                    field: a.field.clone(),
                    reference_to: vec![a.schema_id.clone()],
                    referenced_field: a.field.clone(),
                }),
            comment: detected.and_then(|d| d.comment.clone()),
            is_generated: detected.is_some_and(|d| d.is_generated),
            generation_expression: detected.and_then(|d| d.generation_expression.clone()),
            is_auto_increment: detected.is_some_and(|d| d.is_auto_increment),
            enum_values: detected.and_then(|d| d.enum_values.clone()),
            coverage: detected.and_then(|d| d.coverage),
            primary_key_override: field.primary_key_override,
            example: field.example.clone(),
            definition: field.definition.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Index {
    name: String,
    columns: Vec<String>,
    unique: bool,
    primary: bool,
    definition: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Reference {
    schema_id: String,
    fields: Vec<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ForeignKey {
    name: String,
    columns: Vec<String>,
    references: Reference,
    #[serde(skip_serializing_if = "Option::is_none")]
    on_delete: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    on_update: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UniqueConstraint {
    name: String,
    columns: Vec<String>,
}

/// One cached object with its fields, keys and indexes, overrides applied.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ObjectDetail {
    id: String,
    schema: String,
    name: String,
    kind: ObjectKind,
    field_count: i64,
    row_estimate: Option<i64>,
    partition_count: Option<i32>,
    comment: Option<String>,
    fields: Vec<Field>,
    /// The effective key: a user's override, else the detected one.
    primary_keys: Vec<String>,
    detected_primary_keys: Vec<String>,
    /// `source_field_removed` when a user's key names a field the source no longer has.
    primary_key_conflict: Option<Conflict>,
    indexes: Vec<Index>,
    foreign_keys: Vec<ForeignKey>,
    unique_constraints: Vec<UniqueConstraint>,
    /// Source-specific extras (e.g. a MySQL table's engine).
    #[serde(skip_serializing_if = "Option::is_none")]
    properties: Option<Map<String, Value>>,
}

impl ObjectDetail {
    /// `object` as its `view` (overrides applied) shows it.
    pub(crate) fn of(object: &SchemaObject, view: &EffectiveObject) -> Self {
        Self {
            id: object.id().to_string(),
            schema: object.schema.clone(),
            name: object.name.clone(),
            kind: object.kind,
            field_count: i64::try_from(view.fields.len()).unwrap_or(i64::MAX),
            row_estimate: object.row_estimate,
            partition_count: object.partition_count,
            comment: object.comment.clone(),
            fields: view.fields.iter().map(Field::from).collect(),
            primary_keys: view.primary_keys.clone(),
            detected_primary_keys: view.detected_primary_keys.clone(),
            primary_key_conflict: view.primary_key_conflict,
            indexes: object.indexes.iter().map(index).collect(),
            foreign_keys: object.foreign_keys.iter().map(foreign_key).collect(),
            unique_constraints: object
                .unique_constraints
                .iter()
                .map(|u| UniqueConstraint {
                    name: u.name.clone(),
                    columns: u.columns.clone(),
                })
                .collect(),
            properties: (!object.properties.is_empty()).then(|| object.properties.clone()),
        }
    }
}

fn index(index: &core::Index) -> Index {
    Index {
        name: index.name.clone(),
        columns: index.columns.clone(),
        unique: index.unique,
        primary: index.primary,
        definition: index.definition.clone(),
    }
}

fn foreign_key(key: &core::ForeignKey) -> ForeignKey {
    ForeignKey {
        name: key.name.clone(),
        columns: key.columns.clone(),
        references: Reference {
            schema_id: key.references.schema_id.clone(),
            fields: key.references.fields.clone(),
        },
        on_delete: key.on_delete.clone(),
        on_update: key.on_update.clone(),
    }
}

/// `POST …/fields`: ours (`name`) or Polytomic's (`field_id`, `label`) shape.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserFieldInput {
    pub field_id: Option<String>,
    pub name: Option<String>,
    pub label: Option<String>,
    /// Ours (`string`, `integer`, `json`…) or Polytomic's (`object` is `json`).
    #[serde(rename = "type")]
    pub field_type: String,
    pub path: Option<String>,
    pub definition: Option<Value>,
    pub example: Option<Value>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "fields": [{ "name": "lifetime_value", "type": "number", "path": "$.ltv" }] }))]
pub(crate) struct UpsertFields {
    /// At most 500; one bad field writes none.
    pub fields: Vec<UserFieldInput>,
}

/// `PATCH …/fields/{field_id}`: a key left out is kept; `null` or `""` clears
/// it. Read key by key by the handler (a key's absence and its `null`
/// differ); this type is its documented shape.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "label": "Customer email", "type": "string" }))]
pub(crate) struct PatchField {
    name: Option<String>,
    label: Option<String>,
    #[serde(rename = "type")]
    field_type: Option<FieldType>,
    path: Option<String>,
    definition: Option<Value>,
    example: Option<Value>,
}

/// A field of a primary key: its name, or Polytomic's flagged form.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum PrimaryKeyInput {
    Name(String),
    Flagged(FlaggedKey),
}

/// Polytomic's form of a primary key's field (other keys are ignored).
#[derive(Deserialize, ToSchema)]
pub(crate) struct FlaggedKey {
    pub field_id: String,
    /// Left out: `true`.
    #[serde(default = "yes")]
    #[schema(required = false)]
    pub is_primary_key: bool,
}

fn yes() -> bool {
    true
}

/// `PUT …/primary_keys`: the key is now these fields, in order (empty: the detected key).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "fields": ["customer_id", "store_id"] }))]
pub(crate) struct PrimaryKeys {
    pub fields: Vec<PrimaryKeyInput>,
}
