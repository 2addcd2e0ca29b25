//! Keeps the status cache honest for this process's own clients.

use crate::state::AppState;
use actix_web::{
    Error,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::Method,
    middleware::Next,
    web,
};

/// After any request that may have written (not GET or HEAD), this process
/// forgets the status of the connection it named: its clients read their own
/// writes at once, without waiting for the notification, and the statuses of
/// every other connection (other tenants' among them) stay in memory.
pub(crate) async fn forget_after_writes(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    // Reads (the status polls among them) pass straight through.
    let writes = !matches!(*req.method(), Method::GET | Method::HEAD);
    let written = writes
        .then(|| req.app_data::<web::Data<AppState>>().cloned())
        .flatten()
        .map(|state| (state, touched(req.path())));
    let response = next.call(req).await;
    if let Some((state, touched)) = written {
        match touched {
            Touched::Nothing => {}
            Touched::Connection(id) => state.status_cache.forget(id),
            Touched::Unknown => state.status_cache.forget_all(),
        }
    }
    response.map(ServiceResponse::map_into_boxed_body)
}

/// Which statuses a write to `path` may change.
#[derive(Debug, PartialEq, Eq)]
enum Touched {
    /// Nothing a status shows (webhooks, a new connection: never cached).
    Nothing,
    /// `/api/connections/{id}…`: that connection's.
    Connection(uuid::Uuid),
    /// A path this does not know: all of them, to be safe.
    Unknown,
}

fn touched(path: &str) -> Touched {
    if path == "/api/connections" || path.starts_with("/api/webhooks") {
        return Touched::Nothing;
    }
    path.strip_prefix("/api/connections/")
        .and_then(|rest| rest.split('/').next())
        .and_then(|id| id.parse().ok())
        .map_or(Touched::Unknown, Touched::Connection)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_forgets_only_the_connection_it_names() {
        let id = uuid::Uuid::now_v7();
        for path in [
            format!("/api/connections/{id}"),
            format!("/api/connections/{id}/schemas/refresh"),
            format!("/api/connections/{id}/schemas/public.users/fields/email"),
        ] {
            assert_eq!(touched(&path), Touched::Connection(id), "{path}");
        }
        assert_eq!(touched("/api/connections"), Touched::Nothing);
        assert_eq!(touched("/api/webhooks/abc"), Touched::Nothing);
        assert_eq!(touched("/api/connections/not-an-id/x"), Touched::Unknown);
        assert_eq!(touched("/api/something-new"), Touched::Unknown);
    }
}
