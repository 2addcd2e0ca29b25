//! The id of the request being served, kept in a task-local by the
//! request-id middleware so that error envelopes can name it.

use uuid::Uuid;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served, or a fresh one outside a request.
pub(crate) fn current() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| Uuid::now_v7().to_string())
}

/// Runs `work` as the serving of request `id`.
pub(crate) async fn scope<F: Future>(id: String, work: F) -> F::Output {
    REQUEST_ID.scope(id, work).await
}
