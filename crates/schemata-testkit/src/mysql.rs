//! MariaDB (or MySQL) databases for tests, on the server `mariadb_server`
//! finds or starts. Each test creates its own and drops it when it ends.

use crate::mariadb_server::{MysqlLease, lease};
use sqlx::{Connection, MySqlConnection};
use std::{
    io::Write,
    ops::Deref,
    process::{Command, Stdio},
};
use url::Url;

/// A MariaDB database that exists for as long as this value.
pub struct MysqlDatabase {
    name: String,
    url: String,
    server: MysqlLease,
}

impl MysqlDatabase {
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The server's URL, without a database.
    pub fn server_url(&self) -> &str {
        &self.server.server.url
    }

    /// The URL of this database for another account.
    pub fn url_as(&self, user: &str, password: &str) -> String {
        let mut url = Url::parse(&self.url).expect("a valid URL");
        url.set_username(user).expect("a user");
        url.set_password(Some(password)).expect("a password");
        url.to_string()
    }

    /// Runs statements on this database (several, `;`-separated).
    pub async fn execute(&self, sql: &str) {
        let mut conn = MySqlConnection::connect(&self.url)
            .await
            .expect("connect to the MariaDB test database");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("MariaDB refused the test's SQL: {e}"));
        let _ = conn.close().await;
    }
}

impl Deref for MysqlDatabase {
    type Target = str;

    fn deref(&self) -> &str {
        &self.url
    }
}

impl Drop for MysqlDatabase {
    fn drop(&mut self) {
        let server = self.server.server.url.clone();
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to drop the test database");
            runtime.block_on(async {
                if let Ok(mut conn) = MySqlConnection::connect(&server).await {
                    // `name` is ours: schemata_t_ plus lowercase letters, digits and _.
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS `{name}`"
                    )))
                    .execute(&mut conn)
                    .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// An empty, uniquely named MariaDB database.
pub async fn mysql_database(sql: &str) -> MysqlDatabase {
    let name = format!(
        "schemata_t_my_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..16]
    );
    let lease = lease().await;
    let server = lease.server.url.clone();
    let mut conn = MySqlConnection::connect(&server)
        .await
        .unwrap_or_else(|e| panic!("no MariaDB for tests at {server}: {e}"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE `{name}`")))
        .execute(&mut conn)
        .await
        .expect("create the MariaDB test database");
    let _ = conn.close().await;
    let mut url = Url::parse(&server).expect("a valid MariaDB URL");
    url.set_path(&format!("/{name}"));
    let database = MysqlDatabase {
        name,
        url: url.to_string(),
        server: lease,
    };
    if !sql.is_empty() {
        database.execute(sql).await;
    }
    database
}

/// A MariaDB database loaded from a dump written for the `mysql` client (it
/// uses `DELIMITER`), with the dump's own database name replaced by ours.
pub async fn mysql_dump_database(dump: &str, dump_database: &str) -> MysqlDatabase {
    let database = mysql_database("").await;
    let script = dump.replace(dump_database, database.name());
    let url = Url::parse(database.server_url()).expect("a valid MariaDB URL");
    let client = ["mariadb", "mysql"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok())
        .expect("the mariadb (or mysql) client, to load a dump");
    let mut child = Command::new(client)
        .arg(format!("--host={}", url.host_str().unwrap_or("127.0.0.1")))
        .arg(format!("--port={}", url.port().unwrap_or(3306)))
        .arg(format!("--user={}", url.username()))
        .args(url.password().map(|p| format!("--password={p}")))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the mariadb client");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("send the dump");
    let output = child.wait_with_output().expect("the mariadb client ran");
    assert!(
        output.status.success(),
        "loading the dump failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    database
}
