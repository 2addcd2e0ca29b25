//! The binaries refuse a database that is not migrated, and migrating twice is harmless.

use schemata_api::{ApiSettings, Application};
use schemata_store::{SecretBox, StoreSettings};
use schemata_testkit::{fresh_database, migrated_database};
use schemata_worker::{Worker, WorkerSettings};

fn store(url: String) -> StoreSettings {
    StoreSettings {
        acquire_timeout: schemata_store::settings::DEFAULT_ACQUIRE_TIMEOUT,
        database_url: url,
        max_connections: 2,
        encryption_key: SecretBox::generate_key_hex(),
    }
}

#[tokio::test]
async fn api_and_worker_refuse_an_unmigrated_database_with_a_clear_message() {
    let database = fresh_database("empty").await;
    let url = database.url().to_owned();
    let mut api = ApiSettings::from_env_with(store(url.clone())).unwrap();
    api.port = 0;
    let error = Application::build(api)
        .await
        .err()
        .expect("the API must refuse to start");
    let message = format!("{error:#}");
    assert!(
        message.contains("not migrated") && message.contains("schemata migrate"),
        "{message}"
    );

    let mut worker = WorkerSettings::from_env_with(store(url)).unwrap();
    worker.ops_port = 0;
    let error = Worker::build(worker)
        .await
        .err()
        .expect("the worker must refuse to start");
    assert!(format!("{error:#}").contains("schemata migrate"));
}

#[tokio::test]
async fn migrating_again_is_a_no_op_and_the_check_passes() {
    let (_database, pool) = migrated_database().await;
    schemata_store::migrate(&pool)
        .await
        .expect("second migration run");
    schemata_store::check_migrated(&pool)
        .await
        .expect("fully migrated");
    let ours: i64 = sqlx::query_scalar("SELECT count(*) FROM public._sqlx_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    let queue: i64 = sqlx::query_scalar("SELECT count(*) FROM apalis._sqlx_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    let known = i64::try_from(schemata_store::migrations::MIGRATOR.iter().count()).unwrap();
    assert_eq!(ours, known, "our history holds only our migrations");
    assert!(queue > 10, "the job queue keeps its own history");
}
