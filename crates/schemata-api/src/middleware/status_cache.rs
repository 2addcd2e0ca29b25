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
/// forgets every status it kept: its clients read their own writes at once,
/// without waiting for the notification.
pub(crate) async fn forget_after_writes(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    // Reads (the status polls among them) pass straight through.
    let writes = !matches!(*req.method(), Method::GET | Method::HEAD);
    let state = writes
        .then(|| req.app_data::<web::Data<AppState>>().cloned())
        .flatten();
    let response = next.call(req).await;
    if let Some(state) = state {
        state.status_cache.forget_all();
    }
    response.map(ServiceResponse::map_into_boxed_body)
}
