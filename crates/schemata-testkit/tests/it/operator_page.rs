//! The operator page at `/ui`, in a real headless Chromium: paste a key, see
//! the connections and the queue, refresh one with live progress until it is
//! fresh, and read its history with the breaking change highlighted.
//! Screenshots land in `target/ui/`.

use schemata_testkit::{TestApp, browser::Browser, load, source_database};
use serde_json::Value;
use std::path::PathBuf;

fn screenshot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/ui")
        .join(name)
}

#[tokio::test]
async fn an_operator_refreshes_a_connection_and_reads_its_breaking_change() {
    let app = TestApp::spawn().await;
    let shop = source_database(
        "CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL, loyalty_tier text);
         CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers, total numeric(10,2));
         CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100;",
    )
    .await;
    let warehouse = source_database("CREATE TABLE events (id bigint PRIMARY KEY);").await;
    let shop_id = app.create_connection("demo-shop", &shop).await;
    let warehouse_id = app.create_connection("warehouse", &warehouse).await;

    // A cache to start from, then a breaking change at the source.
    let worker = app.spawn_worker();
    assert_eq!(app.request_refresh(&shop_id).await.status(), 202);
    assert_eq!(
        app.wait_for_refresh(&shop_id).await["cache_status"],
        "fresh"
    );
    worker.stop().await;
    load(
        &shop,
        "ALTER TABLE customers DROP COLUMN loyalty_tier; ALTER TABLE orders ADD COLUMN note text;",
    )
    .await;
    // Queued with no worker running: the queue shows it.
    assert_eq!(app.request_refresh(&warehouse_id).await.status(), 202);

    let browser = Browser::start().await;
    browser.goto(&app.url("/ui")).await;
    assert!(browser.text("#signed-out").await.contains("API key"));
    browser.type_into("#api-key", &app.api_key).await;
    browser.click("#key-form button[type=submit]").await;
    browser
        .wait_for(r#"tr[data-connection="demo-shop"][data-cache-status="fresh"]"#)
        .await;
    browser
        .wait_for(r#"tr[data-connection="warehouse"][data-cache-status="refreshing"]"#)
        .await;
    browser.wait_for("#queue tbody tr").await;
    let queue = browser.text("#queue tbody").await;
    assert!(
        queue.contains("warehouse") && queue.contains("queued"),
        "{queue}"
    );
    assert!(browser.text("#queue-counts").await.contains("1 queued"));
    let stored: Value = browser
        .execute("return sessionStorage.getItem('schemata.apiKey');")
        .await;
    assert_eq!(
        stored,
        Value::String(app.api_key.clone()),
        "the key lives in session storage"
    );
    browser
        .screenshot(&screenshot_path("operator-queue.png"))
        .await;

    // Refresh from the page: the progress view shows while the run is followed.
    browser
        .execute(
            "window.sawProgress = false;
             new MutationObserver(() => { if (document.querySelector('.progress')) window.sawProgress = true; })
               .observe(document.body, {childList: true, subtree: true});
             return true;",
        )
        .await;
    let worker = app.spawn_worker();
    browser
        .click(r#"button[aria-label="Refresh demo-shop"]"#)
        .await;
    browser
        .wait_for(r#"tr[data-connection="warehouse"][data-cache-status="fresh"]"#)
        .await;
    browser
        .wait_for(r#"tr[data-connection="demo-shop"][data-cache-status="fresh"] .result"#)
        .await;
    assert_eq!(
        browser.execute("return window.sawProgress;").await,
        Value::Bool(true)
    );
    let row = browser.text(r#"tr[data-connection="demo-shop"]"#).await;
    assert!(row.contains("Refresh complete"), "{row}");

    // History: the newest run is breaking, and says why.
    browser
        .click(r#"button[aria-label="History of demo-shop"]"#)
        .await;
    browser.wait_for("#runs li.run.breaking").await;
    let newest = browser.text("#runs li.run:first-child").await;
    assert!(newest.to_lowercase().contains("breaking"), "{newest}");
    assert!(newest.contains("loyalty_tier"), "{newest}");
    assert!(newest.contains("+note"), "{newest}");
    let runs = browser
        .execute("return document.querySelectorAll('#runs li.run').length;")
        .await;
    assert_eq!(runs, Value::from(2));
    browser.wait_for("#queue-empty:not([hidden])").await;
    browser.execute("window.scrollTo(0, 0); return true;").await;
    browser
        .screenshot(&screenshot_path("operator-page.png"))
        .await;

    // A bad key signs the page out with the API's message.
    browser
        .execute("sessionStorage.clear(); location.reload(); return true;")
        .await;
    browser.wait_for("#api-key").await;
    browser.type_into("#api-key", "sk_schemata_not_a_key").await;
    browser.click("#key-form button[type=submit]").await;
    browser.wait_for("#notice:not([hidden])").await;
    assert!(browser.text("#notice").await.contains("not accepted"));
    browser.close().await;
    worker.stop().await;
}
