//! Large catalogs to benchmark against: N tables of 20 columns (a primary key,
//! a foreign key on every fourth table) and a view on every tenth.

use anyhow::Context;
use sqlx::{Connection, MySqlConnection, PgConnection};

/// Columns of every table but the key and the foreign key.
const COLUMNS: &str = "c1 integer, c2 text, c3 varchar(64) NOT NULL DEFAULT 'x', c4 numeric(12,2), \
    c5 timestamptz DEFAULT now(), c6 boolean, c7 jsonb, c8 uuid, c9 date, c10 bytea, c11 int8, \
    c12 float8, c13 text[], c14 smallint, c15 time, c16 interval, c17 inet, c18 real";

/// Creates the catalog in the PostgreSQL database at `url`, committing every
/// hundred tables (one transaction would need a lock per table).
pub async fn postgres(url: &str, tables: usize) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(url)
        .await
        .context("connect to the bench source")?;
    sqlx::raw_sql("SET synchronous_commit = off")
        .execute(&mut conn)
        .await?;
    let generate = format!(
        "DO $$
         DECLARE i int; cols text;
         BEGIN
           FOR i IN 1..{tables} LOOP
             cols := 'id bigserial PRIMARY KEY, {columns}';
             IF i % 4 = 0 THEN
               cols := cols || ', parent_id bigint REFERENCES t_' || (i - 1) || ' (id)';
             ELSE
               cols := cols || ', c19 text';
             END IF;
             EXECUTE 'CREATE TABLE t_' || i || ' (' || cols || ')';
             IF i % 10 = 0 THEN
               EXECUTE 'CREATE VIEW v_' || i || ' AS SELECT id, c1, c2 FROM t_' || i;
             END IF;
             IF i % 100 = 0 THEN COMMIT; END IF;
           END LOOP;
         END $$",
        columns = COLUMNS.replace('\'', "''")
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(generate))
        .execute(&mut conn)
        .await
        .context("generate the PostgreSQL catalog")?;
    sqlx::raw_sql("ANALYZE").execute(&mut conn).await?;
    conn.close().await.ok();
    Ok(())
}

/// The same shape in MariaDB, a hundred statements per round trip.
pub async fn mariadb(url: &str, tables: usize) -> anyhow::Result<()> {
    let mut conn = MySqlConnection::connect(url)
        .await
        .context("connect to MariaDB")?;
    let columns = "c1 int, c2 text, c3 varchar(64) NOT NULL DEFAULT 'x', c4 decimal(12,2), \
        c5 timestamp NULL DEFAULT current_timestamp, c6 tinyint(1), c7 json, c8 char(36), c9 date, \
        c10 blob, c11 bigint, c12 double, c13 text, c14 smallint, c15 time, c16 varchar(32), \
        c17 varchar(45), c18 float";
    let mut batch = String::new();
    for i in 1..=tables {
        let last = if i % 4 == 0 {
            format!(
                "parent_id bigint unsigned, FOREIGN KEY (parent_id) REFERENCES t_{} (id)",
                i - 1
            )
        } else {
            "c19 text".into()
        };
        batch.push_str(&format!(
            "CREATE TABLE t_{i} (id bigint unsigned AUTO_INCREMENT PRIMARY KEY, {columns}, {last}) ENGINE=InnoDB;"
        ));
        if i % 10 == 0 {
            batch.push_str(&format!(
                "CREATE VIEW v_{i} AS SELECT id, c1, c2 FROM t_{i};"
            ));
        }
        if i % 100 == 0 || i == tables {
            sqlx::raw_sql(sqlx::AssertSqlSafe(std::mem::take(&mut batch)))
                .execute(&mut conn)
                .await
                .context("generate the MariaDB catalog")?;
        }
    }
    conn.close().await.ok();
    Ok(())
}
