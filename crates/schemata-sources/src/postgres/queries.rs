//! The SQL Schemata sends to a PostgreSQL source (12 or newer). Each query
//! covers every object it concerns at once; per-row functions are kept off the
//! hot paths (types are formatted once per distinct type, defaults deparsed
//! without opening their table, index definitions only where they say more
//! than their columns).
//!
//! Free text (comments, defaults, index definitions) is cut at 8,193
//! characters here, so a source cannot make us hold a 1 GB comment; objects
//! cut it to `schemata_core::object::MAX_TEXT` with a mark (see `normalize`).
//!
//! The detail queries take a chunk of relations as an oid array ($1) and its
//! bounds ($2, $3): relations are read in oid order, so each chunk is one range
//! of every catalog's relid index, and reading all chunks costs one pass over
//! each catalog rather than one scan per chunk.

/// The relations a refresh may cache: tables, views, materialized views,
/// partitioned and foreign tables outside the system schemas, narrowed by the
/// connection's filters ($1 schemas, $2 `schema.table` allowlist) and the
/// refresh's own ($3 schemas, $4 tables). Partitions stand behind their parent.
macro_rules! in_scope {
    () => {
        concat!(
            "c.relkind IN ('r', 'v', 'm', 'p', 'f')
  AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
  AND (cardinality($1::text[]) = 0 OR n.nspname = ANY($1))
  AND (cardinality($2::text[]) = 0 OR ",
            schema_id!(),
            " = ANY($2))
  AND ((cardinality($3::text[]) = 0 AND cardinality($4::text[]) = 0)
       OR n.nspname = ANY($3) OR ",
            schema_id!(),
            " = ANY($4))"
        )
    };
}

/// The relation's schema id as `schemata_core::SchemaId` writes it: a part
/// with `.` or `"` in double quotes, `"` doubled.
macro_rules! schema_id {
    () => {
        concat!(
            quoted_part!("n.nspname"),
            " || '.' || ",
            quoted_part!("c.relname")
        )
    };
}

macro_rules! quoted_part {
    ($part:literal) => {
        concat!(
            "(CASE WHEN strpos(",
            $part,
            ", '.') > 0 OR strpos(",
            $part,
            ", '\"') > 0 THEN '\"' || replace(",
            $part,
            ", '\"', '\"\"') || '\"' ELSE ",
            $part,
            "::text END)"
        )
    };
}

/// Every relation in scope, with what costs nothing to read along: its row
/// estimate and how many partitions (or inheriting tables) it has ($5: a cap).
pub(super) const LISTING: &str = concat!(
    "SELECT c.oid, n.nspname::text AS schema_name, c.relname::text AS name, c.relkind::text AS relkind,
       CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::int8 END AS row_estimate,
       coalesce(h.children, 0) AS children
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN (SELECT inhparent, count(*)::int4 AS children FROM pg_inherits GROUP BY inhparent) h
       ON h.inhparent = c.oid
WHERE ",
    in_scope!(),
    "
ORDER BY c.oid
LIMIT $5"
);

/// Which relations of $1 the session may not read: asked only of the relations
/// a refresh reads (the check costs a catalog lookup per relation).
pub(super) const UNREADABLE: &str = "
SELECT r.oid FROM unnest($1::oid[]) AS r(oid) WHERE NOT has_any_column_privilege(r.oid, 'SELECT')";

/// Columns of the relations in $1, as numbers (names of types come from TYPES),
/// one row per relation with an array per attribute: a catalog of 10,000 tables
/// has 200,000 columns, and decoding that many rows cost more than the query.
/// Flags: 1 nullable, 2 identity, 4 generated (see `ColumnsRow`).
pub(super) const COLUMNS: &str = "
SELECT a.attrelid AS relid, array_agg(a.attnum::int4) AS ordinals, array_agg(a.attname::text) AS names,
       array_agg(a.atttypid) AS type_oids, array_agg(a.atttypmod) AS typmods,
       array_agg((NOT a.attnotnull)::int4 + (a.attidentity <> '')::int4 * 2
                 + (a.attgenerated <> '')::int4 * 4) AS flags
FROM pg_attribute a
WHERE a.attrelid BETWEEN $2 AND $3 AND a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped
GROUP BY a.attrelid";

/// One row per distinct (type, typmod) of the columns read: the source's own
/// spelling, the base type behind domains, its category and enum labels.
pub(super) const TYPES: &str = "
WITH RECURSIVE used AS (
    SELECT * FROM unnest($1::oid[], $2::int4[]) AS u(type_oid, typmod)
), base AS (
    SELECT t.oid AS type_oid, t.oid AS base_oid, t.typtype, t.typbasetype, 0 AS depth
    FROM pg_type t WHERE t.oid IN (SELECT type_oid FROM used)
    UNION ALL
    SELECT base.type_oid, t.oid, t.typtype, t.typbasetype, base.depth + 1
    FROM base JOIN pg_type t ON t.oid = base.typbasetype
    WHERE base.typtype = 'd' AND base.depth < 16
)
SELECT u.type_oid, u.typmod, format_type(u.type_oid, u.typmod) AS remote_type,
       bt.typname::text AS base_name, bt.typcategory::text AS category,
       CASE WHEN bt.typtype = 'e' THEN
           ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = bt.oid ORDER BY e.enumsortorder)
       END AS enum_values
FROM used u
JOIN base b ON b.type_oid = u.type_oid AND b.typtype <> 'd'
JOIN pg_type bt ON bt.oid = b.base_oid";

/// Defaults and generation expressions. A default cannot refer to columns, so
/// it is deparsed without opening its table (relid 0); generated columns can,
/// so the relations that have any ($4, known from COLUMNS) are opened.
pub(super) const DEFAULTS: &str = "
SELECT d.adrelid AS relid, d.adnum::int4 AS ordinal,
       left(pg_get_expr(d.adbin, CASE WHEN d.adrelid = ANY($4) THEN d.adrelid ELSE 0 END), 8193) AS expression
FROM pg_attrdef d
WHERE d.adrelid BETWEEN $2 AND $3 AND d.adrelid = ANY($1)";

/// Comments of the relations in $1 (objsubid 0) and of their columns.
pub(super) const COMMENTS: &str = "
SELECT d.objoid AS relid, d.objsubid AS ordinal, left(d.description, 8193) AS comment
FROM pg_description d
WHERE d.classoid = 'pg_class'::regclass AND d.objoid BETWEEN $2 AND $3 AND d.objoid = ANY($1)";

/// Primary keys, unique constraints and foreign keys, with column numbers.
/// Foreign keys PostgreSQL clones for partitions (conparentid <> 0) are skipped.
pub(super) const CONSTRAINTS: &str = "
SELECT con.conrelid AS relid, con.conname::text AS name, con.contype::text AS kind,
       con.conkey::int2[] AS columns, con.confrelid AS target_oid, con.confkey::int2[] AS target_columns,
       fn.nspname::text AS target_schema, fc.relname::text AS target_name,
       con.confupdtype::text AS on_update, con.confdeltype::text AS on_delete
FROM pg_constraint con
LEFT JOIN pg_class fc ON fc.oid = con.confrelid
LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace
WHERE con.conrelid BETWEEN $2 AND $3 AND con.conrelid = ANY($1)
  AND con.contype IN ('p', 'u', 'f') AND con.conparentid = 0";

/// Column names of relations outside the read set that foreign keys point at.
pub(super) const TARGET_COLUMNS: &str = "
SELECT a.attrelid AS relid, a.attnum::int4 AS ordinal, a.attname::text AS name
FROM pg_attribute a
WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped";

/// Indexes with their column numbers (0 for an expression). The definition is
/// deparsed only when the columns do not tell it all: expressions, predicates,
/// INCLUDE columns, sort options or a non-default operator class (the
/// non-default classes are listed once per query, not looked up per index).
pub(super) const INDEXES: &str = "
SELECT i.indrelid AS relid, ic.relname::text AS name, i.indisunique AS is_unique,
       i.indisprimary AS is_primary, ARRAY(SELECT unnest(i.indkey::int2[])) AS columns, am.amname::text AS method,
       CASE WHEN i.indexprs IS NOT NULL OR i.indpred IS NOT NULL OR i.indnkeyatts <> i.indnatts
                 OR 0 <> ANY(i.indoption::int2[])
                 OR i.indclass::oid[] && ARRAY(SELECT opc.oid FROM pg_opclass opc WHERE NOT opc.opcdefault)
            THEN left(pg_get_indexdef(i.indexrelid), 8193) END AS definition
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_am am ON am.oid = ic.relam
WHERE i.indrelid BETWEEN $2 AND $3 AND i.indrelid = ANY($1)";

/// The catalog rows a relation can lose without any other row of it being
/// rewritten: keys, indexes, comments and partitions. A refresh counts them in
/// the rows it reads (CONSTRAINTS, INDEXES, COMMENTS, the listing's children)
/// and keeps the totals, so that a later one notices rows that disappeared (a
/// dropped constraint leaves no newer row behind). One total per relation is
/// enough: a removal alone lowers it, and whatever is added alongside is newer.
macro_rules! removable_rows {
    ($relids:literal) => {
        concat!(
            "SELECT conrelid AS relid FROM pg_constraint
    WHERE conrelid IN ",
            $relids,
            " AND contype IN ('p', 'u', 'f') AND conparentid = 0
UNION ALL SELECT indrelid FROM pg_index WHERE indrelid IN ",
            $relids,
            "
UNION ALL SELECT objoid FROM pg_description
    WHERE classoid = 'pg_class'::regclass AND objoid IN ",
            $relids,
            "
UNION ALL SELECT inhparent FROM pg_inherits WHERE inhparent IN ",
            $relids
        )
    };
}

/// Every row of those catalogs, in scope or not: if none is newer and there
/// are as many as before, none disappeared, and no relation needs recounting.
macro_rules! removable_total {
    () => {
        "((SELECT count(*) FROM pg_constraint) + (SELECT count(*) FROM pg_index)
  + (SELECT count(*) FROM pg_description WHERE classoid = 'pg_class'::regclass)
  + (SELECT count(*) FROM pg_inherits))"
    };
}

/// Whether the session landed in a Schemata database: the `schemata.instance`
/// setting our migrations put on the database itself, looked up where a role
/// cannot override it (`ALTER ROLE … SET schemata.instance = ''` would hide it
/// from `current_setting`), or a non-empty setting however it was made; else
/// `'server'` when another database of this server carries it (the server is
/// Schemata's own, by whatever address it was reached: `pg_db_role_setting`
/// is one catalog for the whole server, readable by every role).
macro_rules! own_database_marker {
    () => {
        "coalesce(
    CASE WHEN EXISTS (
        SELECT 1 FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
        WHERE d.datname = current_database() AND s.setrole = 0
          AND EXISTS (SELECT 1 FROM unnest(s.setconfig) c WHERE c LIKE 'schemata.instance=%'))
    THEN 'database setting' END,
    nullif(current_setting('schemata.instance', true), ''),
    CASE WHEN EXISTS (
        SELECT 1 FROM pg_db_role_setting s
        WHERE s.setrole = 0 AND EXISTS (SELECT 1 FROM unnest(s.setconfig) c WHERE c LIKE 'schemata.instance=%'))
    THEN 'server' END)"
    };
}

/// The health check's one query.
pub(super) const MARKER: &str = concat!("SELECT ", own_database_marker!());

/// Opens a sample's read-only transaction and checks where it landed.
pub(super) const SAMPLE_BEGIN: &str = concat!("BEGIN READ ONLY; SELECT ", own_database_marker!());

/// Opens the snapshot every read of one refresh sees, and in the same round
/// trip reads our own-database marker, which database of which server this is
/// (a catalog state from elsewhere is not reused), whether the role is a
/// superuser (who needs no privilege checks) and the snapshot's oldest running
/// transaction: rows written from that transaction on are "newer" next time.
pub(super) const BEGIN: &str = concat!(
    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
SELECT ",
    own_database_marker!(),
    " AS marker,
       concat_ws('/',
           CASE WHEN has_function_privilege('pg_control_system()', 'EXECUTE')
                THEN (SELECT system_identifier FROM pg_control_system())::text END,
           (SELECT oid FROM pg_database WHERE datname = current_database())::text) AS source,
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser,
       txid_snapshot_xmin(txid_current_snapshot()) AS snapshot_xmin,
       txid_snapshot_xmax(txid_current_snapshot()) AS snapshot_xmax"
);

/// What changed in scope since transaction $5 (an earlier snapshot's xmin):
/// relations with a catalog row written since (inserted or updated), whose
/// removable rows were counted differently ($6 relids, $7 counts, as stored;
/// recounted only when the catalogs' total differs from $9 or they have newer
/// rows), and how many relations the scope holds now.
pub(super) const CHANGES: &str = concat!(
    "WITH since AS (SELECT age(($5 % 4294967296)::text::xid) AS age),
scope AS (
    SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE ",
    in_scope!(),
    "
),
-- Renamed types and enums with new labels; not the row types (and their
-- arrays) every new table brings, or each CREATE TABLE would scan every column.
changed_types AS (
    SELECT t.oid FROM pg_type t
    WHERE age(t.xmin) <= (SELECT age FROM since) AND t.typrelid = 0
      AND NOT EXISTS (SELECT 1 FROM pg_type e WHERE e.oid = t.typelem AND e.typrelid <> 0)
    UNION SELECT e.enumtypid FROM pg_enum e WHERE age(e.xmin) <= (SELECT age FROM since)
),
-- Newer rows of the catalogs whose rows can also disappear (see removable_rows).
newer_removable AS (
    SELECT k.conrelid AS relid FROM pg_constraint k WHERE age(k.xmin) <= (SELECT age FROM since)
    UNION ALL SELECT i.indrelid FROM pg_index i WHERE age(i.xmin) <= (SELECT age FROM since)
    UNION ALL SELECT d.objoid FROM pg_description d
        WHERE d.classoid = 'pg_class'::regclass AND age(d.xmin) <= (SELECT age FROM since)
    UNION ALL SELECT h.inhparent FROM pg_inherits h WHERE age(h.xmin) <= (SELECT age FROM since)
),
-- Nothing newer in them and as many rows as then: nothing disappeared
-- anywhere, and no relation needs recounting.
nothing_removed AS (
    SELECT NOT EXISTS (SELECT 1 FROM newer_removable) AND ",
    removable_total!(),
    " = $9 AS yes
),
newer AS (
    SELECT c.oid AS relid FROM pg_class c WHERE age(c.xmin) <= (SELECT age FROM since)
    UNION SELECT a.attrelid FROM pg_attribute a WHERE age(a.xmin) <= (SELECT age FROM since)
    UNION SELECT d.adrelid FROM pg_attrdef d WHERE age(d.xmin) <= (SELECT age FROM since)
    UNION SELECT relid FROM newer_removable
    UNION SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE age(n.xmin) <= (SELECT age FROM since)
    UNION SELECT a.attrelid FROM pg_attribute a
        WHERE EXISTS (SELECT 1 FROM changed_types) AND a.atttypid IN (SELECT oid FROM changed_types)
),
counted AS (
    SELECT relid, count(*)::int4 AS n FROM (",
    removable_rows!("(SELECT oid FROM scope)"),
    ") r GROUP BY relid
),
stored AS (
    SELECT * FROM unnest($6::oid[], $7::int4[]) AS s(relid, n)
),
recounted AS (
    SELECT coalesce(c.relid, s.relid) AS relid FROM counted c
    FULL JOIN stored s ON s.relid = c.relid
    WHERE NOT (SELECT yes FROM nothing_removed) AND c.n IS DISTINCT FROM s.n
)
SELECT (SELECT count(*) FROM scope)::int8 AS in_scope,
       ARRAY(SELECT relid FROM newer WHERE relid IN (SELECT oid FROM scope)
             UNION SELECT relid FROM recounted) AS changed,
       EXISTS (SELECT 1 FROM pg_auth_members m WHERE age(m.xmin) <= (SELECT age FROM since))
           OR (SELECT count(*) FROM pg_auth_members) <> $8 AS memberships_changed"
);

/// How many role memberships exist (privileges, and so failures, follow them)
/// and how many removable rows the whole catalog holds.
pub(super) const TOTALS: &str = concat!(
    "SELECT (SELECT count(*) FROM pg_auth_members) AS memberships, ",
    removable_total!(),
    " AS removable_total"
);
