//! PostgreSQL: every kind of relation and type, and incremental refreshes that
//! see every kind of DDL (the cache after each equals a read from scratch).

use schemata_core::SchemaObject;
use schemata_testkit::{TestApp, TestWorker, load, source_database};
use serde_json::{Value, json};

async fn refreshed(app: &TestApp, id: &str) -> Value {
    let response = app.request_refresh(id).await;
    assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
    let status = app.wait_for_refresh(id).await;
    assert_eq!(status["cache_status"], "fresh", "{status}");
    status
}

fn field<'a>(object: &'a Value, name: &str) -> &'a Value {
    object["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no field {name} in {object}"))
}

#[tokio::test]
async fn every_kind_of_relation_and_type_lands_somewhere_sensible() {
    let app = TestApp::spawn().await;
    let source = source_database(
        "CREATE EXTENSION IF NOT EXISTS hstore;
         CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
         CREATE DOMAIN positive AS int CHECK (VALUE > 0);
         CREATE DOMAIN small_positive AS positive CHECK (VALUE < 100);
         CREATE TABLE people (
             id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
             tenant int NOT NULL,
             name varchar(64) NOT NULL DEFAULT 'anon',
             feeling mood,
             age small_positive,
             attrs hstore,
             span int4range,
             initials text GENERATED ALWAYS AS (left(name, 1)) STORED,
             UNIQUE (tenant, name));
         COMMENT ON TABLE people IS 'Who is who';
         COMMENT ON COLUMN people.name IS 'As they like to be called';
         CREATE TABLE visits (
             tenant int, person_name varchar(64), at timestamptz,
             FOREIGN KEY (tenant, person_name) REFERENCES people (tenant, name) ON DELETE CASCADE);
         CREATE INDEX visits_recent ON visits (at DESC) WHERE at > '2020-01-01';
         CREATE INDEX visits_lower ON visits (lower(person_name));
         CREATE TABLE events (id bigserial, at date NOT NULL) PARTITION BY RANGE (at);
         CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
         CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
         CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
         CREATE MATERIALIZED VIEW busy AS SELECT tenant, count(*) FROM visits GROUP BY tenant;
         CREATE FOREIGN DATA WRAPPER nothing;
         CREATE SERVER nowhere FOREIGN DATA WRAPPER nothing;
         CREATE FOREIGN TABLE remote (a int, b text) SERVER nowhere;",
    )
    .await;
    let id = app.create_connection("kinds", &source).await;
    let worker = app.spawn_worker();
    refreshed(&app, &id).await;
    worker.stop().await;
    let kinds: Vec<(String, String)> = app
        .all_objects(&id)
        .await
        .iter()
        .map(|o| {
            (
                o["id"].as_str().unwrap().to_owned(),
                o["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("public.busy", "materialized_view"),
            ("public.events", "partitioned_table"),
            ("public.people", "table"),
            ("public.remote", "foreign_table"),
            ("public.visits", "table"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned())),
        "partitions stand behind their parent"
    );
    let get = async |name: &str| -> Value {
        app.get(&format!("/api/connections/{id}/schemas/public.{name}"))
            .await
            .json::<Value>()
            .await
            .unwrap()["data"]
            .clone()
    };
    assert_eq!(get("events").await["partition_count"], 3);
    let people = get("people").await;
    assert_eq!(people["comment"], "Who is who");
    assert_eq!(
        field(&people, "name")["comment"],
        "As they like to be called"
    );
    assert_eq!(
        field(&people, "name")["remote_type"],
        "character varying(64)"
    );
    assert_eq!(
        field(&people, "name")["default"],
        "'anon'::character varying"
    );
    assert_eq!(field(&people, "id")["is_auto_increment"], true);
    assert_eq!(field(&people, "feeling")["type"], "string");
    assert_eq!(
        field(&people, "feeling")["enum_values"],
        json!(["sad", "ok", "happy"])
    );
    assert_eq!(
        field(&people, "age")["type"],
        "integer",
        "a domain over a domain"
    );
    assert_eq!(field(&people, "age")["remote_type"], "small_positive");
    assert_eq!(
        field(&people, "attrs")["type"],
        "json",
        "hstore, an extension type"
    );
    assert_eq!(
        field(&people, "span")["type"],
        "unknown",
        "a range is not a failure"
    );
    assert_eq!(field(&people, "initials")["is_generated"], true);
    assert_eq!(
        field(&people, "initials")["generation_expression"],
        "\"left\"((name)::text, 1)"
    );
    assert_eq!(
        people["unique_constraints"][0]["columns"],
        json!(["tenant", "name"])
    );
    let visits = get("visits").await;
    assert_eq!(
        visits["foreign_keys"][0],
        json!({"name": "visits_tenant_person_name_fkey", "columns": ["tenant", "person_name"],
               "references": {"schema_id": "public.people", "fields": ["tenant", "name"]},
               "on_delete": "CASCADE"})
    );
    assert_eq!(
        field(&visits, "person_name")["association"],
        json!({"schema_id": "public.people", "field": "name",
               "reference_to": ["public.people"], "referenced_field": "name"})
    );
    let indexes = visits["indexes"].as_array().unwrap();
    let definition =
        |name: &str| indexes.iter().find(|i| i["name"] == name).unwrap()["definition"].clone();
    assert_eq!(
        definition("visits_recent"),
        "CREATE INDEX visits_recent ON public.visits USING btree (at DESC) WHERE (at > '2020-01-01 00:00:00+00'::timestamp with time zone)"
    );
    assert_eq!(
        definition("visits_lower"),
        "CREATE INDEX visits_lower ON public.visits USING btree (lower((person_name)::text))"
    );
    assert_eq!(field(&get("remote").await, "b")["type"], "string");
}

/// After a first refresh, one statement at a time: the next refresh must see
/// it (reading only what it touched) and leave the cache equal to a read from
/// scratch.
#[tokio::test]
async fn every_kind_of_ddl_is_seen_by_an_incremental_refresh() {
    let app = TestApp::spawn().await;
    let mut setup = String::from(
        "CREATE TYPE color AS ENUM ('red', 'green');
         CREATE TABLE owners (id int PRIMARY KEY, name text, UNIQUE (name));
         CREATE TABLE pets (id int PRIMARY KEY, owner int REFERENCES owners, kind color, born date);
         CREATE TABLE logs (at timestamptz, line text) PARTITION BY RANGE (at);
         CREATE TABLE logs_2025 PARTITION OF logs FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
         CREATE TABLE spare (at timestamptz, line text);
         CREATE SCHEMA side;",
    );
    for n in 0..20 {
        setup.push_str(&format!(
            "CREATE TABLE filler_{n} (id int PRIMARY KEY, v text);"
        ));
    }
    let source = source_database(&setup).await;
    let id = app.create_connection("ddl", &source).await;
    let worker: TestWorker = app.spawn_worker();
    let first = refreshed(&app, &id).await;
    assert_eq!(first["last_result"]["objects_read"], 24);

    // Statistics are not structure: nothing is read, nothing written.
    load(&source, "ANALYZE").await;
    let unchanged = refreshed(&app, &id).await;
    assert_eq!(unchanged["last_result"]["objects_read"], 0, "{unchanged}");
    assert_eq!(unchanged["last_result"]["changed"], false);
    assert_eq!(unchanged["schema_version"], first["schema_version"]);

    let statements = [
        "CREATE TABLE added (id int)",
        "DROP TABLE added",
        "ALTER TABLE pets ADD COLUMN name text",
        "ALTER TABLE pets DROP COLUMN name",
        "ALTER TABLE pets RENAME COLUMN born TO birthday",
        "ALTER TABLE spare RENAME TO spare_logs",
        "ALTER TABLE pets ALTER COLUMN birthday TYPE timestamptz",
        "ALTER TABLE pets ALTER COLUMN birthday SET NOT NULL",
        "ALTER TABLE pets ALTER COLUMN birthday DROP NOT NULL",
        "ALTER TABLE owners ALTER COLUMN name SET DEFAULT 'nobody'",
        "ALTER TABLE owners ALTER COLUMN name DROP DEFAULT",
        "COMMENT ON TABLE owners IS 'first'",
        "COMMENT ON TABLE owners IS 'second'",
        "COMMENT ON TABLE owners IS NULL",
        "COMMENT ON COLUMN pets.kind IS 'what it is'",
        "ALTER TABLE filler_3 DROP CONSTRAINT filler_3_pkey",
        "ALTER TABLE filler_3 ADD PRIMARY KEY (id, v)",
        "ALTER TABLE owners DROP CONSTRAINT owners_name_key",
        "ALTER TABLE owners ADD CONSTRAINT owners_name_key UNIQUE (name)",
        "ALTER TABLE pets DROP CONSTRAINT pets_owner_fkey",
        "ALTER TABLE pets ADD FOREIGN KEY (owner) REFERENCES owners ON DELETE CASCADE",
        "CREATE INDEX pets_kind ON pets (kind)",
        "DROP INDEX pets_kind",
        // A removal masked by an addition elsewhere: the catalogs' totals stay
        // the same, so only the per-relation counts can tell.
        "COMMENT ON COLUMN pets.kind IS NULL; CREATE INDEX filler_1_v ON filler_1 (v)",
        "DROP INDEX filler_1_v; COMMENT ON TABLE filler_2 IS 'masks a drop'",
        "CREATE VIEW pet_names AS SELECT id, kind FROM pets",
        "CREATE MATERIALIZED VIEW pet_count AS SELECT count(*) FROM pets",
        "DROP VIEW pet_names",
        "ALTER TABLE logs ATTACH PARTITION spare_logs FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')",
        "ALTER TABLE logs DETACH PARTITION spare_logs",
        "ALTER TABLE filler_7 SET SCHEMA side",
        "ALTER SCHEMA side RENAME TO annex",
        "ALTER TYPE color ADD VALUE 'blue'",
        "ALTER TYPE color RENAME TO colour",
        "ALTER TABLE owners RENAME COLUMN id TO owner_id",
        "DROP TABLE owners CASCADE",
    ];
    for statement in statements {
        load(&source, statement).await;
        let status = refreshed(&app, &id).await;
        let result = &status["last_result"];
        assert!(
            result["changed"] == true,
            "`{statement}` went unseen: {result}"
        );
        assert!(
            result["objects_read"].as_u64().unwrap() <= 6,
            "`{statement}` read {} objects: more than what it touched",
            result["objects_read"]
        );
        let cached = without_estimates(app.cached_objects(&id).await);
        let scratch = without_estimates(app.full_read(source.url()).await);
        assert_eq!(
            cached, scratch,
            "after `{statement}` the cache differs from a full read"
        );
    }
    worker.stop().await;
}

fn without_estimates(mut objects: Vec<SchemaObject>) -> Vec<SchemaObject> {
    for object in &mut objects {
        object.row_estimate = None;
    }
    objects
}

#[tokio::test]
async fn a_table_the_role_cannot_read_is_a_failure_and_the_rest_is_cached() {
    let app = TestApp::spawn().await;
    let source = source_database(
        "CREATE TABLE customers (id int PRIMARY KEY);
         CREATE TABLE orders (id int PRIMARY KEY, customer int REFERENCES customers);
         CREATE TABLE invoices (id int PRIMARY KEY);
         CREATE TABLE shipments (id int PRIMARY KEY);",
    )
    .await;
    let role = format!("reader_{}", &source.name()[source.name().len() - 10..]);
    load(
        &source,
        &format!(
            "CREATE ROLE {role} LOGIN; GRANT SELECT ON customers, orders, invoices, shipments TO {role};"
        ),
    )
    .await;
    let url = source
        .url()
        .replacen("postgres://postgres@", &format!("postgres://{role}@"), 1);
    let id = app.create_connection("reader", &url).await;
    let worker = app.spawn_worker();
    let first = refreshed(&app, &id).await;
    assert_eq!(first["last_result"]["table_count"], 4);

    load(&source, &format!("REVOKE SELECT ON invoices FROM {role}")).await;
    let status = refreshed(&app, &id).await;
    let result = &status["last_result"];
    assert_eq!(result["ok"], false);
    assert_eq!(
        result["message"],
        "Refresh complete. 3 table(s) refreshed, 1 failed: public.invoices (permission denied)."
    );
    assert_eq!(
        result["failures"],
        json!([{"object": "public.invoices", "error": "permission denied"}])
    );
    let run: String =
        sqlx::query_scalar("SELECT status FROM refresh_runs ORDER BY queued_at DESC LIMIT 1")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(run, "partial");
    assert_eq!(
        app.all_objects(&id).await.len(),
        4,
        "the failed table keeps its cached version"
    );

    load(&source, &format!("GRANT SELECT ON invoices TO {role}")).await;
    let healed = refreshed(&app, &id).await;
    assert_eq!(healed["last_result"]["ok"], true, "{healed}");
    worker.stop().await;
    load(&source, &format!("DROP OWNED BY {role}; DROP ROLE {role}")).await;
}

/// A connection pointed at another database is read from scratch: what the
/// last refresh learned of the old one's catalog must not decide what is read.
#[tokio::test]
async fn a_connection_pointed_at_another_database_is_read_afresh() {
    let app = TestApp::spawn().await;
    let before = source_database("CREATE TABLE only_before (id int PRIMARY KEY);").await;
    let after = source_database("CREATE TABLE only_after (id int PRIMARY KEY);").await;
    let id = app.create_connection("moving", &before).await;
    let worker: TestWorker = app.spawn_worker();
    refreshed(&app, &id).await;
    let patched = app
        .patch(
            &format!("/api/connections/{id}"),
            &json!({"configuration": {"url": after.url()}}),
        )
        .await;
    assert_eq!(patched.status(), 200);
    let status = refreshed(&app, &id).await;
    assert_eq!(status["cache_status"], "fresh", "{status}");
    let cached: Vec<String> = app
        .cached_objects(&id)
        .await
        .iter()
        .map(|o| o.id().to_string())
        .collect();
    assert_eq!(cached, ["public.only_after"]);
    worker.stop().await;
}
