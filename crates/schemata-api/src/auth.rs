//! Who is calling, for which organization, with which scopes.
//!
//! The key is checked by a middleware (`middleware::authenticate`) before any
//! handler's extractor runs, and each handler names its scope in its first
//! argument (`Authorized<SchemasWrite>`), so a bad key is a 401 and a missing
//! scope a 403 before any 400 about the path, the query or the body.

use crate::error::ApiError;
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload};
use futures::future::{Ready, ready};
use schemata_core::Scope;
use std::{marker::PhantomData, ops::Deref};
use uuid::Uuid;

/// An authenticated caller.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub key_id: Uuid,
    pub organization_id: Uuid,
    pub scopes: Vec<Scope>,
}

/// A scope a route requires, as a type.
pub(crate) trait RequiredScope {
    const SCOPE: Scope;
}

macro_rules! scopes {
    ($($name:ident => $scope:ident),*) => {$(
        pub(crate) struct $name;
        impl RequiredScope for $name {
            const SCOPE: Scope = Scope::$scope;
        }
    )*};
}

scopes!(
    ConnectionsRead => ConnectionsRead,
    ConnectionsWrite => ConnectionsWrite,
    SchemasRead => SchemasRead,
    SchemasWrite => SchemasWrite
);

/// The caller, proven to hold scope `S`. Put it first among a handler's arguments.
pub(crate) struct Authorized<S> {
    caller: Caller,
    scope: PhantomData<S>,
}

impl<S> Deref for Authorized<S> {
    type Target = Caller;

    fn deref(&self) -> &Caller {
        &self.caller
    }
}

impl<S: RequiredScope> FromRequest for Authorized<S> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let caller = req.extensions().get::<Caller>().cloned();
        ready(match caller {
            None => Err(ApiError::Unauthorized),
            Some(caller) if caller.scopes.contains(&S::SCOPE) => Ok(Self {
                caller,
                scope: PhantomData,
            }),
            Some(_) => Err(ApiError::Forbidden(S::SCOPE)),
        })
    }
}
