use schemata_worker::{Worker, WorkerSettings};
use sqlx::PgPool;
use tokio::{sync::oneshot, task::JoinHandle};

/// A worker running in the test process until [`TestWorker::stop`].
pub struct TestWorker {
    shutdown: oneshot::Sender<()>,
    running: JoinHandle<anyhow::Result<()>>,
    /// Where its `/healthz` and `/readyz` answer.
    pub ops_port: u16,
}

impl TestWorker {
    pub(crate) fn spawn(settings: WorkerSettings, pool: PgPool) -> Self {
        let worker = Worker::build_with_pool(settings, pool).expect("build the worker");
        let ops_port = worker.ops_port();
        let (shutdown, stopped) = oneshot::channel::<()>();
        let running = tokio::spawn(worker.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        Self {
            shutdown,
            running,
            ops_port,
        }
    }

    /// Stops the worker as SIGTERM would and fails the test if it did not stop cleanly.
    pub async fn stop(self) {
        let _ = self.shutdown.send(());
        self.running
            .await
            .expect("worker task panicked")
            .expect("worker stopped with an error");
    }
}
