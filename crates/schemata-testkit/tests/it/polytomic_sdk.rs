//! Wire compatibility with Polytomic: a running instance driven through every
//! schema call of Polytomic's published Python SDK (tests/sdk/polytomic_sdk.py).
//! The SDK lives in a virtualenv under target/, made here from PyPI when
//! missing (`.ci/run` makes it beforehand); nothing of it enters the Rust build.

use schemata_testkit::{TestApp, source_database};
use std::{path::PathBuf, process::Command};

/// The SDK release the script was written against.
const SDK: &str = "polytomic==25.9.10";

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The virtualenv's python, with the SDK installed.
fn sdk_python() -> PathBuf {
    let venv = std::env::var_os("SCHEMATA_SDK_VENV")
        .map_or_else(|| workspace().join("target/polytomic-sdk"), PathBuf::from);
    let python = venv.join("bin/python");
    let installed = python.exists()
        && Command::new(&python)
            .args(["-c", "import polytomic"])
            .status()
            .is_ok_and(|s| s.success());
    if !installed {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 is needed for the SDK test");
        assert!(made.success(), "python3 -m venv failed");
        let pip = Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", SDK])
            .status()
            .expect("pip");
        assert!(pip.success(), "pip install {SDK} failed");
    }
    python
}

#[tokio::test]
async fn polytomics_python_sdk_works_against_schemata_by_changing_the_base_url() {
    let app = TestApp::spawn().await;
    let source = source_database(
        "CREATE TABLE address (address_id int PRIMARY KEY, address text NOT NULL);
         CREATE TABLE customer (
             customer_id int PRIMARY KEY, first_name text NOT NULL, email text,
             address_id int REFERENCES address (address_id));
         INSERT INTO address VALUES (1, '47 MySakila Drive');
         INSERT INTO customer VALUES (1, 'MARY', 'mary@example.com', 1), (2, 'PATRICIA', NULL, 1);",
    )
    .await;
    let id = app.create_connection("pagila", &source).await;
    let worker = app.spawn_worker();
    let python = sdk_python();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/polytomic_sdk.py");
    // The script blocks on HTTP: off the runtime's threads.
    let (url, key) = (app.address.clone(), app.api_key.clone());
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .env("SCHEMATA_URL", url)
            .env("SCHEMATA_KEY", key)
            .env("CONNECTION_ID", id)
            .output()
            .expect("run the SDK script")
    })
    .await
    .unwrap();
    worker.stop().await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("polytomic sdk: every call passed"));
}
