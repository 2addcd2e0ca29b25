//! JSON columns read into core types, leniently: a row written by another
//! version of Schemata (an older shape, a newer one) shows without the part
//! this version cannot read, instead of failing every page that lists it.

use serde::de::DeserializeOwned;
use serde_json::Value;
use sqlx::{
    Decode, Postgres, Type,
    error::BoxDynError,
    postgres::{PgTypeInfo, PgValueRef},
    types::Json,
};

/// A JSON (jsonb) column as `T`: `None` when NULL, or when it does not read as `T`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredJson<T>(pub Option<T>);

impl<T> StoredJson<T> {
    pub fn get(&self) -> Option<&T> {
        self.0.as_ref()
    }
}

impl<T> Default for StoredJson<T> {
    fn default() -> Self {
        Self(None)
    }
}

impl<T> Type<Postgres> for StoredJson<T> {
    fn type_info() -> PgTypeInfo {
        <Json<Value> as Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <Json<Value> as Type<Postgres>>::compatible(ty)
    }
}

impl<'r, T: DeserializeOwned> Decode<'r, Postgres> for StoredJson<T> {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        use sqlx::ValueRef;
        if value.is_null() {
            return Ok(Self(None));
        }
        let Json(raw) = <Json<Value> as Decode<Postgres>>::decode(value)?;
        match serde_json::from_value(raw) {
            Ok(read) => Ok(Self(Some(read))),
            Err(error) => {
                tracing::warn!(
                    %error,
                    shape = std::any::type_name::<T>(),
                    "a stored JSON value does not read as this version's shape; shown as null"
                );
                Ok(Self(None))
            }
        }
    }
}
